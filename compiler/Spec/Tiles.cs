using System;
using GraphCompiler.Common;

namespace GraphCompiler.Spec
{
    /// <summary>The kernel families whose launch shape the spec's `tiles:` section sets, by their spec key.</summary>
    public enum TileFamily
    {
        PrefillAttention,
        DecodeAttention,
        DecodeAttentionWide,
        GemmDenseDecode,
        GemmDenseDecodeBatch,
        GemmDensePrefill,
        GemmInt4Decode,
        GemmInt4DecodeBatch,
        GemmInt4Prefill,
        GemmFp8Decode,
        GemmFp8DecodeBatch,
        GemmFp8Prefill,
        Elementwise,
    }

    public static class TileFamilies
    {
        public static readonly TileFamily[] All = (TileFamily[])Enum.GetValues(typeof(TileFamily));

        public static string SpecName(this TileFamily family) => family switch
        {
            TileFamily.PrefillAttention => "prefill_attention",
            TileFamily.DecodeAttention => "decode_attention",
            TileFamily.DecodeAttentionWide => "decode_attention_wide",
            TileFamily.GemmDenseDecode => "gemm_dense_decode",
            TileFamily.GemmDenseDecodeBatch => "gemm_dense_decode_batch",
            TileFamily.GemmDensePrefill => "gemm_dense_prefill",
            TileFamily.GemmInt4Decode => "gemm_int4_decode",
            TileFamily.GemmInt4DecodeBatch => "gemm_int4_decode_batch",
            TileFamily.GemmInt4Prefill => "gemm_int4_prefill",
            TileFamily.GemmFp8Decode => "gemm_fp8_decode",
            TileFamily.GemmFp8DecodeBatch => "gemm_fp8_decode_batch",
            TileFamily.GemmFp8Prefill => "gemm_fp8_prefill",
            TileFamily.Elementwise => "elementwise",
            _ => throw new ArgumentOutOfRangeException(nameof(family)),
        };

        /// <summary>The step a family runs in, "decode" or "prefill" (null for the elementwise kernels, which run in both).</summary>
        public static string? Phase(this TileFamily family) => family switch
        {
            TileFamily.PrefillAttention => "prefill",
            TileFamily.DecodeAttention or TileFamily.DecodeAttentionWide => "decode",
            TileFamily.Elementwise => null,
            _ => family.IsDecodeGemm() ? "decode" : "prefill",
        };

        public static bool IsGemm(this TileFamily family) =>
            family is not (TileFamily.PrefillAttention or TileFamily.DecodeAttention or TileFamily.DecodeAttentionWide or TileFamily.Elementwise);

        /// <summary>A decode-attention family: the spec's tiles for every step, or their wide twin for steps of few sequences.</summary>
        public static bool IsDecodeAttention(this TileFamily family) => family is TileFamily.DecodeAttention or TileFamily.DecodeAttentionWide;

        /// <summary>A GEMM family of decode steps: the few-row tiles, or their twin for steps of many sequences.</summary>
        public static bool IsDecodeGemm(this TileFamily family) =>
            family is TileFamily.GemmDenseDecode or TileFamily.GemmInt4Decode or TileFamily.GemmFp8Decode || family.IsDecodeBatch();

        /// <summary>
        /// The twin of a decode GEMM family for decode steps with more rows than its block_m (a batch of many sequences):
        /// wider tiles dequantize and read each weight once for up to their block_m rows, where the few-row tiles would do
        /// so once per block_m rows.
        /// </summary>
        public static TileFamily Batch(this TileFamily decode) => decode switch
        {
            TileFamily.GemmDenseDecode => TileFamily.GemmDenseDecodeBatch,
            TileFamily.GemmInt4Decode => TileFamily.GemmInt4DecodeBatch,
            TileFamily.GemmFp8Decode => TileFamily.GemmFp8DecodeBatch,
            _ => throw new ArgumentOutOfRangeException(nameof(decode), decode, "not a few-row decode GEMM family"),
        };

