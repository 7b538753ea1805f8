using System;
using GraphCompiler.Common;
using GraphCompiler.Graph;
using GraphCompiler.Kernels.Elementwise;
using GraphCompiler.Spec;

namespace GraphCompiler.Kernels.Attention
{
    /// <summary>
    /// FlashAttention-2 prefill over the paged KV cache, with RoPE and the cache write fused in. One launch does both:
    /// <list type="number">
    /// <item>Write jobs, one per <see cref="PrefillAttentionTiles.WriteRows"/> rows of a (query tile, KV head): the rows'
    /// new K rotated (RoPE) and their V, rounded to kv_cache.dtype, into their blocks (the KV head 0 jobs also leave the
    /// rows' RoPE cos and sin in the <c>rope</c> scratch, so the query heads do not each compute them again), every load
    /// of a thread's items issued before any is used. Every CTA takes write jobs from a ticket until none are left, then
    /// counts the ones it did and waits for the count of all, so each job is held by a running CTA and finishes: no
    /// deadlock, whatever the scheduling.</item>
    /// <item>Attention jobs, one per (query tile, query head), in the host's order (longest causal work first). The CTAs
    /// are persistent (as many as the GPU holds at once, <see cref="PrefillAttentionFamily.Ctas"/>) and each takes a fixed
    /// share of the jobs (<c>job_of_round</c>), so it knows its next job before it ends this one: no CTA launch, ticket or
    /// flag between jobs, and on the ring and with warp specialization the next job's first K/V tiles load under this
    /// one's last. A job: the Q tile rotated (the angles the KV head 0 write jobs left), each warp its own rows, then every K/V tile
    /// of positions 0 … the tile's last query read back from the cache through the block table (the prefix of chunked
    /// prefill and the new rows alike, FP8 codes widened exactly), cp.async `stages` deep into swizzled shared memory.
    /// Warps split the queries (FA2): S = Q·Kᵀ and O += P·V on mma.sync m16n8k16 with ldmatrix, or with <c>mma: wgmma</c>
    /// (sm_90a) on warpgroups of 64 rows that the tensor cores feed from shared memory (Q from registers with
    /// <c>q_operand: registers</c>; <see cref="WarpgroupTile"/>; with four stages or more the stages are a ring of
    /// mbarriers, not a block barrier a tile), the online softmax in exp2 units (log2 e and 1/√d, and the FP8 K scale,
    /// folded into one multiply) rescales O only where a row's max moved past its reference
    /// (<see cref="FlashTile.LazyRescale"/>), P stays in registers as the A operand of P·V, and only tiles crossing the
    /// diagonal (or the context's end) are masked. O(N) memory: no score matrix leaves the registers.</item>
    /// </list>
    /// The last CTA to finish zeroes the ticket and counts for the next launch (and CUDA-graph replay). The reference is
    /// CpuAttention's rule (RoPE as ElementwiseReference.Rope; scores over the cache as it holds them); this kernel rounds
    /// P to the activation dtype for the tensor cores, as FlashAttention does.
    /// </summary>
    public static class PrefillAttentionEmitter
    {
        /// <summary>Why a prefill-attention kernel cannot be emitted, or null.</summary>
        public static string? Unsupported(PrefillAttentionKernel k) => FlashTile.Unsupported(k.HeadDim, k.WriteFp8);

        public static int SharedMemoryBytes(PrefillAttentionKernel k, PrefillAttentionTiles t) => t.SharedMemoryBytes(k.HeadDim, k.KvDType.SizeInBytes());

