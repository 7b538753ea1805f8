using System;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Runtime.Checkpoints;

namespace GraphCompiler.Tests.Checkpoints
{
    public class SafetensorsFileTests
    {
        private const string F32Pair = "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":";

        /// <summary>Opens the bytes as a file and returns the rejection, after checking it names the file and each fragment.</summary>
        private static string Rejected(byte[] bytes, params string[] fragments)
        {
            using var dir = new TempFolder();
            string path = dir.Write("broken.safetensors", bytes);
            var e = Assert.Throws<CheckpointException>(() => SafetensorsFile.Open(path).Dispose());
            Assert.StartsWith(path + ": ", e.Message);
            foreach (var f in fragments) Assert.Contains(f, e.Message);
            return e.Message;
        }

        [Fact]
        public void Round_trip_reads_back_every_byte_through_the_mapping()
        {
            var random = new Random(7);
            byte[] Bytes(int n)
            {
                var b = new byte[n];
                random.NextBytes(b);
                return b;
            }
            var half = Bytes(12);
            var scalar = Bytes(4);
            var ints = Bytes(16);
            var doubles = Bytes(16);
            var fp8 = Bytes(3);
            using var dir = new TempFolder();
            string path = new SafetensorsWriter()
                .Metadata("format", "pt")
                .Add("model.embed_tokens.weight", "F16", new long[] { 2, 3 }, half)
                .Add("scale", "F32", Array.Empty<long>(), scalar)
                .Add("ids", "I32", new long[] { 4 }, ints)
                .Add("empty", "BF16", new long[] { 0, 4 })
                .Add("doubles", "F64", new long[] { 2 }, doubles)
                .Add("fp8", "F8_E4M3", new long[] { 3, 1 }, fp8)
                .Write(dir.File("model.safetensors"));

            using var file = SafetensorsFile.Open(path);
            Assert.Equal("pt", file.Metadata["format"]);
            Assert.Equal(0, file.DataOffset % 8);   // the writer pads the header as the reference does
            Assert.Equal(new[] { "model.embed_tokens.weight", "scale", "ids", "empty", "doubles", "fp8" }, file.Tensors.Select(t => t.Name));
            Assert.True(file.TryGet("model.embed_tokens.weight", out var embed));
            Assert.Equal(DType.F16, embed.DType);
            Assert.Equal("[2, 3]", embed.ShapeText);
            Assert.Equal(half, embed.Span.ToArray());
            Assert.Equal(half, embed.Memory.ToArray());
            Assert.Equal(half.AsSpan(4, 6).ToArray(), embed.Slice(4, 6).ToArray());
            Assert.Throws<ArgumentOutOfRangeException>(() => embed.Slice(8, 6).Length);
            Assert.True(file.TryGet("scale", out var s));
            Assert.Empty(s.Shape);
            Assert.Equal(scalar, s.Span.ToArray());
            Assert.True(file.TryGet("ids", out var i));
            Assert.Equal(ints, i.Span.ToArray());
            Assert.True(file.TryGet("empty", out var e));
            Assert.Equal(0, e.ByteLength);
            Assert.True(file.TryGet("doubles", out var d));
            Assert.Null(d.DType);   // readable, but no compiler dtype
            Assert.Equal(doubles, d.Span.ToArray());
            Assert.True(file.TryGet("fp8", out var f));
            Assert.Equal(DType.F8E4M3, f.DType);
            Assert.Equal(fp8, f.Memory.Span.ToArray());
            Assert.False(file.TryGet("absent", out _));

            file.Dispose();
            Assert.Throws<ObjectDisposedException>(() => embed.Span.Length);
        }

        [Fact]
        public void Empty_file()
        {
            Rejected(Array.Empty<byte>(), "empty (0 bytes)", "8-byte header length");
        }

        [Fact]
        public void File_shorter_than_the_length_prefix()
        {
            Rejected(new byte[5], "5 bytes", "shorter than the 8-byte header length");
        }

        [Fact]
        public void Header_length_over_the_format_limit()
        {
            Rejected(SafetensorsWriter.Raw("{}", 0, headerLength: 200_000_000), "200000000", "limit of 100000000");
        }

        [Fact]
        public void Header_length_beyond_the_file()
        {
            Rejected(SafetensorsWriter.Raw("{}", 0, headerLength: 1000), "header length (first 8 bytes) is 1000 bytes", "only 2 bytes follow", "the file is 10 bytes");
        }

        [Fact]
        public void Header_length_of_2_to_the_64_minus_1()
        {
            Rejected(SafetensorsWriter.Raw("{}", 0, headerLength: ulong.MaxValue), ulong.MaxValue.ToString(), "limit");
        }

        [Fact]
        public void Truncated_header()
        {
            string header = "{\"a\":" + F32Pair + "[0,8]}}";
            var whole = SafetensorsWriter.Raw(header, 8);
            Rejected(whole.Take(8 + 20).ToArray(), $"header length (first 8 bytes) is {header.Length} bytes", "only 20 bytes follow");
        }