        /// <summary>The few-row decode family a batch family is the twin of.</summary>
        public static TileFamily FewRow(this TileFamily batch) => batch switch
        {
            TileFamily.GemmDenseDecodeBatch => TileFamily.GemmDenseDecode,
            TileFamily.GemmInt4DecodeBatch => TileFamily.GemmInt4Decode,
            TileFamily.GemmFp8DecodeBatch => TileFamily.GemmFp8Decode,
            _ => throw new ArgumentOutOfRangeException(nameof(batch), batch, "not a decode batch GEMM family"),
        };

        /// <summary>
        /// The family a step of <paramref name="rows"/> rows runs a GEMM of <paramref name="family"/> on: a few-row decode
        /// family hands steps with more rows than its block_m to its batch twin; every other family keeps them.
        /// </summary>
        public static TileFamily ForRows(this TileFamily family, ArchTiles tiles, int rows) =>
            family.IsDecodeGemm() && !family.IsDecodeBatch() && rows > tiles.Gemm(family).BlockM ? family.Batch() : family;

        public static bool IsDecodeBatch(this TileFamily family) =>
            family is TileFamily.GemmDenseDecodeBatch or TileFamily.GemmInt4DecodeBatch or TileFamily.GemmFp8DecodeBatch;

        /// <summary>Whether <paramref name="family"/> runs GEMMs of weights quantized with <paramref name="method"/>.</summary>
        public static bool Runs(this TileFamily family, QuantMethod method) =>
            GemmFamily(method, prefill: true) == family || GemmFamily(method, prefill: false) == family || GemmFamily(method, prefill: false).Batch() == family;

        /// <summary>The GEMM family that runs a scheme in a phase (decode: M ≤ max_num_seqs; prefill: large M).</summary>
        public static TileFamily GemmFamily(QuantMethod method, bool prefill) => method switch
        {
            QuantMethod.Int4 => prefill ? TileFamily.GemmInt4Prefill : TileFamily.GemmInt4Decode,
            QuantMethod.Fp8E4M3 => prefill ? TileFamily.GemmFp8Prefill : TileFamily.GemmFp8Decode,
            _ => prefill ? TileFamily.GemmDensePrefill : TileFamily.GemmDenseDecode,
        };
    }

    /// <summary>The tensor-core instruction a prefill-attention tile computes with.</summary>
    public enum AttentionMma
    {
        /// <summary>mma.sync m16n8k16 (sm_80+): each warp owns 16-row MMA tiles of queries, operands through ldmatrix.</summary>
        MmaSync,
        /// <summary>wgmma m64nNk16 (sm_90a): each warpgroup of four warps owns 64 query rows, Q and K/V read by the tensor
        /// cores from shared memory through descriptors, P from registers.</summary>
        Wgmma,
        /// <summary>wgmma with warp specialization (FlashAttention-3's layout, <c>wgmma_ws</c>): warpgroup 0 loads the K/V
        /// tiles on few registers, the other warpgroups compute on many (setmaxnreg), each issuing tile j + 1's Q·Kᵀ with
        /// tile j's P·V and running its softmax while both are on the tensor cores, the warpgroups taking turns to issue.</summary>
        WgmmaWarpSpecialized,
    }

    /// <summary>FlashAttention-2 prefill: query rows per job (a CTA's at a time), K/V rows per step, warps (split along queries), cp.async
    /// stages, the MMA instruction (<c>mma: mma_sync | wgmma | wgmma_ws</c>), and where wgmma's Q·Kᵀ takes Q from
    /// (<c>q_operand: shared | registers</c>: <see cref="QInRegisters"/>).</summary>
    /// <param name="QInRegisters">wgmma's Q·Kᵀ takes Q as register fragments, loaded once a query tile, instead of reading
    /// it from shared memory every tile: at block_n 64 a third of the products' shared-memory reads (H200: +0.5–3% where it
    /// does not spill, 8–12% slower where it does).</param>
    public sealed record PrefillAttentionTiles(int BlockM, int BlockN, int Warps, int Stages, AttentionMma Mma = AttentionMma.MmaSync, bool QInRegisters = false)
    {
        /// <summary>Bytes of slack to start the wgmma tiles on a 1024-byte boundary, where the 128-byte swizzle pattern repeats.</summary>
        public const int WgmmaAlignment = 1024;

