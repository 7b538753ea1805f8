using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Graph;
using GraphCompiler.Spec;

namespace GraphCompiler.Kernels.Attention
{
    /// <summary>
    /// FlashAttention-2 prefill (<see cref="PrefillAttentionEmitter"/>): jobs of block_m query rows of one head, the ragged
    /// batch's query tiles ("q_blocks") × query heads, shared out over persistent CTAs ("prefill_ctas": <see cref="Ctas"/>);
    /// the runtime lists the tiles (<see cref="TileJobs"/>) and supplies the zeroed ticket and counts (<see cref="SyncInts"/>).
    /// </summary>
    public static class PrefillAttentionFamily
    {
        public static KernelSource Plan(PrefillAttentionKernel k, ArchTiles tiles)
        {
            var t = tiles.PrefillAttention;
            string? unsupported = PrefillAttentionEmitter.Unsupported(k);
            var launch = new LaunchShape(GridExtent.Of("prefill_ctas"), GridExtent.One, GridExtent.One, t.Warps * 32,
                PrefillAttentionEmitter.SharedMemoryBytes(k, t)) { Persistent = true };
            return unsupported is null
                ? PrefillAttentionEmitter.Emit(k, tiles, launch)
                : new KernelSource(k.Name, k.Family, k.Summary, tiles.Arch.Name, null, EquatableArray<KernelParameter>.Empty, launch, unsupported);
        }

        /// <summary>
        /// The step's query tiles as (sequence &lt;&lt; 16) | tile, longest causal work first (the tile's last query position,
        /// which is how many keys it reads): the kernel's rounds of jobs alternate direction over this order, so each CTA's
        /// long jobs pair with short ones.
        /// </summary>
        /// <param name="newTokens">New tokens of each sequence in this step.</param>
        /// <param name="contexts">Each sequence's tokens after the step: cached prefix plus new.</param>
        public static int[] TileJobs(IReadOnlyList<int> newTokens, IReadOnlyList<int> contexts, int blockM)
        {
            if (newTokens.Count != contexts.Count) throw new ArgumentException("one context per sequence", nameof(contexts));
            if (newTokens.Count > MaxSequences) throw new ArgumentException($"at most {MaxSequences} sequences a step", nameof(newTokens));
            var jobs = new List<(int Keys, int Sequence, int Tile)>();
            for (int s = 0; s < newTokens.Count; s++)
            {
                int tiles = (newTokens[s] + blockM - 1) / blockM, prefix = contexts[s] - newTokens[s];
                if (newTokens[s] < 0 || prefix < 0) throw new ArgumentException($"sequence {s}: {newTokens[s]} new tokens in a context of {contexts[s]}", nameof(contexts));
                if (tiles > MaxSequences) throw new ArgumentException($"sequence {s}: {tiles} query tiles; at most {MaxSequences}", nameof(newTokens));
                for (int t = 0; t < tiles; t++) jobs.Add((prefix + Math.Min(newTokens[s], (t + 1) * blockM), s, t));
            }
            return jobs.OrderByDescending(j => j.Keys).ThenBy(j => j.Sequence).ThenBy(j => j.Tile).Select(j => j.Sequence << 16 | j.Tile).ToArray();
        }

        /// <summary>The most query tiles a step of <paramref name="tokens"/> new tokens over <paramref name="sequences"/> sequences
        /// can have: one per block_m tokens, plus one partial tile per further sequence.</summary>
        public static int MaxQueryTiles(int tokens, int sequences, int blockM) => (tokens + blockM - 1) / blockM + sequences - 1;

        /// <summary>Sequences a step, and query tiles a sequence, that a tile job can name (16 bits each).</summary>
        public const int MaxSequences = 1 << 16;

        /// <summary>The sync ints a launch needs: the write ticket, the write jobs done, the CTAs finished.</summary>
        public const int SyncInts = 3;

        /// <summary>
        /// The launch's CTAs: one per job up to as many as the GPU holds at once (<paramref name="residentCtasPerSm"/> on each
        /// of <paramref name="multiprocessors"/>). Each CTA takes a fixed share of the jobs, so a CTA that had to wait for a
        /// slot would start its whole share late: the count must not exceed what is resident.
        /// </summary>
        public static int Ctas(int qBlocks, int heads, int multiprocessors, int residentCtasPerSm) =>
            (int)Math.Max(1, Math.Min((long)qBlocks * heads, (long)multiprocessors * Math.Max(1, residentCtasPerSm)));

