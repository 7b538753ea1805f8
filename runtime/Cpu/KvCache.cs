using System;
using System.Runtime.CompilerServices;
using GraphCompiler.Common;
using GraphCompiler.Runtime.Reference;

namespace GraphCompiler.Runtime.Cpu
{
    /// <summary>
    /// One sequence's K and V for every layer, in kv_cache.dtype. fp16/bf16 caches hold the activation bits as they are
    /// (the spec requires the model's dtype). FP8 caches quantize on write with a per-layer scale: code = e4m3/e5m2(x / s),
    /// read back as decode(code) · s; s = 1.0 for K and V of every layer (vLLM's default when a checkpoint carries no
    /// k_scale / v_scale) until checkpoints provide calibrated scales.
    /// Per layer, K is [kv head, head_dim, position] and V [kv head, position, head_dim], so that reading one KV head's
    /// positions is contiguous runs, widened a vector at a time, straight into the layout attention wants (K transposed).
    /// Grows by doubling as the sequence does, never past max_seq_len.
    /// </summary>
    internal sealed class KvCache
    {
        public const float Fp8Scale = 1.0f;

        private readonly DType _dtype;
        private readonly ActivationCodec _act;
        private readonly int _kvHeads, _headDim, _maxPositions;
        private readonly ushort[][] _k16, _v16;
        private readonly byte[][] _k8, _v8;
        private readonly float[]? _fp8Decode;
        private int _capacity;

        public KvCache(DType dtype, ActivationCodec act, int layers, int kvHeads, int headDim, int maxPositions)
        {
            _dtype = dtype;
            _act = act;
            _kvHeads = kvHeads;
            _headDim = headDim;
            _maxPositions = maxPositions;
            bool fp8 = dtype is DType.F8E4M3 or DType.F8E5M2;
            _k16 = Layers<ushort>(fp8 ? 0 : layers);
            _v16 = Layers<ushort>(fp8 ? 0 : layers);
            _k8 = Layers<byte>(fp8 ? layers : 0);
            _v8 = Layers<byte>(fp8 ? layers : 0);
            if (fp8)
            {
                _fp8Decode = new float[256];
                for (int c = 0; c < 256; c++)
                    _fp8Decode[c] = (dtype == DType.F8E4M3 ? Fp8E4M3.ToFloat((byte)c) : Fp8E5M2.ToFloat((byte)c)) * Fp8Scale;
            }
        }

        /// <summary>Makes room for positions 0..<paramref name="positions"/> − 1 in every layer.</summary>
        public void Reserve(int positions)
        {
            if (positions <= _capacity) return;
            int capacity = Math.Max(positions, Math.Min(_maxPositions, Math.Max(16, 2 * _capacity)));
            for (int l = 0; l < _k16.Length; l++) (_k16[l], _v16[l]) = (GrowK(_k16[l], capacity), GrowV(_v16[l], capacity));
            for (int l = 0; l < _k8.Length; l++) (_k8[l], _v8[l]) = (GrowK(_k8[l], capacity), GrowV(_v8[l], capacity));
            _capacity = capacity;
        }

        /// <summary>Writes one position's K and V (all KV heads, [kv head, head_dim] as in a qkv row), from activation bits.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Write(int layer, int position, ReadOnlySpan<ushort> k, ReadOnlySpan<ushort> v)
        {
            for (int h = 0; h < _kvHeads; h++)
                for (int i = 0; i < _headDim; i++)
                {
                    int src = h * _headDim + i, kAt = src * _capacity + position, vAt = (h * _capacity + position) * _headDim + i;
                    if (_fp8Decode is null)
                    {
                        _k16[layer][kAt] = k[src];
                        _v16[layer][vAt] = v[src];
                    }
                    else
                    {
                        _k8[layer][kAt] = Encode(_act.Load(k[src]));
                        _v8[layer][vAt] = Encode(_act.Load(v[src]));
                    }
                }
        }

        /// <summary>K and V of one KV head at positions 0..count − 1, as floats: K transposed into
        /// kT[i · stride + position], V into v[position · head_dim + i].</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Read(int layer, int kvHead, int count, float[] kT, int stride, float[] v)
        {
            int d = _headDim;
            if (_fp8Decode is null)
            {
                for (int i = 0; i < d; i++)
                    Widening.Load(_act.DType, _k16[layer].AsSpan((kvHead * d + i) * _capacity, count), kT.AsSpan(i * stride, count));
                Widening.Load(_act.DType, _v16[layer].AsSpan(kvHead * _capacity * d, count * d), v.AsSpan(0, count * d));
                return;
            }
            for (int i = 0; i < d; i++)
            {
                var codes = _k8[layer].AsSpan((kvHead * d + i) * _capacity, count);
                var row = kT.AsSpan(i * stride, count);
                for (int p = 0; p < count; p++) row[p] = _fp8Decode[codes[p]];
            }
            var vCodes = _v8[layer].AsSpan(kvHead * _capacity * d, count * d);
            for (int j = 0; j < vCodes.Length; j++) v[j] = _fp8Decode[vCodes[j]];
        }

        private byte Encode(float x) =>
            _dtype == DType.F8E4M3 ? Fp8E4M3.FromFloat(x / Fp8Scale) : Fp8E5M2.FromFloat(x / Fp8Scale);

        /// <summary>K rows ([kv head, head_dim]) are `capacity` positions long: each moves to its place in the wider array.</summary>
        private T[] GrowK<T>(T[] old, int capacity)
        {
            var grown = new T[_kvHeads * _headDim * capacity];
            for (int row = 0; row < _kvHeads * _headDim; row++) Array.Copy(old, row * _capacity, grown, row * capacity, _capacity);
            return grown;
        }

        /// <summary>V blocks ([kv head]) hold `capacity` positions of head_dim: each moves to its place in the wider array.</summary>
        private T[] GrowV<T>(T[] old, int capacity)
        {
            var grown = new T[_kvHeads * capacity * _headDim];
            for (int h = 0; h < _kvHeads; h++) Array.Copy(old, h * _capacity * _headDim, grown, h * capacity * _headDim, _capacity * _headDim);
            return grown;
        }

        private static T[][] Layers<T>(int layers)
        {
            var result = new T[layers][];
            for (int l = 0; l < layers; l++) result[l] = Array.Empty<T>();
            return result;
        }
    }
}
