using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using GraphCompiler.Common;

namespace GraphCompiler.Runtime.Cpu
{
    /// <summary>One checkpoint tensor as a file holds it: shape, dtype and the raw little-endian bytes.</summary>
    public sealed class StoredTensor
    {
        internal StoredTensor(string name, int[] shape, DType dtype, byte[] data)
        {
            Name = name;
            Shape = shape;
            DType = dtype;
            Data = data;
        }

        public string Name { get; }
        public IReadOnlyList<int> Shape { get; }
        public DType DType { get; }
        public byte[] Data { get; }

        public string ShapeText => "[" + string.Join(", ", Shape) + "]";

        /// <summary>The elements as <typeparamref name="T"/>, which must have the dtype's width (ushort for F16/BF16, byte for FP8, …).</summary>
        public T[] As<T>() where T : unmanaged
        {
            if (Marshal.SizeOf<T>() != DType.SizeInBytes())
                throw new InvalidOperationException($"{Name} is {DType}: {DType.SizeInBytes()} bytes per element, not {Marshal.SizeOf<T>()} ({typeof(T).Name})");
            return MemoryMarshal.Cast<byte, T>(Data).ToArray();
        }
    }

    /// <summary>
    /// A checkpoint as the CPU backend reads it: tensors by Hugging Face name. Filled by <see cref="RandomCheckpoint"/>
    /// today and by a safetensors reader later; the executor only looks tensors up by name.
    /// </summary>
    public sealed class CheckpointTensors
    {
        private readonly Dictionary<string, StoredTensor> _tensors = new Dictionary<string, StoredTensor>(StringComparer.Ordinal);

        public int Count => _tensors.Count;
        public IEnumerable<string> Names => _tensors.Keys;

        public bool Contains(string name) => _tensors.ContainsKey(name);

        public StoredTensor this[string name] =>
            _tensors.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"the checkpoint has no tensor named {name}");

        /// <summary>Adds a tensor; <paramref name="data"/> must hold exactly the elements of <paramref name="shape"/> (a scalar is []).</summary>
        public void Add(string name, int[] shape, DType dtype, byte[] data)
        {
            long elements = shape.Aggregate(1L, (a, d) => a * d);
            if (data.LongLength != elements * dtype.SizeInBytes())
                throw new ArgumentException($"{name} is [{string.Join(", ", shape)}] {dtype}: {elements * dtype.SizeInBytes()} bytes, not {data.LongLength}", nameof(data));
            if (_tensors.ContainsKey(name)) throw new ArgumentException($"the checkpoint already has a tensor named {name}", nameof(name));
            _tensors.Add(name, new StoredTensor(name, (int[])shape.Clone(), dtype, data));
        }

        public void Add<T>(string name, int[] shape, DType dtype, T[] elements) where T : unmanaged =>
            Add(name, shape, dtype, MemoryMarshal.AsBytes(elements.AsSpan()).ToArray());
    }
}
