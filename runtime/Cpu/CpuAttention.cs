using System;
using System.Collections.Generic;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading.Tasks;
using GraphCompiler.Runtime.Reference;

namespace GraphCompiler.Runtime.Cpu
{
    /// <summary>The rows of one sequence in a step: rows FirstRow.. of the step's buffers are its positions FirstPosition..</summary>
    internal readonly record struct SequenceSlice(KvCache Cache, int FirstRow, int Count, int FirstPosition)
    {
        public int End => FirstPosition + Count;
    }

    /// <summary>
    /// Causal GQA attention over the KV cache, shared by prefill and decode (RoPE is already applied to the qkv rows):
    /// every new token's K and V are written to its sequence's cache first, then each query (token t at position p,
    /// head h) attends to positions 0..p of the cache as the cache holds them (so FP8 caches are read back quantized in
    /// prefill too, and a prompt's last token gets the same result in a prefill as in a decode step), through KV head
    /// h / (heads / kv_heads). Scores q·k in float32 times (float)(1/√head_dim); softmax in float32 (max subtracted,
    /// MathF.Exp, sum in position order); out = Σ e_j·v_j / Σ e_j, stored in the activation dtype, or rounded to it and
    /// then quantized per row to e4m3 (amax/448) for a W8A8 o_proj.
    /// </summary>
    internal sealed class CpuAttention
    {
        private readonly int _heads, _kvHeads, _headDim, _rowStride;
        private readonly ActivationCodec _act;
        private readonly float _scale;
        private readonly List<DecodedKv> _kv = new List<DecodedKv>();
        private float[] _out = Array.Empty<float>();

        /// <summary>Below this many multiply-adds (q·k over all queries and heads) attention stays on the calling thread.</summary>
        private const long SerialWork = 1 << 16;

        public CpuAttention(int heads, int kvHeads, int headDim, ActivationCodec act)
        {
            _heads = heads;
            _kvHeads = kvHeads;
            _headDim = headDim;
            _rowStride = (heads + 2 * kvHeads) * headDim;
            _act = act;
            _scale = (float)(1.0 / Math.Sqrt(headDim));
        }

        /// <summary>Attention of one layer over the step's qkv rows [T, q | k | v] into attn_out [T, heads·head_dim]
        /// (activation bits), or into its FP8 codes and per-row scales.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int layer, ushort[] qkv, IReadOnlyList<SequenceSlice> slices, ushort[]? output, byte[]? outputFp8, float[]? outputScale)
        {
            int q = _heads * _headDim, kv = _kvHeads * _headDim;
            foreach (var s in slices)
                for (int i = 0; i < s.Count; i++)
                {
                    int row = (s.FirstRow + i) * _rowStride;
                    s.Cache.Write(layer, s.FirstPosition + i, qkv.AsSpan(row + q, kv), qkv.AsSpan(row + q + kv, kv));
                }

            // Decode each (sequence, KV head)'s cache once per layer; every query head of its group reads the floats.
            while (_kv.Count < slices.Count * _kvHeads) _kv.Add(new DecodedKv(_headDim, 0));
            // The step's rows are the slices' rows in order, from row 0.
            var owner = new List<int>();
            int maxEnd = 0;
            long work = 0;
            for (int si = 0; si < slices.Count; si++)
            {
                maxEnd = Math.Max(maxEnd, slices[si].End);
                work += (long)slices[si].Count * slices[si].End;
                for (int i = 0; i < slices[si].Count; i++) owner.Add(si);
            }
            bool parallel = work * _heads * _headDim >= SerialWork;
            For(parallel, slices.Count * _kvHeads, () => 0, (i, none) =>
            {
                var s = slices[i / _kvHeads];
                if (_kv[i].Capacity < s.End) _kv[i] = new DecodedKv(_headDim, Math.Max(s.End, 2 * _kv[i].Capacity));   // doubling: decode grows End by one a step
                s.Cache.Read(layer, i % _kvHeads, s.End, _kv[i].KT, _kv[i].Capacity, _kv[i].V);
                return none;
            });

            int rows = owner.Count;
            if (_out.Length < rows * q) _out = new float[rows * q];
            For(parallel, rows * _heads, () => new float[maxEnd + _headDim], (item, scratch) =>
            {
                int row = item / _heads, h = item % _heads;
                var s = slices[owner[row]];
                var kv = _kv[owner[row] * _kvHeads + h / (_heads / _kvHeads)];
                int visible = s.FirstPosition + (row - s.FirstRow) + 1;
                Head(_act, _scale, qkv.AsSpan(row * _rowStride + h * _headDim, _headDim), kv, visible, scratch, _out.AsSpan(row * q + h * _headDim, _headDim));
                return scratch;
            });

            var y = new float[q];
            for (int row = 0; row < rows; row++)
            {
                var o = _out.AsSpan(row * q, q);
                if (outputFp8 is null)
                {
                    for (int j = 0; j < q; j++) output![row * q + j] = _act.Store(o[j]);
                    continue;
                }
                for (int j = 0; j < q; j++) y[j] = _act.Round(o[j]);
                outputScale![row] = ElementwiseReference.QuantizeRowE4m3(y, outputFp8, (long)row * q);
            }
        }

