using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading.Tasks;
using GraphCompiler.Common;
using GraphCompiler.Planning;
using GraphCompiler.Runtime.Cpu;
using GraphCompiler.Runtime.Reference;

namespace GraphCompiler.Runtime.SelfTest
{
    /// <summary>Row <paramref name="Row"/> of a step's qkv (and output) is token <paramref name="Position"/> of sequence <paramref name="Sequence"/>.</summary>
    public readonly record struct PagedRow(int Row, int Sequence, int Position);

    /// <summary>
    /// The CPU reference of the paged attention kernels (decode and prefill) on one layer's device pool
    /// (<see cref="KvCacheLayout"/>, block tables [S, max_blocks]): CpuAttention's rule. The step's rows write their K and V
    /// (RoPE already applied) into their slots first, fp16/bf16 bits as they are, FP8 code = encode(x / scale); then each
    /// listed row's query heads attend to positions 0..Position of its sequence as the pool holds them (FP8:
    /// decode(code) · scale), through KV head h / (heads / kv_heads), with <see cref="CpuAttention.Head"/>'s arithmetic.
    /// </summary>
    internal sealed class PagedAttentionReference
    {
        private readonly int _heads;
        private readonly KvCacheLayout _layout;
        private readonly ActivationCodec _act;
        private readonly int[] _tables;
        private readonly int _maxBlocks;
        private readonly float[] _scales;
        private readonly bool _fp8;

        /// <param name="scales">The FP8 cache's K and V scales; ignored for fp16/bf16 caches.</param>
        public PagedAttentionReference(int heads, ActivationCodec act, KvCacheLayout layout, int[] tables, int maxBlocks, float[] scales)
        {
            (_heads, _act, _layout, _tables, _maxBlocks, _scales) = (heads, act, layout, tables, maxBlocks, scales);
            _fp8 = layout.DType is DType.F8E4M3 or DType.F8E5M2;
        }

        /// <summary>The bytes of a host pool array of any element type, in place.</summary>
        public static Span<byte> Bytes(Array pool) => MemoryMarshal.CreateSpan(ref MemoryMarshal.GetArrayDataReference(pool), Buffer.ByteLength(pool));

        /// <summary>Writes every row of <paramref name="written"/> into <paramref name="pool"/>, then the outputs of the <paramref name="attended"/> rows.</summary>
        public void Run(Span<byte> pool, ushort[] qkv, IEnumerable<PagedRow> written, IEnumerable<PagedRow> attended, ushort[] output)
        {
            int d = _layout.HeadDim, kvHeads = _layout.KvHeads, stride = (_heads + 2 * kvHeads) * d;
            foreach (var r in written)
                for (int g = 0; g < kvHeads; g++)
                    for (int v = 0; v < 2; v++)
                    {
                        int at = Slot(r.Sequence, r.Position, v, g);
                        long src = (long)r.Row * stride + (_heads + v * kvHeads + g) * d;
                        for (int dim = 0; dim < d; dim++)
                        {
                            ushort x = qkv[src + dim];
                            if (_fp8) pool[at + dim] = Encode(_act.Load(x) / _scales[v]);
                            else (pool[at + 2 * dim], pool[at + 2 * dim + 1]) = ((byte)x, (byte)(x >> 8));
                        }
                    }

            float scale = (float)(1.0 / Math.Sqrt(d));
            // A sequence at a time: its KV heads decoded once (as CpuAttention reads its cache), then every (row, head) in parallel.
            foreach (var rows in attended.GroupBy(r => r.Sequence))
            {
                var list = rows.ToList();
                int count = list.Max(r => r.Position) + 1, group = _heads / kvHeads;
                var kv = new DecodedKv[kvHeads];
                for (int g = 0; g < kvHeads; g++) kv[g] = Decode(pool, rows.Key, g, count);
                Parallel.For(0, list.Count * _heads, () => new float[count + d], (item, _, scratch) =>
                {
                    var r = list[item / _heads];
                    int h = item % _heads;
                    var o = new float[d];
                    CpuAttention.Head(_act, scale, qkv.AsSpan((int)((long)r.Row * stride + h * d), d), kv[h / group], r.Position + 1, scratch, o);
                    for (int dim = 0; dim < d; dim++) output[((long)r.Row * _heads + h) * d + dim] = _act.Store(o[dim]);
                    return scratch;
                }, _ => { });
            }
        }

        /// <summary>The pool rows (of head_dim elements, numbered from the pool's start) that a step row's K and V occupy.</summary>
        public IEnumerable<int> PoolRows(PagedRow r)
        {
            int rowBytes = _layout.HeadDim * _layout.ElementBytes;
            for (int v = 0; v < 2; v++)
                for (int g = 0; g < _layout.KvHeads; g++) yield return Slot(r.Sequence, r.Position, v, g) / rowBytes;
        }

        /// <summary>Byte offset of element 0 of K (v = 0) or V (v = 1) of KV head g at a sequence's position.</summary>
        private int Slot(int sequence, int position, int v, int g) =>
            (int)_layout.Offset(_tables[sequence * _maxBlocks + position / _layout.BlockSize], v == 1, g, position % _layout.BlockSize, 0);

        private DecodedKv Decode(ReadOnlySpan<byte> pool, int sequence, int g, int count)
        {
            int d = _layout.HeadDim;
            var kv = new DecodedKv(d, count);
            for (int pos = 0; pos < count; pos++)
            {
                int k = Slot(sequence, pos, 0, g), v = Slot(sequence, pos, 1, g);
                for (int dim = 0; dim < d; dim++)
                {
                    kv.KT[dim * count + pos] = Load(pool, k, dim, 0);
                    kv.V[pos * d + dim] = Load(pool, v, dim, 1);
                }
            }
            return kv;
        }

        private float Load(ReadOnlySpan<byte> pool, int at, int dim, int v) => _fp8
            ? (_layout.DType == DType.F8E4M3 ? Fp8E4M3.ToFloat(pool[at + dim]) : Fp8E5M2.ToFloat(pool[at + dim])) * _scales[v]
            : _act.Load((ushort)(pool[at + 2 * dim] | pool[at + 2 * dim + 1] << 8));

        private byte Encode(float x) => _layout.DType == DType.F8E4M3 ? Fp8E4M3.FromFloat(x) : Fp8E5M2.FromFloat(x);
    }
}
