using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using GraphCompiler.Common;
using GraphCompiler.Graph;
using GraphCompiler.Kernels.Attention;
using GraphCompiler.Planning;
using GraphCompiler.Runtime.Kv;
using GraphCompiler.Runtime.Reference;
using GraphCompiler.Spec;

namespace GraphCompiler.Runtime.SelfTest
{
    public sealed partial class KernelCaseFactory
    {
        /// <summary>
        /// Decode-attention steps: one sequence with a context of 1, one with the longest context, a ragged batch (1, 17,
        /// 1000 and random lengths) and max_num_seqs sequences; blocks handed out in interleaved order, so tables are not
        /// contiguous; every cache slot random (FP8: every code but NaN, random scales).
        /// </summary>
        /// <param name="tiles">The tiles the kernel was emitted with, where not the spec's (a tuning candidate).</param>
        public IEnumerable<KernelTestCase> DecodeAttention(DecodeAttentionKernel k, DecodeAttentionTiles? tiles = null)
        {
            var t = tiles ?? _tiles.DecodeAttention;
            int longest = _spec.Limits.MaxSeqLen;
            yield return DecodeAttentionCase(k, t, new[] { 1 });
            yield return DecodeAttentionCase(k, t, new[] { longest });
            yield return DecodeAttentionCase(k, t, new[] { 1, 17, Math.Min(1000, longest), 2, _random.Next(1, longest + 1), 33, _random.Next(1, 200) });
            int batch = _spec.Limits.MaxNumSeqs;
            yield return DecodeAttentionCase(k, t, Enumerable.Range(0, batch).Select(_ => _random.Next(1, Math.Min(longest, 2048) + 1)).ToArray());
        }

        /// <summary>A batch of <paramref name="batch"/> sequences all at <paramref name="context"/> tokens (the benchmark's points).</summary>
        public KernelTestCase DecodeAttentionUniform(DecodeAttentionKernel k, int batch, int context) =>
            DecodeAttentionCase(k, _tiles.DecodeAttention, Enumerable.Repeat(context, batch).ToArray());

        private KernelTestCase DecodeAttentionCase(DecodeAttentionKernel k, DecodeAttentionTiles t, int[] contexts)
        {
            int sequences = contexts.Length, group = k.Heads / k.KvHeads, d = k.HeadDim, stride = (k.Heads + 2 * k.KvHeads) * d;
            int splits = DecodeAttentionFamily.ChooseSplits(t, k.KvHeads, sequences, contexts.Max(), _multiprocessors);
            var c = new KernelTestCase($"S={sequences} context {contexts.Min()}..{contexts.Max()} splits={splits}");
            var layout = new KvCacheLayout(1, k.KvHeads, d, k.BlockSize, k.KvDType);

            // Blocks handed out a slice at a time, round-robin over the sequences, so each table jumps around the pool.
            int blocks = contexts.Sum(layout.BlocksFor) + 3;
            var manager = new KvBlockManager(layout, blocks);
            for (int s = 0; s < sequences; s++) manager.Add(s);
            var remaining = (int[])contexts.Clone();
            while (remaining.Any(r => r > 0))
                for (int s = 0; s < sequences; s++)
                {
                    int take = Math.Min(remaining[s], k.BlockSize * (1 + _random.Next(3)));
                    if (take == 0) continue;
                    manager.Append(s, take);
                    remaining[s] -= take;
                }
            int maxBlocks = contexts.Max(layout.BlocksFor);
            var tables = new int[sequences * maxBlocks];
            manager.WriteBlockTables(Enumerable.Range(0, sequences).ToArray(), tables, maxBlocks);

            bool fp8 = k.KvDType is DType.F8E4M3 or DType.F8E5M2;
            var pool = new int[layout.LayerBlockBytes * blocks / 4];
            var poolBytes = MemoryMarshal.AsBytes(pool.AsSpan());
            if (fp8) Fp8Codes(poolBytes.Length).CopyTo(poolBytes);
            else MemoryMarshal.AsBytes(Activations(poolBytes.Length / 2, 1.0).AsSpan()).CopyTo(poolBytes);
            var scales = fp8 ? Scales(2, 0.5f, 2.0f) : new[] { 1.0f, 1.0f };
            var qkv = Activations((long)sequences * stride, 1.0);

            c.Input("qkv", qkv).InOut("kv_pool", pool, OutputKind.Exact).Input("block_tables", tables).Input("context_lens", contexts);
            if (fp8) c.Input("kv_scale", scales);
            c.Output("out", new ushort[(long)sequences * k.Heads * d], OutputKind.Activation);
            c.Input("partials", new float[(long)sequences * k.Heads * splits * (d + 2)]);
            c.InOut("split_counters", new int[sequences * k.KvHeads], OutputKind.Exact);
            c.Scalars["max_blocks"] = maxBlocks;
            c.Scalars["sequences"] = sequences;
            c.Grid["S"] = sequences;
            c.Grid["splits"] = splits;
            c.BytesTouched = contexts.Sum(x => (long)x) * k.KvHeads * 2 * d * layout.ElementBytes + (long)sequences * (stride + k.Heads * d) * 2;
            c.Reference = a => DecodeAttentionReference(k, layout, qkv, MemoryMarshal.AsBytes(((int[])a["kv_pool"]).AsSpan()).ToArray(), (int[])a["kv_pool"],
                tables, maxBlocks, contexts, scales, (ushort[])a["out"]);
            return c;
        }

