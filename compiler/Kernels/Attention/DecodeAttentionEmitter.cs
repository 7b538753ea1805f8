using System;
using GraphCompiler.Common;
using GraphCompiler.Graph;
using GraphCompiler.Planning;
using GraphCompiler.Spec;

namespace GraphCompiler.Kernels.Attention
{
    /// <summary>
    /// Paged decode attention (flash-decoding) on tensor cores: one CTA per (KV head, sequence, context split), whose GQA
    /// group of query heads are the columns of its MMAs (<see cref="KeysAsRowsTile"/>: Sᵀ = K·Qᵀ, Oᵀ += Vᵀ·Pᵀ, keys as rows),
    /// so each KV byte is read once per group. The split's context is cut into tiles of block_n / warps positions and each
    /// warp takes every warps-th tile on its own — its own cp.async stages through the block table (<see cref="KvCacheLayout"/>,
    /// <see cref="FlashTile.Loader"/>), the scores, online softmax and P·V in registers (an FP8 cache's codes widened there
    /// on their way from ldmatrix to the MMA) — with no block barrier until the warps' partial results are merged. The step's
    /// new token is written into its block (from the qkv row, in the cache dtype) for the steps after this one; this step's
    /// split that covers it takes it from the qkv row instead, rounded as the cache holds it, as one more partial in its
    /// merge, so no split waits for the write and every split's first tiles are in flight before its prologue. With
    /// several splits, on GPUs with thread-block clusters (sm_90+) a (sequence, KV head)'s splits are one cluster: each
    /// pushes its (acc, max, sum) into the shared memory of the CTAs that own each share of the output, and after one
    /// cluster barrier each owner combines its share. Below sm_90 each writes its rows normalized, in the activation dtype,
    /// and their (max, sum) to global memory, and the last to arrive copies them into its warp regions, as many splits a
    /// round as those hold with every copy in flight, and combines them in one online-softmax pass.
    /// The CPU reference is CpuAttention's rule; this kernel rounds P to the activation dtype for the tensor cores.
    /// </summary>
    public static class DecodeAttentionEmitter
    {
        /// <summary>Why a decode-attention kernel cannot be emitted yet, or null.</summary>
        public static string? Unsupported(DecodeAttentionKernel k) =>
            FlashTile.Unsupported(k.HeadDim, k.WriteFp8)
            ?? (k.Heads / k.KvHeads > 32 ? $"{k.Heads / k.KvHeads} query heads per KV head: at most 32 (four 8-column MMA tiles)" : null);

        /// <summary>Why the tiles do not suit this kernel, or null: each warp's tile must be whole 16-position MMA steps.</summary>
        public static string? TilesUnsupported(DecodeAttentionKernel k, DecodeAttentionTiles t) =>
            t.BlockN % (16 * t.Warps) == 0 ? null : $"block_n {t.BlockN} must be a multiple of 16 × warps = {16 * t.Warps}";

        public static int SharedMemoryBytes(DecodeAttentionKernel k, DecodeAttentionTiles t, GpuArch arch) =>
            t.SharedMemoryBytes(k.HeadDim, k.Heads / k.KvHeads, k.KvDType.SizeInBytes(), DecodeAttentionFamily.MergeClusterCtas(arch));