        public static KernelSource Emit(PrefillAttentionKernel k, ArchTiles tiles, LaunchShape launch)
        {
            var t = tiles.PrefillAttention;
            if (t.Wgmma && t.WarpRows != 16)
                throw new ArgumentException($"wgmma tiles give each computing warp 16 query rows; {t.FlowMapping()} gives {t.WarpRows} (TileValidator's GC0051)", nameof(tiles));
            bool fp8 = k.KvDType is DType.F8E4M3 or DType.F8E5M2;
            bool wgmma = t.Wgmma, ws = t.WarpSpecialized;
            var cache = CudaDialect.Of(k.KvDType);
            string tileKey = "tiles." + tiles.Arch.Name + ".prefill_attention";
            var features = PreludeFeatures.TensorCore | PreludeFeatures.L2Prefetch | (fp8 ? PreludeFeatures.Fp8 : PreludeFeatures.None) | (wgmma ? PreludeFeatures.Wgmma : PreludeFeatures.None)
                | (t.Ring || ws ? PreludeFeatures.Mbarrier | PreludeFeatures.NamedBarrier : PreludeFeatures.None);
            var b = new CudaSourceBuilder(k.Name, k.Summary, k.Activation, features)
                .HeadAndCacheConstants(k.Heads, k.KvHeads, k.HeadDim, k.BlockSize)
                .Constant("kGroup", k.Heads / k.KvHeads, "query heads per KV head (GQA)")
                .Constant("kBlockM", t.BlockM, tileKey + ".block_m: query rows per job")
                .Constant("kBlockN", t.BlockN, tileKey + ".block_n: K/V rows per step")
                .Constant("kThreads", t.Warps * 32, tileKey + (ws ? ".warps × 32: a loading warpgroup, then warps that split the queries" : ".warps × 32: warps split the queries"))
                .Constant("kStages", t.Stages, tileKey + ".stages: K/V tiles in flight")
                .Constant("kWriteRows", t.WriteRows, "query rows of a write job (PrefillAttentionTiles.WriteRows)")
                .Constant("kWriteParts", t.BlockM / t.WriteRows, "write jobs a (query tile, KV head): q_blocks × kKvHeads × kWriteParts in all")
                .Constant("kWarpRows", t.WarpRows, ws ? "query rows per computing warp" : "query rows per warp")
                .Constant("kMTiles", t.WarpRows / 16, ws ? "16-row MMA tiles per computing warp" : "16-row MMA tiles per warp")
                .Constant("kLoadChunks", k.HeadDim * cache.Bytes / 16, "16-byte chunks of a cache row")
                .Constant("kTileBytes", t.BlockN * k.HeadDim * cache.Bytes, "one K or V tile as the cache stores it")
                .Constant("kTileSpan", FlashTile.TileSpan(t.BlockN, k.BlockSize), "cache blocks a K/V tile lies in, at most")
                .Constant("kScoreScale", (float)(1.0 / Math.Sqrt(k.HeadDim) * 1.4426950408889634), "1/√head_dim · log2(e): scores in exp2 units");
            if (fp8 && t.Ring) b.Constant("kWidened", PrefillAttentionTiles.RingWidened, "widened K/V pairs: tile j + 1 is widened during tile j, once every warp is done with tile j − 2");
            if (fp8 && ws) b.Constant("kWidened", t.WidenedPairs, "widened K/V pairs: one a stage, freed with it");
            if (ws)
                b.Constant("kProducerWarps", PrefillAttentionTiles.ProducerWarps, "the loading warpgroup: warps 0–3")
                 .Constant("kProducerRegisters", PrefillAttentionTiles.ProducerRegisters, "a loading thread's registers after setmaxnreg")
                 .Constant("kConsumerRegisters", t.ConsumerRegisters, "a computing thread's: what the loaders give up, shared out")
                 .Constant("kConsumerGroups", t.ComputeWarps / 4, "computing warpgroups, taking turns at the tensor cores");
            // The block-barrier loop copies a job's Q in and rotates it in shared memory where the cache is fp16 or bf16; with an
            // FP8 cache it keeps load_q's loads, which NVRTC 13 allocated 1–4% faster there (H200, tests/bench/NOTES.md).
            int qRounds = t.Ring || ws || fp8 ? 0 : t.WarpRows / t.QRoundRows;
            if (qRounds > 0)
                b.Constant("kQRoundRows", t.QRoundRows, "a warp's query rows whose RoPE angles the free K/V stage holds (PrefillAttentionTiles.QRoundRows)");
            if (wgmma) b.Constant("kAtomRowBytes", k.HeadDim / 64 * 1024, "8 rows of a wgmma-swizzled tile: head_dim / 64 atoms of 1024 bytes");
            // Two 16-row MMA tiles a warp fill 255 registers: Q·Kᵀ's k-steps unroll by two (llama2-70b-gptq on sm_80 spills 56
            // bytes fully unrolled, 12 not unrolled, none by two; 2–5% faster than not unrolled on the H200).
            string products = wgmma ? WarpgroupTile.Products("kBlockN", t.BlockN, k.HeadDim, k.Activation, t.QInRegisters)
                : FlashTile.MmaSyncProducts(t.WarpRows / 16 == 1 ? 0 : 2);
            b.Raw("typedef " + cache.Name + " gc_cache;  // kv_cache.dtype\n\n")
             .Raw(RopeEmitter.DeviceFunctions(k.Theta, k.HeadDim))
             .Raw(KvCacheCodec.Rows(fp8, cache, withCodes: false))
             .Raw(FlashTile.Loader("kBlockN", k.Activation, k.KvDType, wgmma))
             .Raw(FlashTile.QueryRows("kBlockN", k.KvDType, products, deferredRescale: ws))
             .Raw(QueryTiles)
             .Raw(RotateQuery)
             .Raw(WriteJobs());

            b.Parameter("const gc_act* __restrict__", "qkv", "buffer qkv [T, q | k | v] before RoPE")
             .Parameter("const int* __restrict__", "positions", "input positions [T] (RoPE angles)")
             .PoolParameters()
             .Parameter("const int* __restrict__", "cu_seqlens", "first qkv row of each sequence's new tokens [S + 1]")
             .Parameter("const int* __restrict__", "context_lens", "tokens per sequence after this step: cached prefix + new [S]")
             .Parameter("const int* __restrict__", "tile_jobs", "query tiles, (sequence << 16) | tile, longest work first [q_blocks]");
            if (fp8) b.Parameter("const float* __restrict__", "kv_scale", "this layer's K and V cache scales [2] fp32");
            b.Parameter("gc_act* __restrict__", "out", "buffer attn_out [T, heads · head_dim]")
             .Parameter("int* __restrict__", "sync", "write ticket, write jobs done, CTAs finished; zero between launches")
             .Parameter("gc_u32* __restrict__", "rope", "scratch [T, head_dim / 2]: each new token's RoPE (cos, sin) pairs in the activation dtype, for the query heads")
             .Parameter("int", "q_blocks", "query tiles of the step");

            string source = b.Finish("kThreads", Body(fp8, wgmma, t.Ring, ws, qRounds), "1");
            return new KernelSource(k.Name, k.Family, k.Summary, tiles.Arch.Name, source, b.Parameters.ToEquatableArray(), launch, null) { ArchSpecific = wgmma };
        }

        /// <summary>The query-tile lookup of the ragged step, and the jobs a CTA takes.</summary>
        private const string QueryTiles = @"// A query tile of the ragged step: its rows of qkv and the cache position of its first query.
struct QueryTile {
    int sequence;
    int index;      // tile within the sequence
    int row0;       // qkv row of the first query
    int rows;       // queries in the tile (the last tile of a sequence may be short)
    int position0;  // cache position of the first query: the cached prefix plus the tile's offset
};
__device__ __forceinline__ QueryTile query_tile(int tile_job, const int* cu_seqlens, const int* context_lens) {
    QueryTile t;
    t.sequence = tile_job >> 16;
    t.index = tile_job & 0xFFFF;
    const int first = cu_seqlens[t.sequence], count = cu_seqlens[t.sequence + 1] - first;
    t.row0 = first + t.index * kBlockM;
    t.rows = min(kBlockM, count - t.index * kBlockM);
    t.position0 = context_lens[t.sequence] - count + t.index * kBlockM;
    return t;
}

// An attention job: a query tile of one query head, over the cache positions 0 .. its last query.
struct Job {
    QueryTile t;
    int h, g;       // the query head and its KV head
    int kv_end;     // positions read: 0 .. kv_end − 1
    int kv_tiles;   // in tiles of kBlockN
};
__device__ __forceinline__ Job attention_job(int job, const int* tile_jobs, const int* cu_seqlens, const int* context_lens) {
    Job j;
    j.t = query_tile(tile_jobs[job / kHeads], cu_seqlens, context_lens);
    j.h = job % kHeads;   // a tile's heads are consecutive jobs: a KV group's tiles stay hot in L2
    j.g = j.h / kGroup;
    j.kv_end = j.t.position0 + j.t.rows;
    j.kv_tiles = (j.kv_end + kBlockN - 1) / kBlockN;
    return j;
}

// The job CTA `cta` of `ctas` takes in round `round`: one of each round's `ctas` consecutive jobs, the rounds alternating
// direction. The host lists the jobs longest first, so a CTA's longer job of one round pairs with a shorter one of the
// next and every CTA's work comes out about even, with no ticket to wait for; each thread knows every job of its CTA.
// At or past the launch's jobs: none left.
__device__ __forceinline__ int job_of_round(int round, int cta, int ctas) {
    return round * ctas + (round % 2 == 0 ? cta : ctas - 1 - cta);
}

";

