using System;
using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.IO.MemoryMappedFiles;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using GraphCompiler.Common;

namespace GraphCompiler.Runtime.Checkpoints
{
    /// <summary>
    /// One .safetensors file, memory-mapped read-only: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
    /// (tensor name → dtype, shape, data_offsets relative to the data area; optional "__metadata__" string → string),
    /// then the data area. The header is checked as the reference implementation checks it — bounded length, known
    /// dtypes, shape × dtype size = byte length, tensors sorted by offset tiling the data area with no gap or overlap —
    /// and duplicate names are refused. Tensor bytes are views of the mapping, valid until the file is disposed; the
    /// file must not shrink while open (a mapped page past its end faults).
    /// </summary>
    public sealed unsafe class SafetensorsFile : IDisposable
    {
        /// <summary>The reference implementation's limit; real headers are a few hundred KB.</summary>
        public const long MaxHeaderBytes = 100_000_000;

        public const string MetadataKey = "__metadata__";

        private static readonly Dictionary<string, int> ElementSizes = new(StringComparer.Ordinal)
        {
            ["BOOL"] = 1, ["U8"] = 1, ["I8"] = 1, ["F8_E4M3"] = 1, ["F8_E5M2"] = 1,
            ["U16"] = 2, ["I16"] = 2, ["F16"] = 2, ["BF16"] = 2,
            ["U32"] = 4, ["I32"] = 4, ["F32"] = 4,
            ["U64"] = 8, ["I64"] = 8, ["F64"] = 8,
        };

        private static readonly Dictionary<string, DType> CompilerDTypes =
            Enum.GetValues<DType>().ToDictionary(d => d.SafetensorsName(), StringComparer.Ordinal);

        private readonly MemoryMappedFile _mapping;
        private readonly MemoryMappedViewAccessor _view;
        private readonly byte* _base;
        private readonly Dictionary<string, SafetensorsTensor> _byName = new(StringComparer.Ordinal);
        private bool _disposed;

        private SafetensorsFile(string path, long length, MemoryMappedFile mapping)
        {
            FilePath = path;
            Length = length;
            _mapping = mapping;
            _view = mapping.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            _base = pointer + _view.PointerOffset;
        }

        public string FilePath { get; }
        public long Length { get; }
        public long HeaderLength { get; private set; }
        public long DataOffset => 8 + HeaderLength;
        public long DataLength => Length - DataOffset;

        /// <summary>Every tensor, in data order.</summary>
        public IReadOnlyList<SafetensorsTensor> Tensors { get; private set; } = Array.Empty<SafetensorsTensor>();

        /// <summary>The header's "__metadata__" (empty when absent), e.g. {"format": "pt"}.</summary>
        public IReadOnlyDictionary<string, string> Metadata { get; private set; } = new Dictionary<string, string>();

        public bool TryGet(string name, out SafetensorsTensor tensor) => _byName.TryGetValue(name, out tensor!);

        /// <summary>Maps the file and checks its header; every violation is a <see cref="CheckpointException"/>.</summary>
        public static SafetensorsFile Open(string path)
        {
            FileStream stream;
            try
            {
                stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CheckpointException($"{path}: cannot open it: {e.Message}");
            }
            long length = stream.Length;
            // Checked before mapping: an empty file cannot be mapped, and anything shorter has no header length.
            if (length < 8)
            {
                stream.Dispose();
                throw new CheckpointException(length == 0
                    ? $"{path}: the file is empty (0 bytes); a safetensors file starts with an 8-byte header length. Download or save it again"
                    : $"{path}: the file is {length} bytes, shorter than the 8-byte header length every safetensors file starts with. Download or save it again");
            }
            var mapping = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            var file = new SafetensorsFile(path, length, mapping);
            try
            {
                file.ReadHeader();
            }
            catch
            {
                file.Dispose();
                throw;
            }
            return file;
        }

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
            _mapping.Dispose();
        }