        /// <summary>wgmma with four stages or more: the stages become a ring of mbarriers (a stage is full when every
        /// thread's copies of its tile have landed, empty when every warp's products have read it) instead of a block barrier
        /// a tile, so warpgroups drift apart and one's softmax overlaps another's products; tiles are issued stages − 2
        /// ahead. An FP8 cache widens into <see cref="RingWidened"/> K/V pairs.</summary>
        public bool Ring => Mma == AttentionMma.Wgmma && Stages >= 4;

        /// <summary>Widened K/V pairs of an FP8 cache in a ring: tile j + 1 is widened during tile j, after the warp has seen
        /// every warp done with tile j − 2.</summary>
        public const int RingWidened = 3;

        /// <summary>Hopper's warpgroup MMA, with or without warp specialization.</summary>
        public bool Wgmma => Mma is AttentionMma.Wgmma or AttentionMma.WgmmaWarpSpecialized;

        /// <summary>Warp specialization: the first warpgroup loads, the rest compute.</summary>
        public bool WarpSpecialized => Mma == AttentionMma.WgmmaWarpSpecialized;

        /// <summary>The loading warpgroup of warp specialization: its warps (0–3) hold no query rows.</summary>
        public const int ProducerWarps = 4;

        /// <summary>The warps that hold query rows: all of them, or all but the loading warpgroup.</summary>
        public int ComputeWarps => WarpSpecialized ? Warps - ProducerWarps : Warps;

        /// <summary>Query rows of a job each computing warp holds.</summary>
        public int WarpRows => BlockM / ComputeWarps;

        /// <summary>The warps a wgmma tiling of <paramref name="blockM"/> query rows takes: one per 16 rows (a warpgroup per
        /// 64), plus the loading warpgroup with warp specialization.</summary>
        public static int WgmmaWarps(int blockM, AttentionMma mma) =>
            blockM / 16 + (mma == AttentionMma.WgmmaWarpSpecialized ? ProducerWarps : 0);

        /// <summary>Registers a loading thread keeps after setmaxnreg (its address arithmetic and an FP8 cache's widening),
        /// NVRTC 12.4 on the 70B specs' 128 × 64 × 4 and 128 × 128 × 2 tilings: 40 spilled 8–12 bytes in the 128-key ones (24:
        /// 40); 48 leaves 4 bytes in the fp16 128-key one only, 56 none there but 4 in FP8's 128 × 64. The computing threads of
        /// 12 warps get 224 at 48 or 56; a spill in the loaders, which mostly wait, cost nothing measurable on the H200.</summary>
        public const int ProducerRegisters = 48;

        /// <summary>Registers a computing thread takes after setmaxnreg: what the loading warpgroup gives up, shared out in
        /// setmaxnreg's steps of 8, at most 240.</summary>
        public int ConsumerRegisters => Math.Min(240, (GpuArch.RegistersPerSm / (Warps * 32) / 8 * 8 * Warps * 32 - ProducerWarps * 32 * ProducerRegisters) / (ComputeWarps * 32) / 8 * 8);

        /// <summary>Widened K/V pairs of an FP8 cache: one for the block-barrier loop, three in a ring, one a stage with warp
        /// specialization (the stage's empty barrier frees both).</summary>
        public int WidenedPairs => Ring ? RingWidened : WarpSpecialized ? Stages : 1;