        /// <summary>A query row's RoPE with the angles the write jobs left.</summary>
        private const string RotateQuery = @"// A query row's dimensions 8c .. 8c + 7 and their partners kHalf on (x) rotated with their angles: (cos, sin) pairs in the
// activation dtype, as the KV head 0 write jobs leave them (a: pairs 8c .. 8c + 3, b: the next four).
__device__ __forceinline__ void rotate_q8(const gc_rope_halves& x, int c, const uint4& a, const uint4& b, gc_act8& lo, gc_act8& hi) {
    const gc_u32 pairs[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
    gc_rope_rotate8(x, c * 8, [&](int j, float& cs, float& sn) {
                        cs = gc_act_to_f32((gc_act)(pairs[j - c * 8] & 0xffffu));
                        sn = gc_act_to_f32((gc_act)(pairs[j - c * 8] >> 16));
                    }, lo, hi);
}

";

        /// <summary>The write jobs (the step's new K and V rows into the cache), which every CTA runs before its attention jobs.</summary>
        private static string WriteJobs() => @"// The write jobs: the step's new K (rotated) and V rows into the cache, kWriteRows rows of one (query tile, KV head) a job
// (small, so that a short step's writes still reach every CTA); the KV head 0 jobs also leave the rows' RoPE angles for the
// query heads. A CTA takes jobs from a ticket (sync[0]) until none are left, the next ticket claimed under the job before
// it, and counts its jobs done (sync[1]) once, after one fence: a fence and a count a job cost mma.sync 1–3% at 2048–8192
// (H200). A thread issues every load of its items before it rotates or stores any: one round trip a job.
__device__ __forceinline__ void write_new_rows(const gc_act* __restrict__ qkv, const int* __restrict__ positions, gc_cache* __restrict__ kv_pool,
        const int* __restrict__ block_tables, int max_blocks, const int* __restrict__ cu_seqlens, const int* __restrict__ context_lens,
        const int* __restrict__ tile_jobs, int* __restrict__ sync, gc_u32* __restrict__ rope, int q_blocks, float k_scale, float v_scale) {
    __shared__ int ticket[2];   // this job's and the next one's
    int* const write_ticket = sync;
    int* const written = sync + 1;
    // A KV head's slot of a cache position, given the id of the block that holds it (K: kv = g, V: kv = kKvHeads + g).
    auto slot = [&](int block, int position, int kv) {
        return kv_pool + ((long long)block * 2 * kKvHeads + kv) * kHeadRun + (position % kBlockSize) * kHeadDim;
    };
    constexpr int kWriteK = (kWriteRows * (kHalf / 8) + kThreads - 1) / kThreads;     // K items a thread: eight rotation pairs each
    constexpr int kWriteV = (kWriteRows * kChunks + kThreads - 1) / kThreads;         // V items a thread: a 16-byte chunk each
    if (threadIdx.x == 0) ticket[0] = atomicAdd(write_ticket, 1);
    __syncthreads();
    int done = 0;
    for (int n = 0;; ++n) {
        const int w = ticket[n % 2];
        if (w >= q_blocks * kKvHeads * kWriteParts) break;
        if (threadIdx.x == 0) ticket[(n + 1) % 2] = atomicAdd(write_ticket, 1);   // the next job's ticket, under this one
        const QueryTile t = query_tile(tile_jobs[w / (kKvHeads * kWriteParts)], cu_seqlens, context_lens);
        const int g = w / kWriteParts % kKvHeads, r0 = w % kWriteParts * kWriteRows;
        const int* blocks = block_tables + (long long)t.sequence * max_blocks;
        // A thread's u-th K item (row, first of its eight pairs) and V item (row, 16-byte chunk), and whether it has one.
        auto k_row = [&](int u) { return r0 + ((int)threadIdx.x + u * kThreads) / (kHalf / 8); };
        auto k_d0 = [&](int u) { return ((int)threadIdx.x + u * kThreads) % (kHalf / 8) * 8; };
        auto v_row = [&](int u) { return r0 + ((int)threadIdx.x + u * kThreads) / kChunks; };
        auto v_d0 = [&](int u) { return ((int)threadIdx.x + u * kThreads) % kChunks * 8; };
        auto k_item = [&](int u) { return (int)threadIdx.x + u * kThreads < kWriteRows * (kHalf / 8) && k_row(u) < t.rows; };
        auto v_item = [&](int u) { return (int)threadIdx.x + u * kThreads < kWriteRows * kChunks && v_row(u) < t.rows; };
        gc_rope_halves k_in[kWriteK];
        gc_act8 v_in[kWriteV];
        int k_position[kWriteK], k_block[kWriteK], v_block[kWriteV];
#pragma unroll
        for (int u = 0; u < kWriteK; ++u)
            if (k_item(u)) {
                const int r = k_row(u);
                k_position[u] = positions[t.row0 + r];
                k_block[u] = blocks[(t.position0 + r) / kBlockSize];
                k_in[u] = gc_rope_load(qkv + (long long)(t.row0 + r) * kQkvStride + (kHeads + g) * kHeadDim, k_d0(u));
            }
#pragma unroll
        for (int u = 0; u < kWriteV; ++u)
            if (v_item(u)) {
                const int r = v_row(u);
                v_block[u] = blocks[(t.position0 + r) / kBlockSize];
                v_in[u] = *reinterpret_cast<const gc_act8*>(qkv + (long long)(t.row0 + r) * kQkvStride + (kHeads + kKvHeads + g) * kHeadDim + v_d0(u));
            }
#pragma unroll
        for (int u = 0; u < kWriteK; ++u)
            if (k_item(u)) {
                const int r = k_row(u), d0 = k_d0(u);
                float cs[8], sn[8];
                gc_u32 pairs[8];
#pragma unroll
                for (int e = 0; e < 8; ++e) {
                    gc_rope_cos_sin((float)k_position[u], d0 + e, cs[e], sn[e]);
                    pairs[e] = (gc_u32)gc_f32_to_act(cs[e]) | (gc_u32)gc_f32_to_act(sn[e]) << 16;   // exact: both already rounded
                }
                if (g == 0) {   // the tile's KV head 0 jobs leave the angles, which its query heads would each compute again
                    uint4* to = reinterpret_cast<uint4*>(rope + (long long)(t.row0 + r) * kHalf + d0);
                    to[0] = make_uint4(pairs[0], pairs[1], pairs[2], pairs[3]);
                    to[1] = make_uint4(pairs[4], pairs[5], pairs[6], pairs[7]);
                }
                float x1[8], x2[8];   // the rotated K as the activation dtype holds it, then as the cache does
                gc_rope_rotate8(k_in[u], d0, [&](int j, float& c, float& s) { c = cs[j - d0]; s = sn[j - d0]; }, x1, x2);
                gc_cache* dst = slot(k_block[u], t.position0 + r, g) + d0;
                store_row8(dst, k_scale, x1);
                store_row8(dst + kHalf, k_scale, x2);
            }
#pragma unroll
        for (int u = 0; u < kWriteV; ++u)
            if (v_item(u)) {
                float v[8];
#pragma unroll
                for (int e = 0; e < 8; ++e) v[e] = gc_act_to_f32(v_in[u].v[e]);
                store_row8(slot(v_block[u], t.position0 + v_row(u), kKvHeads + g) + v_d0(u), v_scale, v);
            }
        ++done;
        __syncthreads();   // every thread has read ticket[n % 2], and the next job's ticket is in
    }
    __threadfence();   // the CTA's jobs counted once, their stores visible first
    __syncthreads();
    if (threadIdx.x == 0 && done > 0) atomicAdd(written, done);
}

";

        private static string Body(bool fp8, bool wgmma, bool ring, bool ws, int qRounds) => (wgmma ? @"    extern __shared__ __align__(128) unsigned char smem_window[];
    unsigned char* smem = smem_window + (-gc_smem_address(smem_window) & (" + PrefillAttentionTiles.WgmmaAlignment + @" - 1));   // wgmma: the swizzle atoms' 1024-byte period
" : @"    extern __shared__ __align__(128) unsigned char smem[];
") + @"    gc_act* q_s = reinterpret_cast<gc_act*>(smem);                      // [kBlockM][kHeadDim] swizzled: Q, then the output tile
    unsigned char* stage_s = smem + kBlockM * kHeadDim * 2;             // kStages × (K tile, V tile) as the cache stores them
" + (fp8 ? @"    gc_act* k_s = reinterpret_cast<gc_act*>(stage_s + kStages * 2 * kTileBytes);  // the current K and V tiles widened, swizzled" + (ring || ws ? " (kWidened pairs)" : "") + @"
    gc_act* v_s = k_s + kBlockN * kHeadDim;
    const float k_scale = kv_scale[0], v_scale = kv_scale[1];
" : @"    const float k_scale = 1.0f, v_scale = 1.0f;
") + @"    __shared__ int is_last;
    int* const written = sync + 1;    // write jobs done
    int* const finished = sync + 2;   // CTAs done
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

    write_new_rows(qkv, positions, kv_pool, block_tables, max_blocks, cu_seqlens, context_lens, tile_jobs, sync, rope, q_blocks, k_scale, v_scale);

" + (ring || ws ? @"    // ---- The stages' mbarriers: a stage is full once its copies have landed, empty once every computing warp is done ----
    __shared__ __align__(8) unsigned long long ring[2 * kStages];
    const gc_u32 full_bar = gc_smem_address(ring), empty_bar = full_bar + 8 * kStages;
    if (threadIdx.x == 0)
        for (int stage = 0; stage < kStages; ++stage) {
            gc_mbarrier_init(full_bar + 8 * stage, " + (ws ? "kProducerWarps * 32" : "kThreads") + @");
            gc_mbarrier_init(empty_bar + 8 * stage, " + (ws ? "kThreads / 32 - kProducerWarps" : "kThreads / 32") + @");
        }

" : "") + @"    // ---- Every write job done before any attention job reads the cache and the angles. Each CTA took write jobs until none
    // were left, so those still running are held by running CTAs: the wait ends, whatever the scheduling ----
    if (threadIdx.x == 0) {
        while (*reinterpret_cast<volatile int*>(written) < q_blocks * kKvHeads * kWriteParts) __nanosleep(64);
        __threadfence();
    }
    __syncthreads();

    // ---- Attention jobs, one per (query tile, query head): this CTA's are job_of_round(round, blockIdx.x, gridDim.x) for
    // round = 0, 1, … until none are left ----
    const int jobs = q_blocks * kHeads;
    auto job_at = [&](int round) { return job_of_round(round, blockIdx.x, gridDim.x); };
    auto job = [&](int index) { return attention_job(index, tile_jobs, cu_seqlens, context_lens); };
    // K/V tile `tile` of a job through its sequence's block table, cp.async into stage `stage` (past kv_end: zeros).
    const gc_u32 stage_address = gc_smem_address(stage_s);
    auto load_tile = [&](const Job& J, int tile, int stage) {
        const gc_u32 k_dst = stage_address + stage * 2 * kTileBytes;
        load_kv<" + (ws ? "kProducerWarps * 32" : "kThreads") + @">(kv_pool, block_tables + (long long)J.t.sequence * max_blocks, J.g, tile * kBlockN, J.kv_end,
                                 k_dst, k_dst + kTileBytes, threadIdx.x);
    };
" + (qRounds == 0 ? @"    // A computing warp's rows of a job's Q tile (row0 on), rotated (RoPE) with the angles the KV head 0 write jobs left,
    // into q_s; rows past the sequence are zeros. Each warp reads only its own rows of Q" + (wgmma ? " (its warpgroup's, for wgmma)" : "") + @".
    auto load_q = [&](const Job& J, int row0) {
        for (int i = lane; i < kWarpRows * (kHalf / 8); i += 32) {
            const int r = row0 + i / (kHalf / 8), c = i % (kHalf / 8);
            gc_act8 lo = {}, hi = {};
            if (r < J.t.rows) {
                const uint4* from = reinterpret_cast<const uint4*>(rope + (long long)(J.t.row0 + r) * kHalf + c * 8);
                rotate_q8(gc_rope_load(qkv + (long long)(J.t.row0 + r) * kQkvStride + J.h * kHeadDim, c * 8), c, from[0], from[1], lo, hi);
            }
            *reinterpret_cast<gc_act8*>(q_s + swizzle(r, c) * 8) = lo;
            *reinterpret_cast<gc_act8*>(q_s + swizzle(r, c + kChunks / 2) * 8) = hi;
        }
    };
" : @"    // A warp's rows of a job's Q tile (row0 on) copied into q_s as they are, and their RoPE angles (those the KV head 0 write
    // jobs left) into angles_s, kQRoundRows rows at a time: the K/V stage the job's first tiles leave free, the last. A
    // round's copies are in flight at once, one round trip where load_q takes one a row chunk; rows past the sequence copy
    // zeros (their source address is the tile's last row: a job has at least one, PrefillAttentionFamily.TileJobs). The copy
    // loops stay rolled: unrolled, ptxas (NVRTC 13) hoists their addresses out of the job loop and spills 48 bytes around the
    // tile loop (1–3% slower on the H200).
    gc_u32* const angles_s = reinterpret_cast<gc_u32*>(stage_s + (kStages - 1) * 2 * kTileBytes) + warp * kQRoundRows * kHalf;
    static_assert(kThreads / 32 * kQRoundRows * kHalf * 4 <= 2 * kTileBytes, ""every warp's angles of a round fit the free stage"");
    auto copy_q = [&](const Job& J, int row0) {
#pragma unroll 1
        for (int i = lane; i < kWarpRows * kChunks; i += 32) {
            const int r = row0 + i / kChunks, c = i % kChunks;
            gc_cp_async16(gc_smem_address(q_s + swizzle(r, c) * 8), qkv + (long long)(J.t.row0 + min(r, J.t.rows - 1)) * kQkvStride + J.h * kHeadDim + c * 8,
                          r < J.t.rows ? 16 : 0);
        }
    };
    auto copy_angles = [&](const Job& J, int row0) {
#pragma unroll 1
        for (int i = lane; i < kQRoundRows * (kHalf / 4); i += 32) {
            const int r = row0 + i / (kHalf / 4);
            gc_cp_async16(gc_smem_address(angles_s + i * 4), rope + (long long)(J.t.row0 + min(r, J.t.rows - 1)) * kHalf + i % (kHalf / 4) * 4,
                          r < J.t.rows ? 16 : 0);
        }
    };
    // Rows row0 .. row0 + kQRoundRows − 1 of q_s rotated in place with the staged angles (a zero row stays zero), once the
    // warp's copies have landed.
    auto rotate_q = [&](int row0) {
        for (int i = lane; i < kQRoundRows * (kHalf / 8); i += 32) {
            const int r = row0 + i / (kHalf / 8), c = i % (kHalf / 8);
            gc_act8* const lo = reinterpret_cast<gc_act8*>(q_s + swizzle(r, c) * 8);
            gc_act8* const hi = reinterpret_cast<gc_act8*>(q_s + swizzle(r, c + kChunks / 2) * 8);
            const uint4* const from = reinterpret_cast<const uint4*>(angles_s + i * 8);
            const gc_rope_halves x = {*lo, *hi};
            rotate_q8(x, c, from[0], from[1], *lo, *hi);
        }
    };
") + @"    // Rows row0 .. row0 + rows − 1 of a job's Q and their angles fetched into L2 by `thread` of `count`, not waited on:
    // issued ahead of the job's Q prologue (by the loaders as they start its tiles, or by a computing warp during the job
    // before), so the prologue reads L2 instead of DRAM.
    auto prefetch_q = [&](const Job& J, int row0, int rows, int thread, int count) {
        constexpr int kQLines = (kHeadDim * 2 + 127) / 128, kRopeLines = (kHalf * 4 + 127) / 128, kLines = kQLines + kRopeLines;
        for (int i = thread; i < rows * kLines; i += count) {
            const int r = row0 + i / kLines, line = i % kLines;
            if (r < J.t.rows)
                gc_prefetch_l2(line < kQLines ? (const void*)(qkv + (long long)(J.t.row0 + r) * kQkvStride + J.h * kHeadDim + line * 64)
                                              : (const void*)(rope + (long long)(J.t.row0 + r) * kHalf + (line - kQLines) * 32));
        }
    };

" + (ws ? WarpSpecialized(fp8) : ring ? RingJobs(fp8) : BarrierJobs(fp8, wgmma, qRounds)) + @"
    // ---- The last CTA to finish zeroes the ticket and counts for the next launch ----
    __syncthreads();
    if (threadIdx.x == 0) {
        __threadfence();
        is_last = atomicAdd(finished, 1) == (int)(gridDim.x * gridDim.y) - 1;
    }
    __syncthreads();
    if (is_last && threadIdx.x < " + PrefillAttentionFamily.SyncInts + @") sync[threadIdx.x] = 0;
";

        /// <summary>A computing warp's running state: O, the row maxima and sums (set per job by flash_init), and where its rows
        /// start (from <paramref name="computeWarp"/>, its index among the computing warps).</summary>
        private static string WarpState(string computeWarp) => @"    float o[kMTiles][kHeadDim / 8][4];           // the output rows, fp32, MMA accumulator layout
    float row_max[kMTiles][2], row_sum[kMTiles][2];   // per thread, rows lane/4 and lane/4 + 8 of each MMA tile: raw max, scaled sum
    const float score_scale = kScoreScale * k_scale;
    const int warp_row0 = " + computeWarp + @" * kWarpRows;
    const gc_u32 q_address = gc_smem_address(q_s);

";

        /// <summary>The head of a computing warp's job: the next job of its CTA, or out of the loop.</summary>
        private const string NextJob = @"        const int index = job_at(round);
        if (index >= jobs) break;
        const Job J = job(index);
";

        /// <summary>A computing warp's rows of the job's Q (<paramref name="load"/>: load_q's by default), visible to every warp
        /// that reads them once <paramref name="barrier"/> has passed (fenced first for wgmma's tensor cores), then Q·Kᵀ's
        /// operand and a fresh O; with <paramref name="prefetchNext"/>, the warp's rows of the next job's Q fetched into L2.</summary>
        private static string JobQ(string barrier, bool wgmma, bool prefetchNext, string load = "        load_q(J, warp_row0);\n") => load
            + (wgmma ? "        gc_fence_proxy_async();   // Q, before the tensor cores read it\n" : "") + @"        " + barrier + @";
        q = q_operand(q_address, warp_row0, lane);
        flash_init(o, row_max, row_sum);
" + (prefetchNext ? "        if (job_at(round + 1) < jobs) prefetch_q(job(job_at(round + 1)), warp_row0, kWarpRows, lane, 32);   // the next job's Q into L2 under this one\n" : "");

        /// <summary><see cref="JobQ"/> for a wgmma warpgroup that meets on its own named barrier of 128 threads: its 64 rows.</summary>
        private static string WarpgroupQ(string barrier, bool prefetchNext) => JobQ("gc_barrier_sync(" + barrier + ", 128)", wgmma: true, prefetchNext);

        /// <summary>A computing warp's rows out: normalized, through its part of q_s, 16-byte stores; then its rows of q_s
        /// are free for the next job's Q.</summary>
        private const string Epilogue = @"        // ---- Normalize (and apply the V scale), stage the warp's rows in its part of q_s, store 16-byte vectors ----
#pragma unroll
        for (int mt = 0; mt < kMTiles; ++mt)
#pragma unroll
            for (int half = 0; half < 2; ++half) {
                const float scale = v_scale / quad_sum(row_sum[mt][half]);
                const int r = warp_row0 + mt * 16 + lane / 4 + 8 * half;
#pragma unroll
                for (int dt = 0; dt < kHeadDim / 8; ++dt)
                    *reinterpret_cast<gc_u32*>(q_s + swizzle(r, dt) * 8 + 2 * (lane % 4)) =
                        gc_pack_act2(o[mt][dt][2 * half] * scale, o[mt][dt][2 * half + 1] * scale);
            }
        __syncwarp();
        for (int i = lane; i < kWarpRows * kChunks; i += 32) {
            const int r = warp_row0 + i / kChunks, c = i % kChunks;
            if (r < J.t.rows)
                *reinterpret_cast<gc_act8*>(out + (long long)(J.t.row0 + r) * kHeads * kHeadDim + J.h * kHeadDim + c * 8) =
                    *reinterpret_cast<const gc_act8*>(q_s + swizzle(r, c) * 8);
        }
        __syncwarp();
";

        /// <summary>
        /// The jobs one tile a step behind a block barrier (mma.sync, and wgmma below four stages): a job's first tiles issued
        /// under its Q prologue (<see cref="CopiedQ"/> over an fp16 or bf16 cache, load_q over FP8), then for each tile: wait
        /// for it, S = Q·Kᵀ, mask, softmax, O += P·V; a block barrier between jobs. <paramref name="qRounds"/>: rounds of
        /// kQRoundRows rows a warp's angles take (<see cref="PrefillAttentionTiles.QRoundRows"/>), or 0 for load_q.
        /// </summary>
        private static string BarrierJobs(bool fp8, bool wgmma, int qRounds) => WarpState("warp") + @"    QOperand q;
    for (int round = 0;; ++round) {
" + NextJob + @"        auto load = [&](int tile, int stage) { load_tile(J, tile, stage); };
" + JobQ("__syncthreads()", wgmma, prefetchNext: true, load: qRounds == 0 ? "        kv_pipeline_start(J.kv_tiles, load);   // the first tiles in flight under the Q prologue\n        load_q(J, warp_row0);\n"
                                                                           : CopiedQ(qRounds)) + @"        for (int j = 0; j < J.kv_tiles; ++j) {
            kv_pipeline_wait<true>(j, J.kv_tiles, load);   // the CTA loads each tile together: a block barrier
" + (fp8 ? @"            widen_kv(stage_s + (j % kStages) * 2 * kTileBytes, k_s, v_s, threadIdx.x, kThreads);   // FP8: codes to the activation dtype
" + (wgmma ? "            gc_fence_proxy_async();\n" : "") + @"            __syncthreads();
            const gc_u32 k_address = gc_smem_address(k_s), v_address = gc_smem_address(v_s);
" : @"            const gc_u32 k_address = stage_address + (j % kStages) * 2 * kTileBytes, v_address = k_address + kTileBytes;
") + @"
            // ---- S = Q·Kᵀ for the warp's kWarpRows queries, masked where the tile crosses the diagonal or the context's end ----
            float s[kMTiles][kBlockN / 8][4];
            flash_scores(s, q, k_address, lane);
            mask_scores(s, j * kBlockN, J.t.position0 + warp_row0, J.kv_end, lane);
            // ---- Online softmax, then O += P·V ----
            flash_softmax(s, row_max, row_sum, o, score_scale);
            flash_pv(o, s, v_address, lane);
            kv_pipeline_release<true>();
        }
" + Epilogue + @"        __syncthreads();   // every warp done with the stages and q_s before the next job's Q and first tiles land in them
    }
";

        /// <summary>A warp's rows of the job's Q copied in with their angles as a cp.async group ahead of the job's first
        /// tiles', so the wait for the copies leaves the tiles in flight, then rotated in place; where the free stage holds
        /// fewer angles than a warp's rows, in <paramref name="rounds"/> of kQRoundRows rows, each later round's copies the
        /// newest group, so their wait is for the first tiles too (no shipped tiling takes a second round).</summary>
        private static string CopiedQ(int rounds) => @"        copy_q(J, warp_row0);
        copy_angles(J, warp_row0);
        gc_cp_async_commit();
        kv_pipeline_start(J.kv_tiles, load);   // the first tiles in flight under the Q prologue
        gc_cp_async_wait<kStages - 1>();        // this thread's Q copies: the first tiles' groups came after them
        __syncwarp();
        rotate_q(warp_row0);
" + (rounds == 1 ? "" : @"        for (int part = 1; part < kWarpRows / kQRoundRows; ++part) {
            __syncwarp();   // the last round's angles read
            copy_angles(J, warp_row0 + part * kQRoundRows);
            gc_cp_async_commit();
            gc_cp_async_wait<0>();
            __syncwarp();
            rotate_q(warp_row0 + part * kQRoundRows);
        }
");

        /// <summary>
        /// Warp specialization (<c>mma: wgmma_ws</c>, FlashAttention-3's layout): warpgroup 0 gives up its registers and
        /// loads — every tile of the CTA's jobs in turn, each into its stage once every computing warp has arrived on the
        /// stage's empty barrier, the copies arriving on its full barrier as they land (an FP8 cache's loaders copy the codes at
        /// once, and widen them into the stage's pair once its empty barrier says so, fence and arrive), so a job's first tiles
        /// load under the job before, and a job's Q is fetched into L2 as its first tiles load — while the other warpgroups take
        /// the registers and compute: each loads its rows of the job's Q, issues tile j's Q·Kᵀ together with tile j − 1's
        /// P·V, masks and softmaxes tile j while both run, rescales O (where a row's max moved) once P·V has landed and rounds
        /// tile j's P at once (S, P and O live together: the registers the loaders gave up; S's are free again for the next
        /// tile, which is what lets block_n reach 128). The computing warpgroups take turns issuing their products (FA3's
        /// ping-pong), so the tensor cores run one's while another is in its softmax.
        /// </summary>
        private static string WarpSpecialized(bool fp8) => @"    if (warp < kProducerWarps) {
        // ---- The loading warpgroup: stream tile n of the CTA's jobs goes to stage n % kStages ----
        gc_setmaxnreg_dec<kProducerRegisters>();
" + (fp8 ? @"        // A tile's codes, landed (this thread's copies), widened into the stage's pair once every computing warp is done
        // with it, and fenced for the tensor cores.
        auto widen = [&](int tile) {
            const int stage = tile % kStages;
            if (tile >= kStages) gc_mbarrier_wait(empty_bar + 8 * stage, ((tile - kStages) / kStages) & 1);
            widen_kv(stage_s + stage * 2 * kTileBytes, k_s + stage * 2 * kBlockN * kHeadDim, v_s + stage * 2 * kBlockN * kHeadDim,
                     threadIdx.x, kProducerWarps * 32);
            gc_fence_proxy_async();
            gc_mbarrier_arrive(full_bar + 8 * stage);
        };
        // The codes' stage needs no wait: this thread widened its last codes (its own copies) a tile after loading them.
        // Waiting for the pair before the load instead would deadlock two stages: tile n's wait for tile n − 2's release
        // would come before tile n − 1's widening, which the computing warps need first.
" : "") + @"        int n = 0;
        for (int round = 0;; ++round) {
" + CudaSourceBuilder.Indent(NextJob) + @"            // The job's Q into L2 as its first tiles load: the computing warps reach it a few tiles later.
            if (round > 0) prefetch_q(J, 0, kBlockM, threadIdx.x, kProducerWarps * 32);
            for (int j = 0; j < J.kv_tiles; ++j, ++n) {
" + (fp8 ? @"                load_tile(J, j, n % kStages);
                gc_cp_async_commit();
                if (n > 0) {   // tile n − 1, while tile n is in flight
                    gc_cp_async_wait<1>();
                    widen(n - 1);
                }
" : @"                if (n >= kStages) gc_mbarrier_wait(empty_bar + 8 * (n % kStages), ((n - kStages) / kStages) & 1);
                load_tile(J, j, n % kStages);
                gc_mbarrier_arrive_on_copies(full_bar + 8 * (n % kStages));
") + @"            }
        }
" + (fp8 ? @"        if (n > 0) {
            gc_cp_async_wait<0>();
            widen(n - 1);
        }
" : "") + @"    } else {
        // ---- The computing warpgroups ----
        gc_setmaxnreg_inc<kConsumerRegisters>();
" + CudaSourceBuilder.Indent(WarpState("(warp - kProducerWarps)") + TileAddresses(fp8) + StageBarriers(fp8) + @"
    // ---- Turns at the tensor cores (FA3's ping-pong): warpgroup c issues its products once c − 1 has issued its own, so
    // one warpgroup's softmax runs under another's products. Named barrier 1 + c is c's turn (its 128 threads wait, the
    // previous warpgroup's 128 arrive); at each job's start the last warpgroup hands warpgroup 0 its first turn, and it
    // keeps its own last one (every barrier then sees as many arrivals as waits, job by job). Barrier 1 + kConsumerGroups
    // + c is c's own, for its Q ----
    const int group = (warp - kProducerWarps) / 4;
    auto turn_wait = [&]() { if (kConsumerGroups > 1) gc_barrier_sync(1 + group, 256); };
    auto turn_pass = [&](bool last) {
        if (kConsumerGroups > 1 && !(last && group == kConsumerGroups - 1)) gc_barrier_arrive(1 + (group + 1) % kConsumerGroups, 256);
    };
    QOperand q;
    float s[kMTiles][kBlockN / 8][4], alpha[kMTiles][2];
    gc_u32 p[kBlockN / 16][kMTiles][4];
    int n = 0;   // the stream tile of the job's first
    for (int round = 0;; ++round) {
" + NextJob + WarpgroupQ("1 + kConsumerGroups + group", prefetchNext: false) + @"        if (kConsumerGroups > 1 && group == kConsumerGroups - 1) gc_barrier_arrive(1, 256);

        // ---- Tile 0: S, mask, softmax (O is still zero: nothing to rescale), P ----
        full(n);
        turn_wait();
        scores_issue(s, q, k_tile(n));
        turn_pass(false);
        scores_wait(s);
        mask_scores(s, 0, J.t.position0 + warp_row0, J.kv_end, lane);
        softmax_scores(s, row_max, row_sum, score_scale, alpha);
        p_tile(p, s);
        for (int j = 1; j < J.kv_tiles; ++j) {
            // ---- Tile j's S and tile j − 1's O += P·V on the tensor cores together ----
            full(n + j);
            turn_wait();
            scores_issue(s, q, k_tile(n + j));
            pv_issue(o, p, v_tile(n + j - 1));
            turn_pass(false);
            // ---- Tile j's mask and softmax while P·V runs; O takes a moved max once P·V has landed, then P of tile j ----
            gc_wgmma_wait<1>();
            gc_wgmma_hold(s[0]);
            mask_scores(s, j * kBlockN, J.t.position0 + warp_row0, J.kv_end, lane);
            const bool rescale = softmax_scores(s, row_max, row_sum, score_scale, alpha);
            pv_wait(o, p);
            release(n + j - 1);
            if (rescale) rescale_o(o, alpha);
            p_tile(p, s);
        }
        // ---- The last tile's O += P·V ----
        n += J.kv_tiles;
        turn_wait();
        pv_issue(o, p, v_tile(n - 1));
        turn_pass(true);
        pv_wait(o, p);
        release(n - 1);

" + Epilogue + @"    }
") + @"    }
";