        public static KernelSource Emit(DecodeAttentionKernel k, ArchTiles tiles, LaunchShape launch)
        {
            var t = tiles.DecodeAttention;
            bool fp8 = k.KvDType is DType.F8E4M3 or DType.F8E5M2;
            var cache = CudaDialect.Of(k.KvDType);
            int group = k.Heads / k.KvHeads, nTiles = (group + 7) / 8, warpKeys = t.BlockN / t.Warps;
            string tileKey = "tiles." + tiles.Arch.Name + ".decode_attention";
            bool cluster = DecodeAttentionFamily.MergesInCluster(tiles.Arch);
            var b = new CudaSourceBuilder(k.Name, k.Summary, k.Activation,
                    PreludeFeatures.TensorCore | (cluster ? PreludeFeatures.Cluster : PreludeFeatures.CrossCta) | (fp8 ? PreludeFeatures.Fp8 : PreludeFeatures.None))
                .HeadAndCacheConstants(k.Heads, k.KvHeads, k.HeadDim, k.BlockSize)
                .Constant("kGroup", group, "query heads per KV head (GQA): the MMA columns")
                .Constant("kNTiles", nTiles, "8-column MMA tiles the group fills")
                .Constant("kQBytes", 8 * nTiles * k.HeadDim * 2, "the group's queries, 8 · kNTiles rows")
                .Constant("kBlockN", t.BlockN, tileKey + ".block_n: positions a CTA step covers")
                .Constant("kWarps", t.Warps, tileKey + ".warps: split the positions")
                .Constant("kThreads", t.Warps * 32, "warps × 32")
                .Constant("kWarpKeys", warpKeys, "positions of one warp's tile")
                .Constant("kStages", t.Stages, tileKey + ".stages: a warp's K/V tiles in flight")
                .Constant("kLoadChunks", k.HeadDim * cache.Bytes / 16, "16-byte chunks of a cache row")
                .Constant("kTileBytes", warpKeys * k.HeadDim * cache.Bytes, "one warp's K or V tile as the cache stores it")
                .Constant("kWarpBytes", t.WarpBytes(k.HeadDim, group, cache.Bytes), "a warp's region: its stages, then its partial result")
                .Constant("kScoreScale", (float)(1.0 / Math.Sqrt(k.HeadDim) * 1.4426950408889634), "1/√head_dim · log2(e): scores in exp2 units")
                .Constant("kScoreParts", k.WithRope ? k.HeadDim / 32 : k.HeadDim / 16, "the new token's scores in parts: one a query item of the prologue");
            if (cluster)
                b.Constant("kClusterCtas", tiles.Arch.ClusterCtasMax, "the largest cluster of splits (" + tiles.Arch.Name + "): the staging's (max, sum) stride")
                 .Constant("kStagingAt", t.ClusterStagingAt(k.HeadDim, group, cache.Bytes), "the staging the other splits push to, past the CTA's own shared memory");
            else
                b.Constant("kMergeSplits", Math.Min(t.Warps * t.WarpBytes(k.HeadDim, group, cache.Bytes) / (group * k.HeadDim * 2), (group + 2) * k.HeadDim * 2 / (group * 8)),
                    "splits' partials a round of the last split's merge takes: rows in the warp regions, (max, sum) where the qkv rows were");
            b.Raw("typedef " + cache.Name + " gc_cache;  // kv_cache.dtype\n\n")
                .Raw(KvCacheCodec.Rows(fp8, cache, withCodes: true))
                .Raw(k.WithRope ? Elementwise.RopeEmitter.DeviceFunctions(k.Theta, k.HeadDim) : "")
                .Raw(FlashTile.Loader("kWarpKeys", k.Activation, k.KvDType))
                .Raw(FlashTile.QueryStore(codeOrder: fp8))
                .Raw(KeysAsRowsTile.DeviceFunctions("kWarpKeys", k.KvDType));

            b.Parameter("const gc_act* __restrict__", "qkv", k.WithRope ? "buffer qkv [S, q | k | v], rotated here" : "buffer qkv [S, q | k | v], RoPE applied");
            if (k.WithRope) b.Parameter("const int* __restrict__", "positions", "buffer positions [S]: the new token's position");
            b.PoolParameters()
             .Parameter("const int* __restrict__", "context_lens", "tokens per sequence, the new one included [S]");
            if (fp8) b.Parameter("const float* __restrict__", "kv_scale", "this layer's K and V cache scales [2] fp32");
            b.Parameter("gc_act* __restrict__", "out", "buffer attn_out [S, heads · head_dim]");
            if (!cluster)
                b.Parameter("float* __restrict__", "partials", "split partials (decode_split_partials): rows [S · heads, splits, head_dim] in the activation dtype, then (max, sum) [S · heads, splits] fp32")
                 .Parameter("int* __restrict__", "split_counters", "split arrivals per (sequence, KV head), zero between launches");
            b.Parameter("int", "sequences", "S");

            string source = b.Finish("kThreads", Body(fp8, k.WithRope, cluster));
            return new KernelSource(k.Name, k.Family, k.Summary, tiles.Arch.Name, source, b.Parameters.ToEquatableArray(), launch, null);
        }