        /// <summary>
        /// The Q tile (2-byte activations) and <see cref="Stages"/> K and V tiles as the cache stores them; an FP8 cache
        /// (1-byte elements) adds the current K and V tiles widened to the activation dtype (three pairs in a ring); wgmma
        /// tiles the alignment slack.
        /// </summary>
        public int SharedMemoryBytes(int headDim, int cacheElementBytes) =>
            2 * BlockM * headDim + Stages * 2 * BlockN * headDim * cacheElementBytes
            + (cacheElementBytes == 1 ? WidenedPairs * 2 * BlockN * headDim * 2 : 0) + (Wgmma ? WgmmaAlignment : 0);

        /// <summary>Query rows of one write job (a query tile's new K and V rows of one KV head into the cache): a quarter of
        /// the CTA's threads, rounded down to a power of two that divides block_m, so a thread's loads of a job are a few 16-byte
        /// vectors issued together, and the write jobs of a short step still reach every CTA (S = 1024 on llama2-70b: 8 query
        /// tiles × 8 KV heads, 64 jobs of 128 rows, would keep 200 of mma.sync's 264 CTAs waiting).</summary>
        public int WriteRows
        {
            get
            {
                int rows = 8;
                while (rows * 2 <= Warps * 8 && BlockM % (rows * 2) == 0) rows *= 2;
                return rows;
            }
        }

        /// <summary>Query rows a warp stages the RoPE angles of at once in the block-barrier loop (mma.sync, and wgmma below
        /// four stages) over an fp16 or bf16 cache: a job's Q is copied in with its angles, and the angles go to the K/V stage
        /// the job's first tiles leave free, the last. A row of angles ((cos, sin) pairs of 2-byte halves) is head_dim × 2
        /// bytes, as a K or V row is, so the stage holds 2 × block_n rows of them. A warp's rows where every warp's fit (the
        /// 70B specs' 128 × 64 × 4), else the largest divisor of them that does, in rounds (a row a warp always fits:
        /// 2 × block_n ≥ 32 rows, a CTA at most 32 warps).</summary>
        public int QRoundRows
        {
            get
            {
                int rows = WarpRows;
                while (rows > 1 && (WarpRows % rows != 0 || ComputeWarps * rows > 2 * BlockN)) rows--;
                return rows;
            }
        }

        /// <summary>The spec's flow mapping of these tiles, as `graphc tune` writes it.</summary>
        public string FlowMapping() =>
            $"{{ block_m: {BlockM}, block_n: {BlockN}, warps: {Warps}, stages: {Stages}" + Mma switch
            {
                AttentionMma.Wgmma => ", mma: wgmma",
                AttentionMma.WgmmaWarpSpecialized => ", mma: wgmma_ws",
                _ => "",
            } + (QInRegisters ? ", q_operand: registers }" : " }");

        /// <summary>Per computing thread: the O accumulator and the S = Q·Kᵀ block in fp32 (P reuses S), plus addressing and
        /// softmax state; wgmma holds P apart from S until its product is done (calibrated on ptxas: 157 registers for 128 ×
        /// 64 at head_dim 128), and with warp specialization tile j − 1's P while tile j's S is on the tensor cores. Q's
        /// fragments in registers are head_dim / 4 more, but ptxas finds most of them elsewhere (165 → 168 on the 192 × 64
        /// ring at head_dim 128, no spill), so they count head_dim / 16.</summary>
        public int RegistersPerThread(int headDim)
        {
            int accumulators = WarpRows * headDim / 32 + WarpRows * BlockN / 32;
            return Mma switch
            {
                AttentionMma.Wgmma or AttentionMma.WgmmaWarpSpecialized => accumulators + BlockN / 4 + 48 + (QInRegisters ? headDim / 16 : 0),   // S, P and O
                _ => accumulators + 32,
            };
        }
    }