        /// <summary>Where stream tile n's K and V are for the tensor cores with a stage a tile (the ring, warp specialization):
        /// an FP8 cache's widened pairs, or the stage itself.</summary>
        private static string TileAddresses(bool fp8) => fp8 ? @"    auto k_tile = [&](int tile) { return gc_smem_address(k_s) + (tile % kWidened) * 4 * kBlockN * kHeadDim; };   // widened K, then V
    auto v_tile = [&](int tile) { return k_tile(tile) + 2 * kBlockN * kHeadDim; };
" : @"    auto k_tile = [&](int tile) { return stage_address + (tile % kStages) * 2 * kTileBytes; };
    auto v_tile = [&](int tile) { return k_tile(tile) + kTileBytes; };
";

        /// <summary>A computing warp's waits on the stages: a tile has landed (every copy of it), and this warp is done with a
        /// tile's stage (after its P·V has read it).</summary>
        private static string StageBarriers(bool fp8) => @"    auto full = [&](int tile) {
        gc_mbarrier_wait(full_bar + 8 * (tile % kStages), (tile / kStages) & 1);
" + (fp8 ? "" : "        gc_fence_proxy_async();   // the copies, before the tensor cores read them\n") + @"    };
    auto release = [&](int tile) {
        __syncwarp();
        if (lane == 0) gc_mbarrier_arrive(empty_bar + 8 * (tile % kStages));
    };
";