        /// <summary>The <c>rope</c> scratch of a step of <paramref name="tokens"/> new tokens: a (cos, sin) pair of
        /// activation-dtype values (4 bytes) per rotation pair of each token.</summary>
        public static long RopeBytes(int tokens, int headDim) => (long)tokens * (headDim / 2) * 4;
    }

    /// <summary>
    /// Paged decode attention: one CTA per (KV head, sequence and query chunk, context split), so every query head of a GQA
    /// group reads each KV byte once a chunk; splits from the spec or, at 0, chosen per launch (<see cref="DecodeAttentionEmitter"/>).
    /// Grid y is "query_chunks": S × <see cref="DecodeQueries.ChunksFor"/> the step's most tokens a sequence (the
    /// step_tokens parameter, which also sizes the launch's shared memory).
    /// </summary>
    public static class DecodeAttentionFamily
    {
        public static KernelSource Plan(DecodeAttentionKernel k, ArchTiles tiles)
        {
            var t = tiles.Decode(k.Tiles);
            string? unsupported = DecodeAttentionEmitter.Unsupported(k) ?? DecodeAttentionEmitter.TilesUnsupported(k, t);
            var launch = new LaunchShape(GridExtent.Constant(k.KvHeads), GridExtent.Of("query_chunks"),
                t.Splits > 0 ? GridExtent.Constant(t.Splits) : GridExtent.Of("splits"), t.Warps * 32,
                unsupported is null ? DecodeAttentionEmitter.SharedMemoryBytes(k, t, tiles.Arch) : 0)
            {
                ClusterSpansZ = MergesInCluster(tiles.Arch),
                Growth = new SharedMemoryGrowth("step_tokens", DecodeAttentionTiles.StepTokenBytes(k.HeadDim, k.Queries), DecodeQueries.MaxStepTokens),
            };
            return unsupported is null
                ? DecodeAttentionEmitter.Emit(k, tiles, launch)
                : new KernelSource(k.Name, k.Family, k.Summary, tiles.Arch.Name, null, EquatableArray<KernelParameter>.Empty, launch, unsupported);
        }

        /// <summary>
        /// The kernel a decode step launches: <paramref name="k"/>'s wide twin where the architecture has wide tiles and
        /// their CTAs hold the step's (KV head, query chunk) pairs at once, one CTA a pair, in one wave; else
        /// <paramref name="k"/>, whose narrow CTAs fill the GPU with more splits or take many sequences in one wave (H200,
        /// FP8 cache, 64 × 1024: 512 pairs, 36.5 µs on 4 warps a CTA, 39.5 on 8).
        /// </summary>
        /// <param name="queryChunks">The launch's CTAs along y: sequences × <see cref="DecodeQueries.ChunksFor"/> their most step tokens.</param>
        public static DecodeAttentionKernel ForStep(DecodeAttentionKernel k, ArchTiles tiles, int queryChunks, int multiprocessors, int stepTokens = 1) =>
            !k.Wide && WideServes(k, tiles, queryChunks, multiprocessors, stepTokens) ? k.WideTwin() : k;

        /// <summary>Whether <paramref name="tiles"/> have wide tiles whose CTAs hold the step's pairs at once (<see cref="ForStep"/>).</summary>
        public static bool WideServes(DecodeAttentionKernel k, ArchTiles tiles, int queryChunks, int multiprocessors, int stepTokens = 1) =>
            tiles.DecodeAttentionWide is { } wide
            && (long)k.KvHeads * queryChunks <= (long)multiprocessors * ResidentCtasPerSm(k, wide, tiles.Arch, stepTokens);

        /// <summary>Whether the splits of a (sequence, KV head) form one thread-block cluster and merge through its shared
        /// memory (sm_90+), so a launch has at most <see cref="GpuArch.ClusterCtasMax"/> splits; else they merge through
        /// global memory (decode_split_partials, decode_split_counters).</summary>
        public static bool MergesInCluster(GpuArch arch) => arch.HasClusters;

        /// <summary>The largest cluster the splits merge in (1: none, they merge through global memory).</summary>
        public static int MergeClusterCtas(GpuArch arch) => MergesInCluster(arch) ? arch.ClusterCtasMax : 1;

