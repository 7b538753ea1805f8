using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using GraphCompiler.Common;
using GraphCompiler.Planning;

namespace GraphCompiler.Tests.Checkpoints
{
    /// <summary>
    /// Writes safetensors files for tests: valid ones from tensors (laid out as the reference writer does: data in
    /// order, header padded with spaces to 8 bytes), and arbitrary header text over arbitrary data for broken ones.
    /// </summary>
    internal sealed class SafetensorsWriter
    {
        private static readonly Dictionary<string, int> Sizes = new()
        {
            ["BOOL"] = 1, ["U8"] = 1, ["I8"] = 1, ["F8_E4M3"] = 1, ["F8_E5M2"] = 1, ["I16"] = 2, ["F16"] = 2, ["BF16"] = 2,
            ["I32"] = 4, ["F32"] = 4, ["I64"] = 8, ["F64"] = 8,
        };

        private readonly List<(string Name, string DType, long[] Shape, byte[]? Data, long Bytes)> _tensors = new();
        private readonly Dictionary<string, string> _metadata = new();

        /// <summary>A tensor; without <paramref name="data"/> its bytes are zeros (holes in the file, so large ones cost nothing).</summary>
        public SafetensorsWriter Add(string name, string dtype, long[] shape, byte[]? data = null)
        {
            long bytes = shape.Aggregate(1L, (a, d) => a * d) * Sizes[dtype];
            if (data != null && data.Length != bytes) throw new ArgumentException($"{name}: {data.Length} bytes of data for {bytes}");
            _tensors.Add((name, dtype, shape, data, bytes));
            return this;
        }

        public SafetensorsWriter Add(WeightTensor w) => Add(w.Name, w.DType.SafetensorsName(), w.Shape.Select(d => (long)d).ToArray());

        public SafetensorsWriter AddAll(IEnumerable<WeightTensor> tensors)
        {
            foreach (var w in tensors) Add(w);
            return this;
        }

        public SafetensorsWriter Metadata(string key, string value)
        {
            _metadata[key] = value;
            return this;
        }

        public string Write(string path)
        {
            var stream = new MemoryStream();
            using (var json = new Utf8JsonWriter(stream))
            {
                json.WriteStartObject();
                if (_metadata.Count > 0)
                {
                    json.WriteStartObject("__metadata__");
                    foreach (var (k, v) in _metadata) json.WriteString(k, v);
                    json.WriteEndObject();
                }
                long offset = 0;
                foreach (var t in _tensors)
                {
                    json.WriteStartObject(t.Name);
                    json.WriteString("dtype", t.DType);
                    json.WriteStartArray("shape");
                    foreach (long d in t.Shape) json.WriteNumberValue(d);
                    json.WriteEndArray();
                    json.WriteStartArray("data_offsets");
                    json.WriteNumberValue(offset);
                    json.WriteNumberValue(offset + t.Bytes);
                    json.WriteEndArray();
                    json.WriteEndObject();
                    offset += t.Bytes;
                }
                json.WriteEndObject();
            }
            var header = new List<byte>(stream.ToArray());
            while (header.Count % 8 != 0) header.Add((byte)' ');
            using var file = new FileStream(path, FileMode.Create, FileAccess.Write);
            file.Write(LengthPrefix((ulong)header.Count));
            file.Write(header.ToArray());
            long start = file.Position, at = 0;
            foreach (var t in _tensors)
            {
                if (t.Data != null)
                {
                    file.Position = start + at;
                    file.Write(t.Data);
                }
                at += t.Bytes;
            }
            file.SetLength(start + at);
            return path;
        }

        /// <summary>The 8-byte length, then <paramref name="header"/> as UTF-8, then <paramref name="dataBytes"/> zeros; the length says <paramref name="headerLength"/> when given.</summary>
        public static byte[] Raw(string header, int dataBytes, ulong? headerLength = null)
        {
            byte[] text = Encoding.UTF8.GetBytes(header);
            return LengthPrefix(headerLength ?? (ulong)text.Length).Concat(text).Concat(new byte[dataBytes]).ToArray();
        }

        private static byte[] LengthPrefix(ulong length)
        {
            var prefix = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, length);
            return prefix;
        }
    }

    /// <summary>A fresh folder under the temp directory, deleted with everything in it on dispose.</summary>
    internal sealed class TempFolder : IDisposable
    {
        public TempFolder()
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "graphc-checkpoint-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(Path);
        }

        public string Path { get; }

        public string File(string name) => System.IO.Path.Combine(Path, name);

        public string Write(string name, byte[] bytes)
        {
            System.IO.File.WriteAllBytes(File(name), bytes);
            return File(name);
        }

        public string Write(string name, string text)
        {
            System.IO.File.WriteAllText(File(name), text);
            return File(name);
        }

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