        private static string Body(bool fp8, bool rope, bool cluster) => @"    extern __shared__ __align__(128) unsigned char smem[];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    gc_act* q_s = reinterpret_cast<gc_act*>(smem);                                 // [8 · kNTiles][kHeadDim] swizzled: the group's queries
    unsigned char* const regions = smem + kQBytes;                                   // kWarps regions of kWarpBytes
    unsigned char* warp_s = regions + warp * kWarpBytes;
    gc_act* rows_s = reinterpret_cast<gc_act*>(regions + kWarps * kWarpBytes);     // the qkv row's group queries, K and V, as they are
    float* m_s = reinterpret_cast<float*>(rows_s + (kGroup + 2) * kHeadDim);       // merged max per head (exp2 units)
    float* l_s = m_s + kGroup;                                                       // merged sum per head
    float* new_kv_s = l_s + kGroup;                                                  // the new token's K, then V, as the tensor cores would read them
    float* new_score_s = new_kv_s + 2 * kHeadDim;                                    // its K · each query, in parts [kGroup][kScoreParts]
    __shared__ int is_last_split;

    const int g = blockIdx.x, s = blockIdx.y, z = blockIdx.z;
    if (s >= sequences) return;
" + (cluster ? @"    if (gridDim.z > 1) gc_cluster_arrive_relaxed();   // this CTA has started; waited for before anyone pushes into it
" : "") + @"    const float neg_inf = __int_as_float(0xff800000u);

    // ---- The step's own rows in flight first, beside the context length" + (rope ? " and the position" : "") + @": the group's queries, K and V ----
    const gc_act* row = qkv + (long long)s * kQkvStride;
    for (int i = threadIdx.x; i < (kGroup + 2) * kChunks; i += kThreads) {
        const int r = i / kChunks, head = r < kGroup ? g * kGroup + r : kHeads + (r - kGroup) * kKvHeads + g;
        gc_cp_async16(gc_smem_address(rows_s) + i * 16, row + head * kHeadDim + i % kChunks * 8, 16);
    }
    gc_cp_async_commit();
" + (rope ? @"    const float position = (float)positions[s];
" : "") + @"
    // ---- This split's positions: the context in tiles of kBlockN, spread evenly over the splits that get any ----
    const int context = context_lens[s], newest = context - 1;
    const int tiles = (context + kBlockN - 1) / kBlockN;
    const int used = min((int)gridDim.z, tiles);
    const int tiles_per_split = (tiles + used - 1) / used;
    const int splits = (tiles + tiles_per_split - 1) / tiles_per_split;
    if (z >= splits) {
        gc_cp_async_wait<0>();   // nothing lands in shared memory after the CTA is gone
" + (cluster ? @"        if (gridDim.z > 1) {   // a cluster's barriers count every CTA of it, these too
            gc_cluster_wait();
            if (splits > 1) gc_cluster_sync();
        }
" : "") + @"        return;
    }
    const int begin = z * tiles_per_split * kBlockN, end = min(context, (z + 1) * tiles_per_split * kBlockN);
    const int* blocks = block_tables + (long long)s * max_blocks;
" + (fp8 ? @"    const float k_scale = kv_scale[0], v_scale = kv_scale[1];
" : @"    const float k_scale = 1.0f, v_scale = 1.0f;
") + @"
    // ---- Each warp its own tiles of kWarpKeys positions (every kWarps-th of the split) from the cache, kStages deep, no
    // block barrier; the new token is not read back: the split holding it merges it from the qkv row ----
    const bool holds_newest = newest >= begin && newest < end;
    const int newest_block = holds_newest ? blocks[newest / kBlockSize] : 0;   // where the new token is written, for the steps after this one
    const int cached_end = min(end, newest);
    const int warp_tiles = ((cached_end - begin + kWarpKeys - 1) / kWarpKeys - warp + kWarps - 1) / kWarps;
    const gc_u32 stage_address = gc_smem_address(warp_s), q_address = gc_smem_address(q_s);
    auto first_of = [&](int j) { return begin + (warp + j * kWarps) * kWarpKeys; };
    auto load_tile = [&](int j, int stage) {
        const gc_u32 k_dst = stage_address + stage * 2 * kTileBytes;
        load_kv<32>(kv_pool, blocks, g, first_of(j), cached_end, k_dst, k_dst + kTileBytes, lane);
    };
    kv_pipeline_start(warp_tiles, load_tile);   // the first tiles in flight under the prologue's round trips