        /// <summary>
        /// The CPU reference, CpuAttention's rule over the paged pool: the new token's K and V written to its slot first (FP8:
        /// code = encode(x / scale)), every position read back from the cache (decode(code) · scale), float32 scores times
        /// (float)(1/√d), softmax with the max subtracted (MathF.Exp, summed in position order), Σ e·v / Σ e stored.
        /// </summary>
        private void DecodeAttentionReference(DecodeAttentionKernel k, KvCacheLayout layout, ushort[] qkv, byte[] pool, int[] poolWords,
            int[] tables, int maxBlocks, int[] contexts, float[] scales, ushort[] output)
        {
            int d = k.HeadDim, group = k.Heads / k.KvHeads, stride = (k.Heads + 2 * k.KvHeads) * d;
            bool fp8 = k.KvDType is DType.F8E4M3 or DType.F8E5M2;
            byte Encode(float x) => k.KvDType == DType.F8E4M3 ? Fp8E4M3.FromFloat(x) : Fp8E5M2.FromFloat(x);
            float Decode(byte code) => k.KvDType == DType.F8E4M3 ? Fp8E4M3.ToFloat(code) : Fp8E5M2.ToFloat(code);
            long At(int s, int pos, bool value, int head, int dim) => layout.Offset(tables[s * maxBlocks + pos / k.BlockSize], value, head, pos % k.BlockSize, dim);
            float Read(int s, int pos, bool value, int head, int dim)
            {
                long at = At(s, pos, value, head, dim);
                return fp8 ? Decode(pool[at]) * scales[value ? 1 : 0] : _codec.Load((ushort)(pool[at] | pool[at + 1] << 8));
            }

            float scale = (float)(1.0 / Math.Sqrt(d));
            for (int s = 0; s < contexts.Length; s++)
            {
                int newest = contexts[s] - 1;
                for (int g = 0; g < k.KvHeads; g++)
                    for (int dim = 0; dim < d; dim++)
                        foreach (bool value in new[] { false, true })
                        {
                            ushort x = qkv[(long)s * stride + (k.Heads + (value ? k.KvHeads : 0) + g) * d + dim];
                            long at = At(s, newest, value, g, dim);
                            if (fp8) pool[at] = Encode(_codec.Load(x) / scales[value ? 1 : 0]);
                            else (pool[at], pool[at + 1]) = ((byte)x, (byte)(x >> 8));
                        }
                for (int h = 0; h < k.Heads; h++)
                {
                    int g = h / group, count = contexts[s];
                    var e = new float[count];
                    float max = float.NegativeInfinity;
                    for (int pos = 0; pos < count; pos++)
                    {
                        float dot = 0;
                        for (int dim = 0; dim < d; dim++)
                            dot = MathF.FusedMultiplyAdd(_codec.Load(qkv[(long)s * stride + h * d + dim]), Read(s, pos, false, g, dim), dot);
                        e[pos] = dot * scale;
                        max = Math.Max(max, e[pos]);
                    }
                    float sum = 0;
                    for (int pos = 0; pos < count; pos++) sum += e[pos] = MathF.Exp(e[pos] - max);
                    for (int dim = 0; dim < d; dim++)
                    {
                        float o = 0;
                        for (int pos = 0; pos < count; pos++) o = MathF.FusedMultiplyAdd(e[pos], Read(s, pos, true, g, dim), o);
                        output[((long)s * k.Heads + h) * d + dim] = _codec.Store(o / sum);
                    }
                }
            }
            Buffer.BlockCopy(pool, 0, poolWords, 0, pool.Length);
        }
    }
}