    /// <summary>
    /// The query columns of a decode-attention CTA: a GQA group's heads for each of the step tokens it takes. A sequence
    /// brings 1 to <see cref="MaxStepTokens"/> tokens to a decode step (its next one, then draft tokens to verify); the
    /// MMA's 8-column tiles the group fills hold as many whole tokens as fit (at least one), and a sequence's tokens past
    /// them go to further CTAs along y.
    /// </summary>
    public readonly struct DecodeQueries
    {
        /// <summary>Query tokens a sequence may bring to one decode step: speculative verification's 1 + draft tokens.</summary>
        public const int MaxStepTokens = 8;

        public DecodeQueries(int queryHeadsPerKvHead) => Group = queryHeadsPerKvHead;

        /// <summary>Query heads per KV head.</summary>
        public int Group { get; }

        /// <summary>8-column MMA tiles a CTA's queries fill: those of one token's group.</summary>
        public int ColumnTiles => (Group + 7) / 8;

        /// <summary>Step tokens a CTA takes: as many whole groups as its column tiles hold, at most <see cref="MaxStepTokens"/>.</summary>
        public int TokensPerCta => Math.Max(1, Math.Min(MaxStepTokens, 8 * ColumnTiles / Group));

        /// <summary>Query columns a CTA uses at most: its tokens × the group.</summary>
        public int Columns => TokensPerCta * Group;

        /// <summary>CTAs along y a sequence takes in a step whose longest sequence brings <paramref name="stepTokens"/> tokens.</summary>
        public int ChunksFor(int stepTokens) => (stepTokens + TokensPerCta - 1) / TokensPerCta;
    }

    /// <summary>Paged decode attention (flash-decoding): positions per CTA step (warps split them), warps, a warp's cp.async stages, context splits (0 = chosen per batch).</summary>
    public sealed record DecodeAttentionTiles(int BlockN, int Warps, int Stages, int Splits)
    {
        /// <summary>Positions of one warp's tile.</summary>
        public int WarpKeys => BlockN / Math.Max(1, Warps);

        /// <summary>A warp's region: its stages of K and V tiles as the cache stores them (FP8 codes are widened in
        /// registers), or its partial result [8 · column tiles][PartStride] fp32 where that is larger.</summary>
        public int WarpBytes(int headDim, DecodeQueries q, int cacheElementBytes) =>
            Math.Max(Stages * 2 * WarpKeys * headDim * cacheElementBytes, 8 * q.ColumnTiles * PartStride(headDim) * 4);

        /// <summary>
        /// The first rule block_n and warps break over cache blocks of <paramref name="blockSize"/> tokens, as a diagnostic id
        /// and message, or null: a step reads whole pages, each warp's tile is whole 16-position MMA steps, and it lies in at
        /// most 32 blocks (their ids ride in a warp's lanes). The validator reports it at the spec's block_n; the emitter
        /// refuses tiles that did not come through it (a tuning candidate).
        /// </summary>
        public (string Id, string Message)? BlockNRule(int blockSize)
        {
            if (BlockN % 16 != 0)
                return (SpecDiagnosticIds.TileMmaShape, $"block_n {BlockN} must be a multiple of 16");
            if (BlockN % blockSize != 0 && blockSize % BlockN != 0)
                return (SpecDiagnosticIds.TileDoesNotDivideShape, $"block_n {BlockN} and kv_cache.block_size {blockSize} must divide one another, so a step reads whole pages");
            if (Warps > 0 && BlockN % (16 * Warps) != 0)
                return (SpecDiagnosticIds.TileMmaShape, $"block_n {BlockN} must be a multiple of 16 × warps = {16 * Warps}: each warp takes tiles of whole 16-position MMA steps");
            if (Warps > 0 && Kernels.Attention.FlashTile.TileSpan(WarpKeys, blockSize) is var span && span > 32)
                return (SpecDiagnosticIds.TileDoesNotDivideShape, $"a warp's {WarpKeys} positions (block_n {BlockN} / {Warps} warps) lie in {span} cache blocks of {blockSize} tokens; at most 32 (a block id a lane): use a smaller block_n, more warps or a larger kv_cache.block_size");
            return null;
        }