        internal ReadOnlySpan<byte> Bytes(long offset, int length)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return new ReadOnlySpan<byte>(_base + DataOffset + offset, length);
        }

        internal ReadOnlyMemory<byte> Memory(long offset, int length)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return new MappedMemory(this, _base + DataOffset + offset, length).Memory;
        }

        private void ReadHeader()
        {
            ulong n = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(_base, 8));
            if (n > MaxHeaderBytes)
                throw Error($"the header length (first 8 bytes) is {n} bytes, over the format's limit of {MaxHeaderBytes}; this is not a safetensors file, or its start is damaged. Download or save it again");
            if (n > (ulong)(Length - 8))
                throw Error($"the header length (first 8 bytes) is {n} bytes but only {Length - 8} bytes follow it (the file is {Length} bytes); the file is truncated or not a safetensors file. Download or save it again");
            HeaderLength = (long)n;
            var header = new ReadOnlySpan<byte>(_base + 8, (int)n);
            if (!Utf8.IsValid(header))
                throw Error($"the {n}-byte header is not valid UTF-8; the file is damaged or not a safetensors file. Download or save it again");
            var tensors = ParseHeader(header);
            Validate(tensors);
        }

        private readonly record struct RawTensor(string Name, string DType, long[] Shape, long Begin, long End);

        private List<RawTensor> ParseHeader(ReadOnlySpan<byte> header)
        {
            var tensors = new List<RawTensor>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var names = new HashSet<string>(StringComparer.Ordinal);
            // The reader, not a document: a document keeps one of two equal names silently, and a duplicate must be refused.
            var reader = new Utf8JsonReader(header, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
            try
            {
                if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                    throw Error($"the {header.Length}-byte header is not a JSON object (it must map tensor names to dtype, shape and data_offsets); the file is damaged or not a safetensors file");
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    string name = reader.GetString()!;
                    if (!names.Add(name))
                        throw Error($"'{name}' appears twice in the header (again at header byte {reader.TokenStartIndex}); names must be unique. The file was not written by a safetensors library; save it again");
                    reader.Read();
                    if (name == MetadataKey) ReadMetadata(ref reader, metadata);
                    else tensors.Add(ReadTensor(ref reader, name));
                }
                reader.Read();   // past the object: throws on anything but trailing whitespace (writers pad with spaces)
            }
            catch (JsonException e)
            {
                // The reader's message ends in its own position format and advice about reader options; keep only the reason.
                string reason = e.Message.Split(" LineNumber:")[0].Replace(" Change the reader options.", "");
                throw Error($"the {header.Length}-byte header is not valid JSON at line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}: {reason} The file is damaged or not a safetensors file");
            }
            Metadata = metadata;
            return tensors;
        }

        private void ReadMetadata(ref Utf8JsonReader reader, Dictionary<string, string> metadata)
        {
            if (reader.TokenType == JsonTokenType.Null) return;
            if (reader.TokenType != JsonTokenType.StartObject)
                throw Error($"'{MetadataKey}' must be an object of strings, not {Describe(reader.TokenType)}");
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                string key = reader.GetString()!;
                reader.Read();
                if (reader.TokenType != JsonTokenType.String)
                    throw Error($"'{MetadataKey}' entry '{key}' is {Describe(reader.TokenType)}; metadata values must be strings");
                if (!metadata.TryAdd(key, reader.GetString()!))
                    throw Error($"'{MetadataKey}' has '{key}' twice; keys must be unique");
            }
        }

        private RawTensor ReadTensor(ref Utf8JsonReader reader, string name)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
                throw Error($"tensor '{name}' is {Describe(reader.TokenType)}; each tensor must be an object with dtype, shape and data_offsets");
            string? dtype = null;
            long[]? shape = null, offsets = null;
            var keys = new HashSet<string>(StringComparer.Ordinal);
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                string key = reader.GetString()!;
                if (!keys.Add(key)) throw Error($"tensor '{name}' has '{key}' twice; keys must be unique");
                reader.Read();
                switch (key)
                {
                    case "dtype":
                        if (reader.TokenType != JsonTokenType.String) throw Error($"tensor '{name}' has dtype {Describe(reader.TokenType)}; it must be a string such as \"F16\"");
                        dtype = reader.GetString()!;
                        break;
                    case "shape":
                        shape = ReadIntegers(ref reader, name, key);
                        break;
                    case "data_offsets":
                        offsets = ReadIntegers(ref reader, name, key);
                        if (offsets.Length != 2)
                            throw Error($"tensor '{name}' has {offsets.Length} data_offsets; it needs two, [begin, end]");
                        break;
                    default:
                        reader.Skip();   // like the reference: other keys carry nothing a reader needs
                        break;
                }
            }
            string? missing = dtype is null ? "dtype" : shape is null ? "shape" : offsets is null ? "data_offsets" : null;
            if (missing != null) throw Error($"tensor '{name}' has no '{missing}'; each tensor needs dtype, shape and data_offsets");
            return new RawTensor(name, dtype!, shape!, offsets![0], offsets[1]);
        }

        private long[] ReadIntegers(ref Utf8JsonReader reader, string name, string key)
        {
            if (reader.TokenType != JsonTokenType.StartArray)
                throw Error($"tensor '{name}' has {key} {Describe(reader.TokenType)}; it must be a list of non-negative integers");
            var values = new List<long>();
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                string text = reader.TokenType == JsonTokenType.Number ? Encoding.UTF8.GetString(reader.ValueSpan) : Describe(reader.TokenType);
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long value) || value < 0)
                    throw Error($"tensor '{name}' has {key}[{values.Count}] = {text}; {key} must be integers from 0 to {long.MaxValue}. The header is damaged; save the checkpoint again");
                values.Add(value);
            }
            return values.ToArray();
        }

        private void Validate(List<RawTensor> raw)
        {
            var tensors = new List<SafetensorsTensor>(raw.Count);
            foreach (var t in raw)
            {
                string shape = "[" + string.Join(", ", t.Shape) + "]";
                if (!ElementSizes.TryGetValue(t.DType, out int size))
                    throw Error($"tensor '{t.Name}' has dtype '{t.DType}', which this reader does not know (known: {string.Join(", ", ElementSizes.Keys)}); convert the tensor to one of those");
                long elements = 1;
                foreach (long d in t.Shape)
                    if (!TryMultiply(elements, d, out elements))
                        throw Error($"tensor '{t.Name}' has shape {shape}, more elements than 64 bits can count; the header is damaged");
                if (!TryMultiply(elements, size, out long bytes))
                    throw Error($"tensor '{t.Name}' has shape {shape} of {t.DType}, more bytes than 64 bits can count; the header is damaged");
                if (t.End < t.Begin)
                    throw Error($"tensor '{t.Name}' has data_offsets [{t.Begin}, {t.End}], ending before it begins; the header is damaged. Download or save the file again");
                if (t.End > DataLength)
                    throw Error($"tensor '{t.Name}' has data_offsets [{t.Begin}, {t.End}] but the data area is {DataLength} bytes (file {Length} − 8 − header {HeaderLength}); the file is truncated or its header is wrong. Download or save it again");
                if (t.End - t.Begin != bytes)
                    throw Error($"tensor '{t.Name}' is {t.DType} {shape}: {elements} elements × {size} bytes = {bytes} bytes, but its data_offsets [{t.Begin}, {t.End}] hold {t.End - t.Begin} bytes; the header is inconsistent. Save the checkpoint again");
                tensors.Add(new SafetensorsTensor(this, t.Name, t.DType, CompilerDTypes.TryGetValue(t.DType, out var d2) ? d2 : null, t.Shape, t.Begin, t.End));
            }

            // As the reference requires: sorted by offset, the tensors tile the data area exactly.
            var ordered = tensors.OrderBy(t => t.Begin).ThenBy(t => t.End).ToList();
            long covered = 0;
            SafetensorsTensor? previous = null;
            foreach (var t in ordered)
            {
                if (t.Begin < covered)
                    throw Error($"tensors '{previous!.Name}' [{previous.Begin}, {previous.End}] and '{t.Name}' [{t.Begin}, {t.End}] overlap by {Math.Min(covered, t.End) - t.Begin} bytes; every byte of the data area belongs to one tensor. The file is damaged or was not written by a safetensors library");
                if (t.Begin > covered)
                    throw Error((previous is null ? $"the first {t.Begin} bytes of the data area, before tensor '{t.Name}' [{t.Begin}, {t.End}], belong"
                        : $"the {t.Begin - covered} bytes between tensor '{previous.Name}' [{previous.Begin}, {previous.End}] and '{t.Name}' [{t.Begin}, {t.End}] belong")
                        + " to no tensor; the file is damaged or was not written by a safetensors library. Save it again");
                covered = t.End;
                previous = t;
            }
            if (covered != DataLength)
                throw Error($"the data area is {DataLength} bytes but the tensors end at byte {covered}" + (previous is null ? " (the header lists none)" : $" (last: '{previous.Name}')")
                    + $"; the last {DataLength - covered} bytes belong to no tensor. The file is damaged or was not written by a safetensors library");
            Tensors = ordered;
            foreach (var t in ordered) _byName.Add(t.Name, t);
        }

        private static bool TryMultiply(long a, long b, out long product)
        {
            product = 0;
            if (a != 0 && b > long.MaxValue / a) return false;
            product = a * b;
            return true;
        }

        private static string Describe(JsonTokenType token) => token switch
        {
            JsonTokenType.StartObject => "an object",
            JsonTokenType.StartArray => "a list",
            JsonTokenType.String => "a string",
            JsonTokenType.Number => "a number",
            JsonTokenType.True or JsonTokenType.False => "a boolean",
            JsonTokenType.Null => "null",
            _ => token.ToString(),
        };

        private CheckpointException Error(string message) => new CheckpointException($"{FilePath}: {message}");

        /// <summary>A tensor's bytes as <see cref="ReadOnlyMemory{T}"/>: a view of the mapping, so no copy.</summary>
        private sealed class MappedMemory : MemoryManager<byte>
        {
            private readonly SafetensorsFile _file;
            private readonly byte* _pointer;
            private readonly int _length;

            public MappedMemory(SafetensorsFile file, byte* pointer, int length)
            {
                _file = file;
                _pointer = pointer;
                _length = length;
            }

            public override Span<byte> GetSpan()
            {
                ObjectDisposedException.ThrowIf(_file._disposed, _file);
                return new Span<byte>(_pointer, _length);
            }

            public override MemoryHandle Pin(int elementIndex = 0)
            {
                ObjectDisposedException.ThrowIf(_file._disposed, _file);
                return new MemoryHandle(_pointer + elementIndex);
            }

            public override void Unpin() { }

            protected override void Dispose(bool disposing) { }
        }
    }

    /// <summary>One tensor of a <see cref="SafetensorsFile"/>: its header entry and its bytes, read through the mapping.</summary>
    public sealed class SafetensorsTensor
    {
        internal SafetensorsTensor(SafetensorsFile file, string name, string dtypeName, DType? dtype, long[] shape, long begin, long end)
        {
            File = file;
            Name = name;
            DTypeName = dtypeName;
            DType = dtype;
            Shape = shape;
            Begin = begin;
            End = end;
        }

        public SafetensorsFile File { get; }
        public string Name { get; }

        /// <summary>The dtype as the header spells it: "F16", "F8_E4M3", "I64".</summary>
        public string DTypeName { get; }

        /// <summary>The compiler's dtype; null for safetensors dtypes the compiler has no use for (F64, I8, I16, I64, BOOL, …).</summary>
        public DType? DType { get; }

        public IReadOnlyList<long> Shape { get; }

        /// <summary>data_offsets as in the header, relative to the data area.</summary>
        public long Begin { get; }
        public long End { get; }

        public long ByteLength => End - Begin;
        public string ShapeText => "[" + string.Join(", ", Shape) + "]";

        /// <summary>Every byte of the tensor; a tensor over 2 GiB must be read with <see cref="Slice"/>.</summary>
        public ReadOnlySpan<byte> Span => File.Bytes(Begin, CheckedLength());

        public ReadOnlyMemory<byte> Memory => File.Memory(Begin, CheckedLength());

        /// <summary><paramref name="length"/> bytes from <paramref name="start"/>, both in bytes of this tensor.</summary>
        public ReadOnlySpan<byte> Slice(long start, int length)
        {
            if (start < 0 || length < 0 || start > ByteLength - length)
                throw new ArgumentOutOfRangeException(nameof(start), $"bytes [{start}, {start + length}) are outside tensor '{Name}' ({ByteLength} bytes)");
            return File.Bytes(Begin + start, length);
        }

        private int CheckedLength() => ByteLength <= int.MaxValue ? (int)ByteLength
            : throw new InvalidOperationException($"tensor '{Name}' is {ByteLength} bytes, more than one span holds; read it in pieces with Slice");
    }
}
