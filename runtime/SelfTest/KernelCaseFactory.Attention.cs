using System;
using System.Collections.Generic;
using System.Linq;
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
        /// 1000 and random lengths) and max_num_seqs sequences; then verification steps, where sequences bring several
        /// tokens (1 to <see cref="DecodeQueries.MaxStepTokens"/>, each attending to the step's tokens up to itself): one
        /// sequence of the most at a long context, and a ragged batch of every count, within max_num_seqs tokens. Blocks are
        /// handed out in interleaved order, so tables are not contiguous; every cache slot random (FP8: every finite code,
        /// random scales).
        /// </summary>
        /// <param name="tiles">The tiles the kernel was emitted with, where not the spec's (a tuning candidate).</param>
        public IEnumerable<KernelTestCase> DecodeAttention(DecodeAttentionKernel k, DecodeAttentionTiles? tiles = null)
        {
            var t = tiles ?? _tiles.Decode(k.Tiles);
            int longest = _spec.Limits.MaxSeqLen, batch = _spec.Limits.MaxNumSeqs, most = DecodeQueries.MaxStepTokens;
            yield return DecodeAttentionCase(k, t, new[] { 1 });
            yield return DecodeAttentionCase(k, t, new[] { longest });
            yield return DecodeAttentionCase(k, t, new[] { 1, 17, Math.Min(1000, longest), 2, _random.Next(1, longest + 1), 33, _random.Next(1, 200) });
            yield return DecodeAttentionCase(k, t, Enumerable.Range(0, batch).Select(_ => _random.Next(1, Math.Min(longest, 2048) + 1)).ToArray());
            if (batch >= most && longest >= most)
                yield return DecodeAttentionCase(k, t, new[] { longest }, new[] { most });
            var steps = Enumerable.Range(1, Math.Min(most, longest)).Where(n => n * (n + 1) / 2 <= batch).Reverse().ToArray();   // ..., 2, 1 within max_num_seqs tokens
            if (steps.Length > 1)   // each sequence's context holds its own step tokens
                yield return DecodeAttentionCase(k, t, steps.Select(n => _random.Next(n, Math.Min(longest, 2048) + 1)).ToArray(), steps);
        }

        /// <summary>A batch of <paramref name="batch"/> sequences all at <paramref name="context"/> tokens (the benchmark's
        /// points), each bringing <paramref name="stepTokens"/> of them to the step.</summary>
        /// <param name="tiles">The tiles the kernel was emitted with, where not the spec's (a tuning candidate).</param>
        public KernelTestCase DecodeAttentionUniform(DecodeAttentionKernel k, int batch, int context, DecodeAttentionTiles? tiles = null, int stepTokens = 1) =>
            DecodeAttentionCase(k, tiles ?? _tiles.Decode(k.Tiles), Enumerable.Repeat(context, batch).ToArray(), Enumerable.Repeat(stepTokens, batch).ToArray());

        /// <summary>Whether a decode step of <paramref name="batch"/> sequences, a token each, launches <paramref name="k"/>
        /// rather than its twin (<see cref="DecodeAttentionFamily.ForStep"/>).</summary>
        public bool LaunchedFor(DecodeAttentionKernel k, int batch) =>
            k.Wide == DecodeAttentionFamily.WideServes(k, _tiles, batch * k.Queries.ChunksFor(1), _multiprocessors);

        /// <summary>
        /// The decode steps a tuning candidate is timed on: the selftest's cases and the three uniform steps issue #5
        /// benchmarks, scaled to the spec's limits — one sequence at max_seq_len, a quarter of max_num_seqs at half of it,
        /// max_num_seqs at a quarter (Llama-2-70B: 1 × 4096, 16 × 2048, 64 × 1024). Full uniform batches are where the
        /// launch's CTAs meet the GPU's resident slots (a second, part-filled wave), which random contexts hide. The wide
        /// twin is timed on those of them it would serve (<see cref="DecodeAttentionFamily.ForStep"/> with these tiles).
        /// </summary>
        public IEnumerable<KernelTestCase> DecodeAttentionTuning(DecodeAttentionKernel k, DecodeAttentionTiles tiles)
        {
            int longest = _spec.Limits.MaxSeqLen, batch = _spec.Limits.MaxNumSeqs;
            var candidate = _tiles.WithDecode(k.Tiles, tiles);
            var uniform = new[] { (1, longest), (Math.Max(1, batch / 4), Math.Max(1, longest / 2)), (batch, Math.Max(1, longest / 4)) }.Distinct()
                .Where(p => !k.Wide || DecodeAttentionFamily.WideServes(k, candidate, p.Item1, _multiprocessors));
            return DecodeAttention(k, tiles).Concat(uniform.Select(p => DecodeAttentionUniform(k, p.Item1, p.Item2, tiles)));
        }

        /// <param name="contexts">Each sequence's tokens after the step.</param>
        /// <param name="stepTokens">Each sequence's tokens in the step, its last ones (1 where null).</param>
        private KernelTestCase DecodeAttentionCase(DecodeAttentionKernel k, DecodeAttentionTiles t, int[] contexts, int[]? stepTokens = null)
        {
            int sequences = contexts.Length, d = k.HeadDim, stride = (k.Heads + 2 * k.KvHeads) * d;
            var news = stepTokens ?? Enumerable.Repeat(1, sequences).ToArray();
            int most = news.Max(), tokens = news.Sum(), chunks = sequences * k.Queries.ChunksFor(most);
            Func<int, int, int>? clustersAtOnce = null;
            if (DecodeAttentionFamily.MergesInCluster(_tiles.Arch) && ClustersAtOnce != null)
            {
                var source = DecodeAttentionFamily.Plan(k, _tiles.WithDecode(k.Tiles, t));
                if (!_clustersAtOnce.TryGetValue(source, out clustersAtOnce)) _clustersAtOnce[source] = clustersAtOnce = ClustersAtOnce(source);
            }
            int splits = DecodeAttentionFamily.ChooseSplits(k, t, _tiles.Arch, chunks, contexts.Max(), _multiprocessors, most, clustersAtOnce);
            var c = new KernelTestCase($"S={sequences} context {contexts.Min()}..{contexts.Max()}" + (most > 1 ? $" step tokens {RangeText(news)}" : "") + $" splits={splits}");
            var paged = PagedPool(k.Heads, k.KvHeads, d, k.KvDType, k.BlockSize, contexts);
            var qkv = Activations((long)tokens * stride, 1.0);

            // Rows cu[s] .. cu[s + 1] − 1 are sequence s's step tokens, its last.
            var cu = new int[sequences + 1];
            for (int s = 0; s < sequences; s++) cu[s + 1] = cu[s] + news[s];
            var rows = Enumerable.Range(0, sequences).SelectMany(s => Enumerable.Range(0, news[s]).Select(i => new PagedRow(cu[s] + i, s, contexts[s] - news[s] + i))).ToArray();
            c.Input("qkv", qkv).Input("cu_seqlens", cu);
            if (k.WithRope) RopedWrites(c.Input("positions", rows.Select(r => r.Position).ToArray()), paged, rows, d, k.KvDType);
            else c.InOut("kv_pool", paged.Pool, OutputKind.Exact);
            paged.Bind(c, contexts);
            c.Output("out", new ushort[(long)tokens * k.Heads * d], OutputKind.Activation);
            if (!DecodeAttentionFamily.MergesInCluster(_tiles.Arch))
            {
                c.Input("partials", new float[DecodeAttentionFamily.SplitPartialBytes(tokens, k.Heads, d, k.Activation, splits) / 4]);
                c.InOut("split_counters", new int[tokens * k.KvHeads], OutputKind.Exact);
                c.Scalars["tokens"] = tokens;
            }
            c.Scalars["sequences"] = sequences;
            c.Scalars["step_tokens"] = most;
            c.Grid["query_chunks"] = chunks;
            c.Grid["splits"] = splits;
            c.BytesTouched = paged.ContextBytes + (long)tokens * (stride + k.Heads * d) * 2;
            var attended = k.WithRope ? Roped(qkv, new RopeKernel(k.Name, k.Heads, k.KvHeads, d, k.Theta, k.Activation, stride), rows) : qkv;
            c.Reference = a => paged.Reference.Run(PagedAttentionReference.Bytes(a["kv_pool"]), attended, rows, rows, (ushort[])a["out"]);
            return c;
        }

        /// <summary>
        /// Prefill-attention steps: one sequence of 1, 7, 77, 128 (one tile at block_m 128), 1000 and max_num_batched_tokens
        /// new tokens, the last full chunk of the longest prompt (max_num_batched_tokens new tokens after max_seq_len minus
        /// as many cached, where max_seq_len leaves room: the costliest step a long prompt runs, so tuning weighs it), and a
        /// chunked-prefill batch (1, 17, 200, 64 and 5 new tokens, the longer ones after 37, 100 and 300 tokens already in
        /// the cache), within the spec's limits; pool, tables and scales as for decode.
        /// </summary>
        /// <param name="tiles">The tiles the kernel was emitted with, where not the spec's (a tuning candidate).</param>
        public IEnumerable<KernelTestCase> PrefillAttention(PrefillAttentionKernel k, PrefillAttentionTiles? tiles = null)
        {
            var t = tiles ?? _tiles.PrefillAttention;
            int longest = _spec.Limits.MaxSeqLen, cap = Math.Min(longest, _spec.Limits.MaxNumBatchedTokens);
            foreach (int n in new[] { 1, 7, 77, 128, 1000, _spec.Limits.MaxNumBatchedTokens }.Select(n => Math.Min(n, cap)).Distinct())
                yield return PrefillAttentionCase(k, t, new[] { n }, new[] { 0 });
            if (longest > cap) yield return PrefillAttentionCase(k, t, new[] { cap }, new[] { longest - cap });
            var news = new[] { 1, 17, 200, 64, 5 }.Select(n => Math.Min(n, cap)).ToArray();
            var prefixes = new[] { 0, 0, 37, 100, 300 }.Select((p, s) => Math.Min(p, longest - news[s])).ToArray();
            yield return PrefillAttentionCase(k, t, news, prefixes);
            // The same batch on three CTAs: each runs several jobs, long and one-tile ones, on any GPU (the K/V streams
            // across jobs, the turns job after job, a job's Q loaded where the last one's output was staged).
            yield return PrefillAttentionCase(k, t, news, prefixes, ctas: 3);
            // Q and K four times the usual size: a row's scores spread over about ±60 in exp2 units, so its max keeps
            // passing the softmax's reference by more than the lazy rescale's bound, tile after tile.
            yield return PrefillAttentionCase(k, t, new[] { Math.Min(1000, cap) }, new[] { 0 }, sigma: 4.0);
        }

        /// <summary>
        /// <paramref name="batch"/> sequences of <paramref name="newTokens"/> new tokens after <paramref name="prefix"/> cached
        /// ones (the benchmark's points, labelled "S=1 new 4096 prefix 0"). Not capped to the spec's limits: the kernel bakes in none.
        /// </summary>
        public KernelTestCase PrefillAttentionUniform(PrefillAttentionKernel k, int batch, int newTokens, int prefix) =>
            PrefillAttentionCase(k, _tiles.PrefillAttention, Enumerable.Repeat(newTokens, batch).ToArray(), Enumerable.Repeat(prefix, batch).ToArray());

        /// <summary>CTAs of the prefill kernel of tiles <paramref name="t"/> an SM holds: the driver's count on a GPU, else the
        /// tiles' register and shared-memory estimate.</summary>
        private int PrefillResidentCtas(PrefillAttentionKernel k, PrefillAttentionTiles t)
        {
            if (_residentCtasPerSm.TryGetValue((k.Name, t), out int resident)) return resident;
            var source = ResidentCtasPerSm == null ? null : PrefillAttentionFamily.Plan(k, _tiles with { PrefillAttention = t });
            return _residentCtasPerSm[(k.Name, t)] = source is { IsEmitted: true }
                ? ResidentCtasPerSm!(source)
                : _tiles.Arch.ResidentCtas(t.Warps * 32, t.RegistersPerThread(k.HeadDim), PrefillAttentionEmitter.SharedMemoryBytes(k, t));
        }

        /// <summary>Output rows the prefill reference computes in full below this many tokens; above, a sample of about this many.</summary>
        private const int FullyCheckedPrefillRows = 300, SampledPrefillRows = 96;

        /// <param name="ctas">The launch's CTAs where not as many as the GPU holds.</param>
        /// <param name="sigma">The new rows' (q, k, v) standard deviation.</param>
        private KernelTestCase PrefillAttentionCase(PrefillAttentionKernel k, PrefillAttentionTiles t, int[] newTokens, int[] prefixes, int? ctas = null,
                                                    double sigma = 1.0)
        {
            int sequences = newTokens.Length, d = k.HeadDim, stride = (k.Heads + 2 * k.KvHeads) * d, width = k.Heads * d;
            var contexts = newTokens.Select((n, s) => prefixes[s] + n).ToArray();
            var cu = new int[sequences + 1];
            for (int s = 0; s < sequences; s++) cu[s + 1] = cu[s] + newTokens[s];
            int tokens = cu[sequences];
            // Row cu[s] + i is sequence s's token prefix + i: the RoPE position and the cache slot it writes.
            var rows = Enumerable.Range(0, sequences).SelectMany(s => Enumerable.Range(0, newTokens[s]).Select(i => new PagedRow(cu[s] + i, s, prefixes[s] + i))).ToArray();
            var positions = rows.Select(r => r.Position).ToArray();
            var jobs = PrefillAttentionFamily.TileJobs(newTokens, contexts, t.BlockM);
            var c = new KernelTestCase($"S={sequences} new {RangeText(newTokens)} prefix {RangeText(prefixes)}" + (ctas is { } n ? $" on {n} CTAs" : "")
                                       + (sigma != 1.0 ? $", q k v σ {sigma}" : ""));
            var paged = PagedPool(k.Heads, k.KvHeads, d, k.KvDType, k.BlockSize, contexts);
            var qkv = Activations((long)tokens * stride, sigma);

            var checkedRows = PrefillCheckedRows(cu, t.BlockM);
            RopedWrites(c.Input("qkv", qkv).Input("positions", positions).Input("cu_seqlens", cu).Input("tile_jobs", jobs), paged, rows, d, k.KvDType);
            paged.Bind(c, contexts);
            c.Output("out", new ushort[(long)tokens * width], OutputKind.Activation, checkedRows, width);
            c.InOut("sync", new int[PrefillAttentionFamily.SyncInts], OutputKind.Exact);   // zero before and after a launch
            c.Input("rope", new int[PrefillAttentionFamily.RopeBytes(tokens, d) / 4]);
            c.Scalars["q_blocks"] = jobs.Length;
            c.Grid["prefill_ctas"] = Math.Min(ctas ?? int.MaxValue, PrefillAttentionFamily.Ctas(jobs.Length, k.Heads, _multiprocessors, PrefillResidentCtas(k, t)));
            // Causal: the query at position p sees p + 1 keys; Q·Kᵀ and P·V are 2·d flops per (query, key) pair each.
            c.Flops = 4.0 * d * k.Heads * rows.Sum(r => r.Position + 1.0);
            c.BytesTouched = paged.ContextBytes + (long)tokens * (2 * stride + 2 * k.KvHeads * d * k.KvDType.SizeInBytes() + 2 * width);

            var attended = checkedRows.Select(r => rows[r]).ToArray();
            var roped = Roped(qkv, new RopeKernel(k.Name, k.Heads, k.KvHeads, d, k.Theta, k.Activation, stride), rows);
            c.Reference = a => paged.Reference.Run(PagedAttentionReference.Bytes(a["kv_pool"]), roped, rows, attended, (ushort[])a["out"]);
            return c;
        }

        /// <summary>The cache checks of a step that writes its rows' K rotated (RoPE) and V: those slots hold what the cache
        /// stores of them (one ulp of sincosf apart, see ElementwiseReference.Rope); no other slot may change.</summary>
        private static void RopedWrites(KernelTestCase c, PagedAttentionPool paged, PagedRow[] rows, int d, DType kvDType)
        {
            var written = rows.SelectMany(paged.Reference.PoolRows).OrderBy(r => r).ToArray();
            var untouched = Enumerable.Range(0, paged.Pool.Length / d).Except(written).ToArray();
            c.InOut("kv_pool", paged.Pool, OutputKind.KvCache, written, d, kvDType).InOut("kv_pool", paged.Pool, OutputKind.Exact, untouched, d);
        }

        /// <summary>The step's qkv with each row's Q and K rotated at its position, as the kernel reads them.</summary>
        private static ushort[] Roped(ushort[] qkv, RopeKernel rope, PagedRow[] rows)
        {
            var roped = (ushort[])qkv.Clone();
            ElementwiseReference.Rope(rope, roped, rows.Select(r => r.Position).ToArray(), rows.Length);
            return roped;
        }

        private static string RangeText(int[] values) => values.Min() == values.Max() ? $"{values.Min()}" : $"{values.Min()}..{values.Max()}";

        /// <summary>
        /// Every row of a small step; else the first and last row of each sequence, rows on either side of query-tile
        /// boundaries and random rows, about <see cref="SampledPrefillRows"/> in all.
        /// </summary>
        private int[] PrefillCheckedRows(int[] cu, int blockM)
        {
            int tokens = cu[^1], sequences = cu.Length - 1;
            if (tokens <= FullyCheckedPrefillRows) return Enumerable.Range(0, tokens).ToArray();
            var ends = Enumerable.Range(0, sequences).Where(s => cu[s + 1] > cu[s]).SelectMany(s => new[] { cu[s], cu[s + 1] - 1 });
            var boundaries = Enumerable.Range(0, sequences)
                .SelectMany(s => Enumerable.Range(cu[s], cu[s + 1] - cu[s]).Where(r => (r - cu[s] + 1) % blockM <= 1))
                .OrderBy(_ => _random.Next()).Take(SampledPrefillRows / 3);
            var random = Enumerable.Range(0, SampledPrefillRows).Select(_ => _random.Next(tokens));
            return ends.Concat(boundaries).Concat(random).Distinct().Take(SampledPrefillRows).OrderBy(r => r).ToArray();
        }

        /// <summary>One layer's KV pool for an attention case (every slot random), the block tables into it and the reference over them.</summary>
        private sealed record PagedAttentionPool(Array Pool, int[] Tables, int MaxBlocks, float[]? Fp8Scales, PagedAttentionReference Reference, long ContextBytes)
        {
            /// <summary>What the decode and prefill kernels share: the tables, the context lengths and an FP8 cache's scales.</summary>
            public void Bind(KernelTestCase c, int[] contexts)
            {
                c.Input("block_tables", Tables).Input("context_lens", contexts);
                if (Fp8Scales != null) c.Input("kv_scale", Fp8Scales);
                c.Scalars["max_blocks"] = MaxBlocks;
            }
        }

        /// <summary>
        /// A pool with room for the contexts and 3 blocks more, handed out a slice at a time round-robin over the sequences,
        /// so each table jumps around the pool. fp16/bf16 slots are normal activations; FP8 ones every finite code, with
        /// random K and V scales.
        /// </summary>
        private PagedAttentionPool PagedPool(int heads, int kvHeads, int d, DType kvDType, int blockSize, int[] contexts)
        {
            var layout = new KvCacheLayout(1, kvHeads, d, blockSize, kvDType);
            int sequences = contexts.Length, blocks = contexts.Sum(layout.BlocksFor) + 3;
            var manager = new KvBlockManager(layout, blocks);
            for (int s = 0; s < sequences; s++) manager.Add(s);
            var remaining = (int[])contexts.Clone();
            while (remaining.Any(r => r > 0))
                for (int s = 0; s < sequences; s++)
                {
                    int take = Math.Min(remaining[s], blockSize * (1 + _random.Next(3)));
                    if (take == 0) continue;
                    manager.Append(s, take);
                    remaining[s] -= take;
                }
            int maxBlocks = contexts.Max(layout.BlocksFor);
            var tables = new int[sequences * maxBlocks];
            manager.WriteBlockTables(Enumerable.Range(0, sequences).ToArray(), tables, maxBlocks);

            bool fp8 = kvDType is DType.F8E4M3 or DType.F8E5M2;
            long elements = layout.LayerBlockBytes * blocks / layout.ElementBytes;
            Array pool = fp8 ? Fp8Codes(elements, kvDType) : Activations(elements, 1.0);
            var scales = fp8 ? Scales(2, 0.5f, 2.0f) : null;
            var reference = new PagedAttentionReference(heads, _codec, layout, tables, maxBlocks, scales ?? new[] { 1.0f, 1.0f });
            return new PagedAttentionPool(pool, tables, maxBlocks, scales, reference, contexts.Sum(x => (long)x) * layout.LayerBlockBytes / blockSize);
        }
    }
}