        [Fact]
        public void Invalid_json()
        {
            string message = Rejected(SafetensorsWriter.Raw("{\"a\": nope}", 0), "11-byte header is not valid JSON at line 1, byte 8", "invalid JSON literal");
            Assert.DoesNotContain("reader options", message);
        }

        [Fact]
        public void Header_that_is_not_an_object()
        {
            Rejected(SafetensorsWriter.Raw("[1, 2]", 0), "not a JSON object");
        }

        [Fact]
        public void Content_after_the_header_object()
        {
            Rejected(SafetensorsWriter.Raw("{} {}", 0), "not valid JSON");
        }

        [Fact]
        public void Header_that_is_not_utf8()
        {
            var bytes = SafetensorsWriter.Raw("{\"a\":1}", 0);
            bytes[10] = 0xFF;
            Rejected(bytes, "not valid UTF-8");
        }

        [Fact]
        public void Unknown_dtype()
        {
            Rejected(SafetensorsWriter.Raw("{\"w\":{\"dtype\":\"Q4_K\",\"shape\":[2],\"data_offsets\":[0,1]}}", 1), "tensor 'w'", "dtype 'Q4_K'", "F16");
        }

        [Fact]
        public void Shape_times_dtype_size_differs_from_the_offsets()
        {
            Rejected(SafetensorsWriter.Raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20),
                "tensor 'w'", "F32 [2, 3]: 6 elements × 4 bytes = 24 bytes", "[0, 20] hold 20 bytes");
        }

        [Fact]
        public void Shape_whose_element_count_overflows()
        {
            Rejected(SafetensorsWriter.Raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,0]}}", 0),
                "tensor 'w'", "[4294967296, 4294967296, 4]", "64 bits");
        }

        [Fact]
        public void Offsets_outside_the_data_area()
        {
            Rejected(SafetensorsWriter.Raw("{\"w\":" + F32Pair + "[8,16]}}", 8), "tensor 'w'", "[8, 16]", "data area is 8 bytes");
        }

        [Fact]
        public void Offsets_that_run_backwards()
        {
            Rejected(SafetensorsWriter.Raw("{\"w\":" + F32Pair + "[8,0]}}", 8), "tensor 'w'", "[8, 0]", "ending before it begins");
        }

        [Fact]
        public void Overlapping_tensors()
        {
            Rejected(SafetensorsWriter.Raw("{\"a\":" + F32Pair + "[0,8]},\"b\":" + F32Pair + "[4,12]}}", 12),
                "'a' [0, 8]", "'b' [4, 12]", "overlap by 4 bytes");
        }

        [Fact]
        public void Gap_between_tensors()
        {
            Rejected(SafetensorsWriter.Raw("{\"a\":" + F32Pair + "[0,8]},\"b\":" + F32Pair + "[12,20]}}", 20),
                "the 4 bytes between tensor 'a' [0, 8] and 'b' [12, 20]", "belong to no tensor");
        }

        [Fact]
        public void Gap_before_the_first_tensor()
        {
            Rejected(SafetensorsWriter.Raw("{\"a\":" + F32Pair + "[4,12]}}", 12), "the first 4 bytes of the data area, before tensor 'a' [4, 12]");
        }

        [Fact]
        public void Bytes_after_the_last_tensor()
        {
            Rejected(SafetensorsWriter.Raw("{\"a\":" + F32Pair + "[0,8]}}", 12), "data area is 12 bytes", "end at byte 8", "'a'", "last 4 bytes");
        }

        [Fact]
        public void Duplicate_tensor_name()
        {
            string header = "{\"a\":" + F32Pair + "[0,8]},\"a\":" + F32Pair + "[8,16]}}";
            Rejected(SafetensorsWriter.Raw(header, 16), "'a' appears twice", $"header byte {header.LastIndexOf("\"a\"", StringComparison.Ordinal)}");
        }

        [Fact]
        public void Negative_dimension()
        {
            Rejected(SafetensorsWriter.Raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1,2],\"data_offsets\":[0,8]}}", 8), "tensor 'w'", "shape[0] = -1", "integers from 0");
        }

        [Fact]
        public void Fractional_dimension()
        {
            Rejected(SafetensorsWriter.Raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,1.5],\"data_offsets\":[0,12]}}", 12), "tensor 'w'", "shape[1] = 1.5");
        }

        [Fact]
        public void Missing_data_offsets()
        {
            Rejected(SafetensorsWriter.Raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8), "tensor 'w'", "no 'data_offsets'");
        }

        [Fact]
        public void Metadata_values_must_be_strings()
        {
            Rejected(SafetensorsWriter.Raw("{\"__metadata__\":{\"total\":3}}", 0), "'__metadata__' entry 'total' is a number");
        }
    }
}