        /// <summary>Of a warp's stages − 1 first tiles, how many the decode kernel issues only once the step's rows have
        /// landed: one where there are two or more. Every CTA's first tiles go out at once, and what queues ahead of the
        /// rows delays them, while the prologue waits on the rows (H200, 3 stages, 16 × 2048: 20.3 µs against 21.0 with
        /// 256 × 8 warps, FP8 cache; fp16 34.8 against 35.8, and 9.9 against 10.7 at 1 × 4096). With 2 stages the one
        /// first tile goes at once.</summary>
        public static int HeldBack(int stages) => stages >= 3 ? 1 : 0;

        /// <summary>Floats a column of a warp's partial result takes: its O (d), max and sum, padded so that each column's
        /// row starts on a 16-byte boundary (the merge reads eight dimensions at a time).</summary>
        public static int PartStride(int headDim) => headDim + 4;

        /// <summary>The CTA's queries (2-byte activations, 8-column MMA tiles), every warp's region (its stages, then its
        /// partial result; without clusters, in the last split, the other splits' partials), the CTA's query rows as they
        /// are (2-byte activations; without clusters, the last split's merge puts the splits' (max, sum) there); where the
        /// splits merge in a thread-block cluster
        /// of at most <paramref name="clusterCtas"/> CTAs (1: through global memory), then from a 16-byte boundary
        /// (<see cref="ClusterStagingAt"/>) what the other splits push (<see cref="ClusterStagingBytes"/>); last, from
        /// <see cref="StepTokensAt"/>, <see cref="StepTokenBytes"/> for each of the launch's <paramref name="stepTokens"/>
        /// (the most a sequence brings), so a step of one token a sequence takes no more than it needs.</summary>
        public int SharedMemoryBytes(int headDim, DecodeQueries q, int cacheElementBytes, int clusterCtas, int stepTokens = 1) =>
            StepTokensAt(headDim, q, cacheElementBytes, clusterCtas) + stepTokens * StepTokenBytes(headDim, q);

        /// <summary>Where a cluster-merging CTA's staging starts: past its own shared memory, on a 16-byte boundary.</summary>
        public int ClusterStagingAt(int headDim, DecodeQueries q, int cacheElementBytes) =>
            (LocalBytes(headDim, q, cacheElementBytes) + 15) / 16 * 16;

        /// <summary>A CTA's share of the output is every splits-th item (8 dimensions of one column: columns · d / 8 items),
        /// and every split pushes its 8 fp32 per item there: at most (items + clusterCtas − 1) rows of 32 bytes. Then every
        /// split's (max, sum) fp32 per column [columns][clusterCtas].</summary>
        public static int ClusterStagingBytes(int headDim, DecodeQueries q, int clusterCtas) =>
            (q.Columns * headDim / 8 + clusterCtas - 1) * 32 + q.Columns * clusterCtas * 8;

        /// <summary>Where the step tokens' part starts: past the staging (or the CTA's own part), on a 16-byte boundary.</summary>
        public int StepTokensAt(int headDim, DecodeQueries q, int cacheElementBytes, int clusterCtas) =>
            clusterCtas > 1
                ? (ClusterStagingAt(headDim, q, cacheElementBytes) + ClusterStagingBytes(headDim, q, clusterCtas) + 15) / 16 * 16
                : ClusterStagingAt(headDim, q, cacheElementBytes);

        /// <summary>A step token's part: its K and V rows (2-byte activations, then in place what the cache holds of them),
        /// every column's score against it in parts [columns][at most d / 16] fp32, its RoPE cos and sin [d / 2] fp32 each.</summary>
        public static int StepTokenBytes(int headDim, DecodeQueries q) => 2 * headDim * 2 + q.Columns * (headDim / 16) * 4 + headDim * 4;