    gc_cp_async_wait<kStages - 1>();   // this thread's staged rows: the pipeline's kStages − 1 groups came after them
" + (rope ? RopePrologue : PlainPrologue) + @"    __syncthreads();

    gc_u32 qb[kNTiles][kHeadDim / 16][2];
    q_fragments(qb, q_address, lane);
    float ot[kHeadDim / 16][kNTiles][4], m_run[kNTiles][2], l_run[kNTiles][2];
    decode_init(ot, m_run, l_run);
    const float score_scale = kScoreScale * k_scale;
    for (int j = 0; j < warp_tiles; ++j) {
        kv_pipeline_wait<false>(j, warp_tiles, load_tile);   // the warp's own stages: a warp barrier
        const gc_u32 k_address = stage_address + (j % kStages) * 2 * kTileBytes, v_address = k_address + kTileBytes;
        const int t0 = first_of(j);
        float st[kWarpKeys / 16][kNTiles][4];
        decode_scores(st, qb, k_address, lane);
        if (t0 + kWarpKeys > cached_end) {   // the split's last tile: positions past its end
#pragma unroll
            for (int kt = 0; kt < kWarpKeys / 16; ++kt)
#pragma unroll
                for (int nt = 0; nt < kNTiles; ++nt)
#pragma unroll
                    for (int e = 0; e < 4; ++e)
                        if (t0 + 16 * kt + lane / 4 + 8 * (e / 2) >= cached_end) st[kt][nt][e] = neg_inf;
        }
        decode_softmax(st, m_run, l_run, ot, score_scale);
        decode_pv(ot, st, v_address, lane);
        kv_pipeline_release<false>();
    }
    gc_cp_async_wait<0>();
    __syncwarp();   // the stages are free: the warp's partial result goes there

    // ---- Warp partials [8 · kNTiles][kHeadDim + 2]: O unnormalized, the max in exp2 units, the sum; merged per head into warp 0's ----
    float* part = reinterpret_cast<float*>(warp_s);
#pragma unroll
    for (int nt = 0; nt < kNTiles; ++nt)
#pragma unroll
        for (int hh = 0; hh < 2; ++hh) {
            float l = l_run[nt][hh];   // over the lane's keys, then the eight lanes sharing lane % 4
#pragma unroll
            for (int width = 4; width < 32; width *= 2) l += __shfl_xor_sync(0xffffffffu, l, width);
            float* r = part + (8 * nt + 2 * (lane % 4) + hh) * (kHeadDim + 2);
#pragma unroll
            for (int mt = 0; mt < kHeadDim / 16; ++mt) {
                r[o_dim(mt, lane / 4)] = ot[mt][nt][hh];
                r[o_dim(mt, lane / 4 + 8)] = ot[mt][nt][2 + hh];
            }
            if (lane < 4) {
                r[kHeadDim] = m_run[nt][hh] * score_scale;
                r[kHeadDim + 1] = l;
            }
        }
    __syncthreads();
    float* const merged = reinterpret_cast<float*>(regions);   // warp 0's partial, rescaled in place
    for (int i = threadIdx.x; i < kGroup * kHeadDim; i += kThreads) {
        const int h = i / kHeadDim, d = i % kHeadDim;
        float newest_score = neg_inf;   // the new token as one more partial (its score is its max, its p is 1), where it is held
        if (holds_newest) {
            newest_score = 0.0f;
#pragma unroll
            for (int part = 0; part < kScoreParts; ++part) newest_score += new_score_s[h * kScoreParts + part];
            newest_score *= score_scale;
        }
        float m = newest_score;
#pragma unroll
        for (int w = 0; w < kWarps; ++w) m = fmaxf(m, reinterpret_cast<const float*>(regions + w * kWarpBytes)[h * (kHeadDim + 2) + kHeadDim]);
        const float newest_weight = exp2f(newest_score - m);   // 0 in a split without it
        float acc = holds_newest ? new_kv_s[kHeadDim + d] * newest_weight : 0.0f, l = newest_weight;
#pragma unroll
        for (int w = 0; w < kWarps; ++w) {
            const float* r = reinterpret_cast<const float*>(regions + w * kWarpBytes) + h * (kHeadDim + 2);
            const float weight = exp2f(r[kHeadDim] - m);   // a warp with no positions has max −∞: weight 0
            acc = fmaf(r[d], weight, acc);
            l = fmaf(r[kHeadDim + 1], weight, l);
        }
        merged[h * (kHeadDim + 2) + d] = acc * v_scale;   // only this thread reads that element
        if (d == 0) {
            m_s[h] = m;
            l_s[h] = l;
        }
    }
    __syncthreads();