        /// <summary>
        /// The wgmma jobs on a ring of mbarriers (stages ≥ 4) instead of a block barrier a tile, so warpgroups drift apart and
        /// one's softmax overlaps another's products. The CTA's jobs are one stream of tiles, stream tile n in stage
        /// n % kStages: its "full" barrier completes when every thread's copies of the tile have landed (for an fp16/bf16 cache
        /// the copies themselves arrive, cp.async.mbarrier.arrive, no thread waits for them; an FP8 cache's thread waits for
        /// its own, widens them into one of kWidened pairs, fences them for the tensor cores and arrives), its "empty" barrier
        /// when every warp's P·V has read it. During tile n a warp refills the stage of tile n − 2 (once empty) with tile
        /// n + kStages − 2, while its S of tile n is on the tensor cores: tiles are issued kStages − 2 ahead, across jobs, so
        /// a job's first tiles load under the end of the one before, and a warpgroup can run more than a tile ahead of another.
        /// Between jobs a warp only writes its rows out and loads its rows of the next Q; its warpgroup meets on a named
        /// barrier, the others go on. (Tile j + 1's S issued beside tile j's P·V, one wait for both, makes ptxas serialize the
        /// wgmmas at the ring's 168 registers (C7515): 12–19% slower on the H200.)
        /// </summary>
        private static string RingJobs(bool fp8) => WarpState("warp") + TileAddresses(fp8) + StageBarriers(fp8) + @"    // ---- The stream's next tile to issue: tile stream_tile of the job of round stream_round, the stream's tile `issued` ----
    int stream_round = 0, stream_tile = 0, issued = 0;
    bool streaming = job_at(0) < jobs;
    Job stream{};
    if (streaming) stream = job(job_at(0));
    " + (fp8 ? "// This thread's copies of the stream's next tile, a copy group each call (empty past the last)." : "// This thread's copies of the stream's next tile; they arrive on its full barrier as they land.") + @"
    auto issue = [&]() {
        while (streaming && stream_tile == stream.kv_tiles) {
            const int next = job_at(++stream_round);
            streaming = next < jobs;
            if (streaming) stream = job(next), stream_tile = 0;
        }
" + (fp8 ? @"        if (streaming) load_tile(stream, stream_tile++, issued++ % kStages);
        gc_cp_async_commit();
    };
    // This thread's part of a tile has landed (all but the kStages − 3 newest copy groups): widen it, fence it for the
    // tensor cores, arrive. The pair it widens into last held tile − 3, which every warp is past.
    auto land = [&](int tile) {
        gc_cp_async_wait<kStages - 3>();
        const int pair = tile % kWidened;
        widen_kv(stage_s + (tile % kStages) * 2 * kTileBytes, k_s + pair * 2 * kBlockN * kHeadDim, v_s + pair * 2 * kBlockN * kHeadDim, threadIdx.x, kThreads);
        gc_fence_proxy_async();
        gc_mbarrier_arrive(full_bar + 8 * (tile % kStages));
    };
" : @"        if (!streaming) return;
        load_tile(stream, stream_tile++, issued % kStages);
        gc_mbarrier_arrive_on_copies(full_bar + 8 * (issued++ % kStages));
    };
") + @"    for (int tile = 0; tile < kStages - 2; ++tile) issue();   // the first tiles in flight under the first Q
    QOperand q;
    int n = 0;   // the stream tile being computed
    for (int round = 0;; ++round) {
" + NextJob + WarpgroupQ("1 + warp / 4", prefetchNext: true) + (fp8 ? "        if (n == 0) land(0);\n" : "") + @"        for (int j = 0; j < J.kv_tiles; ++j, ++n) {
            // ---- S = Q·Kᵀ of tile n on the tensor cores, once every thread's part of it has landed ----
            full(n);
            float s[kMTiles][kBlockN / 8][4];
            scores_issue(s, q, k_tile(n));
            // ---- Meanwhile: tile n + kStages − 2 into tile n − 2's stage once every warp is done with it" + (fp8 ? "; tile n + 1 lands" : "") + @" ----
            if (n >= 2) gc_mbarrier_wait(empty_bar + 8 * ((n - 2) % kStages), ((n - 2) / kStages) & 1);
            issue();
" + (fp8 ? "            if (n + 1 < issued) land(n + 1);\n" : "") + @"            scores_wait(s);
            // ---- Mask, online softmax, O += P·V; then this warp is done with the stage ----
            mask_scores(s, j * kBlockN, J.t.position0 + warp_row0, J.kv_end, lane);
            flash_softmax(s, row_max, row_sum, o, score_scale);
            flash_pv(o, s, v_tile(n), lane);
            release(n);
        }
" + Epilogue + @"    }
";
    }
}