        /// <summary>The CTA's query rows (2-byte activations).</summary>
        public static int QueryRowBytes(int headDim, DecodeQueries q) => q.Columns * headDim * 2;

        private int LocalBytes(int headDim, DecodeQueries q, int cacheElementBytes) =>
            8 * q.ColumnTiles * headDim * 2 + Warps * WarpBytes(headDim, q, cacheElementBytes) + QueryRowBytes(headDim, q);

        /// <summary>Per 8-column tile the Qᵀ fragments (d / 8), the Oᵀ accumulators (d / 4) and the Sᵀ ones (a quarter
        /// of the warp's keys), plus fragments and addressing.</summary>
        public int RegistersPerThread(int headDim, DecodeQueries q) => q.ColumnTiles * (headDim / 8 + headDim / 4 + WarpKeys / 4) + 42;
    }

    /// <summary>A tiled GEMM: output tile BlockM×BlockN, K step BlockK, warps, cp.async stages, split-K (0 = chosen per shape).</summary>
    public sealed record GemmTiles(int BlockM, int BlockN, int BlockK, int Warps, int Stages, int SplitK)
    {
        /// <summary>
        /// Bytes per pipeline stage of the A (activation) and B (weight) tiles; INT4 adds one row of scales and zeros
        /// per group the K step touches (GemmEmitter.SharedMemoryBytes is exact per scheme; this bound serves validation).
        /// </summary>
        public int SharedMemoryBytes(TileFamily family, int groupSize)
        {
            int a = BlockM * (BlockK + 8) * 2;   // fp16/bf16 rows (FP8 inputs are widened as they load), padded by 16 bytes
            int stage = family switch
            {
                TileFamily.GemmInt4Decode or TileFamily.GemmInt4DecodeBatch or TileFamily.GemmInt4Prefill =>
                    a + BlockK * BlockN / 2 + Math.Max(1, BlockK / Math.Max(1, groupSize)) * BlockN * 4,
                TileFamily.GemmFp8Decode or TileFamily.GemmFp8DecodeBatch or TileFamily.GemmFp8Prefill => a + BlockK * BlockN,
                _ => a + BlockK * BlockN * 2,
            };
            return Stages * stage;
        }

        /// <summary>The fp32 accumulator tile spread over the CTA's threads, plus double-buffered fragments and addressing.</summary>
        public int RegistersPerThread() => BlockM * BlockN / (Warps * 32) + 64;
    }

    /// <summary>Row-wise elementwise kernels (norms, RoPE, SwiGLU, gathers): threads per block.</summary>
    public sealed record ElementwiseTiles(int Threads);