    // ---- One split: normalize and store. Several: combine the splits' (acc, max, sum) ----
    gc_act* out_row = out + (long long)s * kHeads * kHeadDim + g * kGroup * kHeadDim;
    if (splits == 1) {
        for (int i = threadIdx.x; i < kGroup * kHeadDim; i += kThreads) out_row[i] = gc_f32_to_act(merged[i / kHeadDim * (kHeadDim + 2) + i % kHeadDim] / l_s[i / kHeadDim]);
" + (cluster ? @"        if (gridDim.z > 1) gc_cluster_wait();
" : "") + @"        return;
    }
" + (cluster ? ClusterMerge : GlobalMerge);

        private const string GlobalMerge = @"    // ---- Several splits, no clusters: publish (acc, max, sum) to global memory; the last to arrive combines them ----
    // Partials: each split's output rows normalized, in the activation dtype as the output is (half the bytes the last split
    // reads) [sequences · heads][splits][kHeadDim], then their (max, sum) fp32.
    const long long head0 = (long long)s * kHeads + g * kGroup;
    gc_act* const split_rows = reinterpret_cast<gc_act*>(partials);
    float* const split_stats = reinterpret_cast<float*>(split_rows + (long long)sequences * kHeads * gridDim.z * kHeadDim);
    for (int i = threadIdx.x; i < kGroup * kChunks; i += kThreads) {
        const int h = i / kChunks, d = i % kChunks * 8;
        gc_act8 x;
#pragma unroll
        for (int e = 0; e < 8; ++e) x.v[e] = gc_f32_to_act(merged[h * (kHeadDim + 2) + d + e] / l_s[h]);
        *reinterpret_cast<gc_act8*>(split_rows + ((head0 + h) * gridDim.z + z) * kHeadDim + d) = x;
    }
    if (threadIdx.x < kGroup) *reinterpret_cast<float2*>(split_stats + ((head0 + threadIdx.x) * gridDim.z + z) * 2) = make_float2(m_s[threadIdx.x], l_s[threadIdx.x]);
    gc_fence_acq_rel();   // released before the arrival
    __syncthreads();
    if (threadIdx.x == 0) {
        int* counter = split_counters + (long long)s * kKvHeads + g;
        is_last_split = atomicAdd(counter, 1) == splits - 1;
        if (is_last_split) *counter = 0;   // every split has arrived: ready for the next launch (and graph replay)
    }
    __syncthreads();
    if (!is_last_split) return;
    gc_fence_acq_rel();   // the other splits' partials, acquired