        /// <summary>A loop over 0..<paramref name="count"/> − 1 with per-worker state, on the thread pool or, for small work, here.</summary>
        private static void For<T>(bool parallel, int count, Func<T> init, Func<int, T, T> body)
        {
            if (parallel)
            {
                Parallel.For(0, count, init, (i, _, state) => body(i, state), _ => { });
                return;
            }
            var local = init();
            for (int i = 0; i < count; i++) local = body(i, local);
        }

        /// <summary>
        /// One query head against <paramref name="count"/> cached positions, scores times <paramref name="scale"/>; scratch
        /// (count + head_dim floats) holds the scores and the accumulator. The scores are built a head dimension at a time
        /// over all positions (K is transposed), so each lane of a vector is one position's q·k summed over the head
        /// dimension in order. The selftest's paged-attention reference runs this too.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        internal static void Head(ActivationCodec act, float scale, ReadOnlySpan<ushort> qBits, DecodedKv kv, int count, float[] scratch, Span<float> result)
        {
            int d = qBits.Length;
            var scores = scratch.AsSpan(0, count);
            var acc = scratch.AsSpan(scratch.Length - d, d);
            scores.Clear();
            for (int i = 0; i < d; i++) Axpy(act.Load(qBits[i]), kv.KT.AsSpan(i * kv.Capacity, count), scores);
            float max = float.NegativeInfinity;
            for (int j = 0; j < count; j++)
            {
                scores[j] *= scale;
                max = Math.Max(max, scores[j]);
            }
            float sum = 0.0f;
            acc.Clear();
            for (int j = 0; j < count; j++)
            {
                float e = MathF.Exp(scores[j] - max);
                sum += e;
                Axpy(e, kv.V.AsSpan(j * d, d), acc);
            }
            for (int i = 0; i < d; i++) result[i] = acc[i] / sum;
        }

        /// <summary>y += a·x, fused per element.</summary>
        private static void Axpy(float a, ReadOnlySpan<float> x, Span<float> y)
        {
            var vx = MemoryMarshal.Cast<float, Vector<float>>(x);
            var vy = MemoryMarshal.Cast<float, Vector<float>>(y);
            var va = new Vector<float>(a);
            for (int i = 0; i < vx.Length; i++) vy[i] = Vector.FusedMultiplyAdd(va, vx[i], vy[i]);
            for (int i = vx.Length * Vector<float>.Count; i < x.Length; i++) y[i] = MathF.FusedMultiplyAdd(a, x[i], y[i]);
        }
    }

    /// <summary>One (sequence, KV head)'s cache decoded to floats for a layer: K transposed [head_dim, Capacity], V [Capacity, head_dim].</summary>
    internal sealed class DecodedKv
    {
        public DecodedKv(int headDim, int capacity)
        {
            Capacity = capacity;
            KT = new float[headDim * capacity];
            V = new float[capacity * headDim];
        }

        public int Capacity { get; }
        public float[] KT { get; }
        public float[] V { get; }
    }
}