    /// <summary>All tile choices for one architecture; <see cref="FromSpec"/> says whether the spec named it or the defaults filled it.</summary>
    public sealed record ArchTiles(
        GpuArch Arch,
        bool FromSpec,
        PrefillAttentionTiles PrefillAttention,
        DecodeAttentionTiles DecodeAttention,
        GemmTiles GemmDenseDecode,
        GemmTiles GemmDenseDecodeBatch,
        GemmTiles GemmDensePrefill,
        GemmTiles GemmInt4Decode,
        GemmTiles GemmInt4DecodeBatch,
        GemmTiles GemmInt4Prefill,
        GemmTiles GemmFp8Decode,
        GemmTiles GemmFp8DecodeBatch,
        GemmTiles GemmFp8Prefill,
        ElementwiseTiles Elementwise)
    {
        /// <summary>
        /// decode_attention's twin for decode steps of few sequences (<c>decode_attention_wide</c>): CTAs of more warps, so a
        /// step whose (KV head, sequence) pairs leave most of the GPU's slots empty streams its context with fewer splits and
        /// fewer merges (H200, FP8 cache, 16 × 2048: a CTA of 128 × 8 warps × 3 stages a pair, 20.9 µs, against 5 splits of
        /// 64 × 4 warps, 23.7).
        /// Only a spec names it, with decode_attention's values for the keys it leaves out; null where it does not, and then
        /// decode_attention serves every step.
        /// </summary>
        public DecodeAttentionTiles? DecodeAttentionWide { get; init; }

        /// <summary>A decode-attention family's tiles.</summary>
        public DecodeAttentionTiles Decode(TileFamily family) => family switch
        {
            TileFamily.DecodeAttention => DecodeAttention,
            TileFamily.DecodeAttentionWide => DecodeAttentionWide ?? throw new InvalidOperationException($"tiles.{Arch.Name} names no decode_attention_wide"),
            _ => throw new ArgumentOutOfRangeException(nameof(family), family, "not a decode-attention family"),
        };

        /// <summary>These tiles with one decode-attention family's replaced (a tuning candidate).</summary>
        public ArchTiles WithDecode(TileFamily family, DecodeAttentionTiles tiles) => family switch
        {
            TileFamily.DecodeAttention => this with { DecodeAttention = tiles },
            TileFamily.DecodeAttentionWide => this with { DecodeAttentionWide = tiles },
            _ => throw new ArgumentOutOfRangeException(nameof(family), family, "not a decode-attention family"),
        };

        /// <summary>These tiles with one GEMM family's replaced (a tuning candidate).</summary>
        public ArchTiles WithGemm(TileFamily family, GemmTiles tiles) => family switch
        {
            TileFamily.GemmDenseDecode => this with { GemmDenseDecode = tiles },
            TileFamily.GemmDenseDecodeBatch => this with { GemmDenseDecodeBatch = tiles },
            TileFamily.GemmDensePrefill => this with { GemmDensePrefill = tiles },
            TileFamily.GemmInt4Decode => this with { GemmInt4Decode = tiles },
            TileFamily.GemmInt4DecodeBatch => this with { GemmInt4DecodeBatch = tiles },
            TileFamily.GemmInt4Prefill => this with { GemmInt4Prefill = tiles },
            TileFamily.GemmFp8Decode => this with { GemmFp8Decode = tiles },
            TileFamily.GemmFp8DecodeBatch => this with { GemmFp8DecodeBatch = tiles },
            TileFamily.GemmFp8Prefill => this with { GemmFp8Prefill = tiles },
            _ => throw new ArgumentOutOfRangeException(nameof(family), family, "not a GEMM family"),
        };

        public GemmTiles Gemm(TileFamily family) => family switch
        {
            TileFamily.GemmDenseDecode => GemmDenseDecode,
            TileFamily.GemmDenseDecodeBatch => GemmDenseDecodeBatch,
            TileFamily.GemmDensePrefill => GemmDensePrefill,
            TileFamily.GemmInt4Decode => GemmInt4Decode,
            TileFamily.GemmInt4DecodeBatch => GemmInt4DecodeBatch,
            TileFamily.GemmInt4Prefill => GemmInt4Prefill,
            TileFamily.GemmFp8Decode => GemmFp8Decode,
            TileFamily.GemmFp8DecodeBatch => GemmFp8DecodeBatch,
            TileFamily.GemmFp8Prefill => GemmFp8Prefill,
            _ => throw new ArgumentOutOfRangeException(nameof(family), family, "not a GEMM family"),
        };
    }

    /// <summary>`tiles:` for every known architecture (spec entries first, defaults for the rest).</summary>
    public sealed record TileTable(EquatableArray<ArchTiles> Archs)
    {
        public ArchTiles For(GpuArch arch)
        {
            foreach (var tiles in Archs)
                if (tiles.Arch.Name == arch.Name) return tiles;
            throw new ArgumentException("no tiles for " + arch.Name, nameof(arch));
        }
    }
}