    // ---- The last split: the partials through shared memory, kMergeSplits splits a round with every copy in flight; eight
    // output dimensions a thread, each split's row weighted by its sum, as the online softmax runs (every split's max is
    // finite) ----
    gc_act* const rows_round = reinterpret_cast<gc_act*>(regions);                    // [kMergeSplits][kGroup · kHeadDim]
    float2* const stats_round = reinterpret_cast<float2*>(rows_s);                    // [kMergeSplits][kGroup]
    constexpr int kItems = kGroup * kChunks, kThreadItems = (kItems + kThreads - 1) / kThreads;
    float m[kThreadItems], l[kThreadItems], acc[kThreadItems][8];
#pragma unroll
    for (int k = 0; k < kThreadItems; ++k) {
        m[k] = neg_inf;
        l[k] = 0.0f;
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[k][e] = 0.0f;
    }
    for (int q0 = 0; q0 < splits; q0 += kMergeSplits) {
        const int n = min(kMergeSplits, splits - q0);
        for (int i = threadIdx.x; i < n * kItems; i += kThreads) {
            const int q = q0 + i / kItems, h = i % kItems / kChunks;
            gc_cp_async16(gc_smem_address(rows_round) + i * 16, split_rows + ((head0 + h) * gridDim.z + q) * kHeadDim + i % kChunks * 8, 16);
        }
        gc_cp_async_commit();
        for (int i = threadIdx.x; i < n * kGroup; i += kThreads)
            stats_round[i] = gc_load_cg2(split_stats + ((head0 + i % kGroup) * gridDim.z + q0 + i / kGroup) * 2);
        gc_cp_async_wait<0>();
        __syncthreads();
#pragma unroll
        for (int k = 0; k < kThreadItems; ++k) {
            const int i = threadIdx.x + k * kThreads, h = i / kChunks;
            if (i >= kItems) break;
            for (int q = 0; q < n; ++q) {
                const gc_act8 x = *reinterpret_cast<const gc_act8*>(rows_round + (q * kItems + i) * 8);
                const float2 split = stats_round[q * kGroup + h];
                const float top = fmaxf(m[k], split.x), old = exp2f(m[k] - top), w = exp2f(split.x - top) * split.y;
#pragma unroll
                for (int e = 0; e < 8; ++e) acc[k][e] = fmaf(gc_act_to_f32(x.v[e]), w, acc[k][e] * old);
                l[k] = fmaf(l[k], old, w);
                m[k] = top;
            }
        }
        __syncthreads();   // the round is read: the next one's copies may land
    }
#pragma unroll
    for (int k = 0; k < kThreadItems; ++k) {
        const int i = threadIdx.x + k * kThreads;
        if (i >= kItems) break;
        gc_act8 o;   // head i / kChunks, dimensions 8 · (i % kChunks) on
#pragma unroll
        for (int e = 0; e < 8; ++e) o.v[e] = gc_f32_to_act(acc[k][e] / l[k]);
        *reinterpret_cast<gc_act8*>(out_row + i * 8) = o;
    }
";