        /// <summary>The split partials the global merge (below sm_90) reads, decode_split_partials: per step token, query head
        /// and split an output row in the activation dtype, then every row's (max, sum) in fp32.</summary>
        public static long SplitPartialBytes(int tokens, int heads, int headDim, DType activation, int splits) =>
            (long)tokens * heads * splits * (headDim * activation.SizeInBytes() + 8);

        /// <summary>Splits a launch may have: a cluster's CTAs where the splits merge in one.</summary>
        public static int MaxSplits(GpuArch arch) => MergesInCluster(arch) ? arch.ClusterCtasMax : int.MaxValue;

        /// <summary>Fewest block_n tiles of context a split takes: below that the split merge costs more than the extra CTAs
        /// win (H200, llama2-70b, one sequence of 4096: 16 splits of 4 tiles 18.2 µs, 33 of 2 21.2 µs, 64 of 1 35.5 µs).</summary>
        public const int MinTilesPerSplit = 4;

        /// <summary>The kernel's CTAs an SM holds at once in a launch whose sequences bring up to <paramref name="stepTokens"/>
        /// tokens (its shared memory grows with them), from the tiles' register estimate and its threads.</summary>
        public static int ResidentCtasPerSm(DecodeAttentionKernel k, DecodeAttentionTiles t, GpuArch arch, int stepTokens = 1) =>
            arch.ResidentCtas(t.Warps * 32, t.RegistersPerThread(k.HeadDim, k.Queries), DecodeAttentionEmitter.SharedMemoryBytes(k, t, arch, stepTokens));

        /// <summary>
        /// Context splits when the spec leaves them to the runtime (0): where the step's (KV head, query chunk) pairs leave
        /// resident CTA slots free, as many splits as fill them once without a second wave (a partial wave costs as much as a
        /// full one), each split at least <see cref="MinTilesPerSplit"/> tiles of the longest context, at most
        /// <see cref="MaxSplits"/>. Where the splits merge in a cluster, the pairs' clusters must all be resident at once as
        /// well, which the SMs' slots alone do not promise (a cluster's CTAs share one GPC): <paramref name="clustersAtOnce"/>
        /// gives the GPU's count for a cluster size and step tokens (the driver's occupancy query at the launch's shared
        /// memory), and the splits come down until they fit (H200, fp16 cache, 2 × 4096: 16 clusters of 16 where 15 fit took
        /// 24.4 µs against 17.0 for the global merge). Slots and clusters are those of the launch's own shared memory, which
        /// grows with <paramref name="stepTokens"/>: a verification step's CTAs may fit fewer to an SM than a decode step's.
        /// The wide twin's splits fill the SMs once, a CTA each: its stages keep an SM's loads in flight on their own, and a
        /// second CTA an SM would only add splits and their merge (H200, FP8 cache, 16 × 2048 on 128 × 8 warps × 3 stages:
        /// one split 20.7 µs, two 21.9).
        /// </summary>
        /// <param name="queryChunks">The launch's CTAs along y: sequences × <see cref="DecodeQueries.ChunksFor"/> their most step tokens.</param>
        /// <param name="stepTokens">The most tokens a sequence brings to the step (the kernel's step_tokens).</param>
        /// <param name="clustersAtOnce">Clusters of (cluster CTAs, step tokens) the GPU holds at once, or null.</param>
        public static int ChooseSplits(DecodeAttentionKernel k, DecodeAttentionTiles t, GpuArch arch, int queryChunks, int longestContext, int multiprocessors,
            int stepTokens = 1, Func<int, int, int>? clustersAtOnce = null)
        {
            if (t.Splits > 0) return t.Splits;
            int pairs = k.KvHeads * queryChunks, tiles = (longestContext + t.BlockN - 1) / t.BlockN;
            int slots = multiprocessors * (k.Wide ? 1 : ResidentCtasPerSm(k, t, arch, stepTokens));
            int splits = Math.Max(1, Math.Min(Math.Min(slots / pairs, tiles / MinTilesPerSplit), MaxSplits(arch)));
            if (MergesInCluster(arch) && clustersAtOnce != null)
                while (splits > 1 && clustersAtOnce(splits, stepTokens) < pairs) splits--;
            return splits;
        }
    }
}