        private const string ClusterMerge = @"    // ---- Several splits: the launch's cluster is this (sequence, KV head)'s splits, rank q split q. Each CTA owns every
    // splits-th output item (8 dimensions of a head) and every split pushes its (acc, max, sum) for those into the owner's
    // staging through distributed shared memory: stores, which nobody waits on, then one cluster barrier, and each owner
    // combines its items from its own shared memory, a group of lanes (a power of two ≥ splits) a split each ----
    if (gc_cluster_ctas() != gridDim.z) __trap();   // the runtime launches clusters of (1, 1, splits)
    constexpr int kItems = kGroup * kChunks;
    float* const staged_rows = reinterpret_cast<float*>(smem + kStagingAt);   // [slot · splits + split][8]: this CTA's items as each split has them
    float* const staged_stats = staged_rows + (kItems + kClusterCtas - 1) * 8;  // [kGroup][kClusterCtas] (max, sum) of every split
    const gc_u32 rows_address = gc_smem_address(staged_rows), stats_address = gc_smem_address(staged_stats);
    gc_cluster_wait();   // every CTA of the cluster has started: its staging exists
    for (int i = threadIdx.x; i < kItems; i += kThreads) {
        const int owner = i % splits, slot = i / splits;
        const gc_u32 to = gc_cluster_address(rows_address + (slot * splits + z) * 32, owner);
        const float* from = merged + i / kChunks * (kHeadDim + 2) + i % kChunks * 8;
        gc_store_cluster4(to, from);
        gc_store_cluster4(to + 16, from + 4);
    }
    for (int i = threadIdx.x; i < kGroup * splits; i += kThreads) {   // every head's (max, sum) to every split
        const int h = i % kGroup;
        gc_store_cluster2(gc_cluster_address(stats_address + (h * kClusterCtas + z) * 8, i / kGroup), m_s[h], l_s[h]);
    }
    gc_cluster_sync();   // every push has landed
    const int lanes = 1 << (32 - __clz(splits - 1)), q = threadIdx.x % lanes;
    const int items = (kItems - z + splits - 1) / splits;   // this CTA's: z, z + splits, ...
    for (int slot0 = 0; slot0 < items; slot0 += kThreads / lanes) {   // the same trip count in every lane: the shuffles take them all
        const int slot = slot0 + threadIdx.x / lanes, item = z + slot * splits, h = item / kChunks;
        float m = neg_inf, l = 0.0f, acc[8] = {};
        if (slot < items && q < splits) {
            const float4 lo = *reinterpret_cast<const float4*>(staged_rows + (slot * splits + q) * 8);
            const float4 hi = *reinterpret_cast<const float4*>(staged_rows + (slot * splits + q) * 8 + 4);
            acc[0] = lo.x; acc[1] = lo.y; acc[2] = lo.z; acc[3] = lo.w;
            acc[4] = hi.x; acc[5] = hi.y; acc[6] = hi.z; acc[7] = hi.w;
            m = staged_stats[(h * kClusterCtas + q) * 2];
            l = staged_stats[(h * kClusterCtas + q) * 2 + 1];
        }
        float top = m;
        for (int width = 1; width < lanes; width *= 2) top = fmaxf(top, __shfl_xor_sync(0xffffffffu, top, width));
        const float w = m == neg_inf ? 0.0f : exp2f(m - top);   // lanes past the splits, and slots past the items, weigh 0
        l *= w;
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[e] *= w;
        for (int width = 1; width < lanes; width *= 2) {
            l += __shfl_xor_sync(0xffffffffu, l, width);
#pragma unroll
            for (int e = 0; e < 8; ++e) acc[e] += __shfl_xor_sync(0xffffffffu, acc[e], width);
        }
        if (slot < items && q == 0) {
            gc_act8 o;
#pragma unroll
            for (int e = 0; e < 8; ++e) o.v[e] = gc_f32_to_act(acc[e] / l);
            *reinterpret_cast<gc_act8*>(out_row + item * 8) = o;
        }
    }
";

        private const string PlainPrologue = @"    __syncthreads();

    // ---- The new token's K and V into its block for the steps after this one; the group's queries into q_s (rows past it
    // zero), each dotted with the new token's K as the cache holds it (its score, in parts) ----
    const gc_act* const k_row = rows_s + kGroup * kHeadDim;
    if (holds_newest && threadIdx.x < 2 * kChunks) {
        const int v = threadIdx.x / kChunks, d0 = threadIdx.x % kChunks * 8;   // v = 0: K, 1: V
        const gc_act8 x = *reinterpret_cast<const gc_act8*>(k_row + v * kHeadDim + d0);
        float f[8];
#pragma unroll
        for (int e = 0; e < 8; ++e) {
            f[e] = gc_act_to_f32(x.v[e]);
            new_kv_s[v * kHeadDim + d0 + e] = as_code(f[e], v ? v_scale : k_scale);
        }
        store_row8(kv_pool + ((long long)newest_block * 2 * kKvHeads + v * kKvHeads + g) * kHeadRun + (newest % kBlockSize) * kHeadDim + d0,
                   v ? v_scale : k_scale, f);
    }
    if (holds_newest) __syncthreads();   // the new token's K codes, before the queries meet them
    for (int i = threadIdx.x; i < 8 * kNTiles * (kChunks / 2); i += kThreads) {   // sixteen dimensions an item
        const int r = i / (kChunks / 2), step = i % (kChunks / 2);
        gc_act8 lo = {}, hi = {};
        if (r < kGroup) {
            lo = *reinterpret_cast<const gc_act8*>(rows_s + r * kHeadDim + step * 16);
            hi = *reinterpret_cast<const gc_act8*>(rows_s + r * kHeadDim + step * 16 + 8);
            if (holds_newest) {
                float part = 0.0f;
#pragma unroll
                for (int e = 0; e < 8; ++e) part += gc_act_to_f32(lo.v[e]) * new_kv_s[step * 16 + e] + gc_act_to_f32(hi.v[e]) * new_kv_s[step * 16 + 8 + e];
                new_score_s[r * kScoreParts + step] = part;
            }
        }
        store_q16(q_s, r, step, lo, hi);
    }
";

        private const string RopePrologue = @"    // One token's cos and sin per rotation pair, once a CTA: the group's queries and the K row use them.
    float* const rope_cos = new_score_s + kGroup * kScoreParts;
    float* const rope_sin = rope_cos + kHalf;
    for (int i = threadIdx.x; i < kHalf; i += kThreads) gc_rope_cos_sin(position, i, rope_cos[i], rope_sin[i]);
    __syncthreads();

    // ---- The new token's K (rotated, RoPE) and V into its block for the steps after this one; the group's queries rotated
    // into q_s (rows past it zero), each dotted with the new token's K as the cache holds it (its score, in parts) ----
    auto cached_cos_sin = [&](int j, float& c, float& sn) { c = rope_cos[j]; sn = rope_sin[j]; };
    const gc_act* const k_row = rows_s + kGroup * kHeadDim;
    gc_cache* const new_slot = kv_pool + ((long long)newest_block * 2 * kKvHeads + g) * kHeadRun + (newest % kBlockSize) * kHeadDim;
    if (holds_newest && threadIdx.x < kChunks / 2) {   // eight rotation pairs a thread
        const int d0 = threadIdx.x * 8;
        float x1[8], x2[8];   // the rotated K as the activation dtype holds it, then as the cache does
        gc_rope_rotate8(k_row, d0, cached_cos_sin, x1, x2);
        store_row8(new_slot + d0, k_scale, x1);
        store_row8(new_slot + d0 + kHalf, k_scale, x2);
#pragma unroll
        for (int e = 0; e < 8; ++e) {
            new_kv_s[d0 + e] = as_code(x1[e], k_scale);
            new_kv_s[d0 + kHalf + e] = as_code(x2[e], k_scale);
        }
    } else if (holds_newest && threadIdx.x < kChunks / 2 + kChunks) {
        const int d0 = (threadIdx.x - kChunks / 2) * 8;
        const gc_act8 x = *reinterpret_cast<const gc_act8*>(k_row + kHeadDim + d0);
        float f[8];
#pragma unroll
        for (int e = 0; e < 8; ++e) {
            f[e] = gc_act_to_f32(x.v[e]);
            new_kv_s[kHeadDim + d0 + e] = as_code(f[e], v_scale);
        }
        store_row8(new_slot + kKvHeads * kHeadRun + d0, v_scale, f);
    }
    if (holds_newest) __syncthreads();   // the new token's K codes, before the queries meet them
    for (int i = threadIdx.x; i < 8 * kNTiles * (kChunks / 4); i += kThreads) {   // dimensions 16j .. 16j + 15 and their partners
        const int r = i / (kChunks / 4), step = i % (kChunks / 4);
        gc_act8 lo[2] = {}, hi[2] = {};
        if (r < kGroup) {
            float part = 0.0f;
#pragma unroll
            for (int c = 0; c < 2; ++c) {
                const int d0 = step * 16 + c * 8;
                gc_rope_rotate8(rows_s + r * kHeadDim, d0, cached_cos_sin, lo[c], hi[c]);
                if (holds_newest)
#pragma unroll
                    for (int e = 0; e < 8; ++e)
                        part += gc_act_to_f32(lo[c].v[e]) * new_kv_s[d0 + e] + gc_act_to_f32(hi[c].v[e]) * new_kv_s[d0 + kHalf + e];
            }
            if (holds_newest) new_score_s[r * kScoreParts + step] = part;
        }
        store_q16(q_s, r, step, lo[0], lo[1]);
        store_q16(q_s, r, step + kChunks / 4, hi[0], hi[1]);
    }
";
    }
}
