using System;
using GraphCompiler.Common;
using GraphCompiler.Graph;
using GraphCompiler.Planning;
using GraphCompiler.Spec;

namespace GraphCompiler.Kernels.Attention
{
    /// <summary>
    /// Paged decode attention (flash-decoding) on tensor cores: one CTA per (KV head, sequence and its query chunk, context
    /// split), whose GQA group of query heads — for each step token of the chunk — are the columns of its MMAs
    /// (<see cref="KeysAsRowsTile"/>: Sᵀ = K·Qᵀ, Oᵀ += Vᵀ·Pᵀ, keys as rows), so each KV byte is read once per group and chunk.
    /// A sequence brings 1 to <see cref="DecodeQueries.MaxStepTokens"/> tokens to a step (its next token, or that and draft
    /// tokens to verify: every token's output, each seeing the step's tokens up to itself); a chunk is as many tokens as
    /// the group's column tiles hold. Split z takes the cached context's block_n tiles z, z + splits, … and each warp the
    /// warp-th block_n / warps positions of each, on its own — its own cp.async stages through the block table
    /// (<see cref="KvCacheLayout"/>, <see cref="FlashTile.Loader"/>; the block ids of its tiles, a lane each, read at the
    /// start before the context length and a round ahead after, so no load waits for a table read; copied under L2's
    /// evict-first policy: a step reads each cached row once), the scores, online softmax and P·V in registers (an FP8
    /// cache's codes widened there on their way from ldmatrix to the MMA) — with no block barrier until the warps' partial
    /// results land; then, after one barrier, a thread an item (eight dimensions of a column) merges it over the warps in
    /// one pass and stores it, or hands it on to the splits' merge. The last split
    /// takes the step's tokens from the qkv rows, rounded as the cache holds them, as one more partial in that pass, and
    /// its warp 0 writes them into their blocks for the steps after this one once their entries land (a cp.async group of
    /// their own), so no split waits for the writes nor any prologue for those entries, and every split's first tiles are
    /// in flight before its prologue. With several splits, on GPUs with thread-block clusters (sm_90+) a (sequence, chunk,
    /// KV head)'s splits are one cluster: each pushes its items' (acc, max, sum) into the shared memory of the CTAs that
    /// own them, and after one cluster barrier each owner combines its items (a few lanes an item). Below sm_90 each
    /// writes its items normalized, in the activation dtype, and their (max, sum) to global memory, and the last to arrive
    /// copies them into its warp regions, as many splits a round as those hold with every copy in flight, and combines
    /// them in one online-softmax pass.
    /// The CPU reference is CpuAttention's rule; this kernel rounds P to the activation dtype for the tensor cores.
    /// </summary>
    public static class DecodeAttentionEmitter
    {
        /// <summary>Why a decode-attention kernel cannot be emitted yet, or null.</summary>
        public static string? Unsupported(DecodeAttentionKernel k) =>
            FlashTile.Unsupported(k.HeadDim, k.WriteFp8)
            ?? (k.Heads / k.KvHeads > 32 ? $"{k.Heads / k.KvHeads} query heads per KV head: at most 32 (four 8-column MMA tiles)" : null);

        /// <summary>Why the tiles do not suit this kernel, or null (<see cref="DecodeAttentionTiles.BlockNRule"/>).</summary>
        public static string? TilesUnsupported(DecodeAttentionKernel k, DecodeAttentionTiles t) => t.BlockNRule(k.BlockSize)?.Message;

        public static int SharedMemoryBytes(DecodeAttentionKernel k, DecodeAttentionTiles t, GpuArch arch, int stepTokens = 1) =>
            t.SharedMemoryBytes(k.HeadDim, k.Queries, k.KvDType.SizeInBytes(), DecodeAttentionFamily.MergeClusterCtas(arch), stepTokens);

        public static KernelSource Emit(DecodeAttentionKernel k, ArchTiles tiles, LaunchShape launch)
        {
            var t = tiles.Decode(k.Tiles);
            bool fp8 = k.KvDType is DType.F8E4M3 or DType.F8E5M2;
            var cache = CudaDialect.Of(k.KvDType);
            var q = k.Queries;
            int warpKeys = t.BlockN / t.Warps, span = FlashTile.TileSpan(warpKeys, k.BlockSize);
            string tileKey = "tiles." + tiles.Arch.Name + "." + k.Tiles.SpecName();
            bool cluster = DecodeAttentionFamily.MergesInCluster(tiles.Arch);
            var b = new CudaSourceBuilder(k.Name, k.Summary, k.Activation,
                    PreludeFeatures.TensorCore | PreludeFeatures.ReadOnce | (cluster ? PreludeFeatures.Cluster : PreludeFeatures.CrossCta) | (fp8 ? PreludeFeatures.Fp8 : PreludeFeatures.None))
                .HeadAndCacheConstants(k.Heads, k.KvHeads, k.HeadDim, k.BlockSize)
                .Constant("kGroup", q.Group, "query heads per KV head (GQA)")
                .Constant("kNTiles", q.ColumnTiles, "8-column MMA tiles the group fills")
                .Constant("kQueryTokens", q.TokensPerCta, "step tokens a CTA takes: whole groups in its column tiles")
                .Constant("kColumns", q.Columns, "query columns a CTA uses at most: token-major, kGroup heads a token")
                .Constant("kQBytes", 8 * q.ColumnTiles * k.HeadDim * 2, "the CTA's queries, 8 · kNTiles rows")
                .Constant("kBlockN", t.BlockN, tileKey + ".block_n: positions a CTA step covers")
                .Constant("kWarps", t.Warps, tileKey + ".warps: split the positions")
                .Constant("kThreads", t.Warps * 32, "warps × 32")
                .Constant("kMinBlocks", DecodeAttentionFamily.ResidentCtasPerSm(k, t, tiles.Arch), "CTAs an SM holds, as the runtime's split count counts on them (DecodeAttentionFamily.ResidentCtasPerSm): registers kept to fit")
                .Constant("kWarpKeys", warpKeys, "positions of one warp's tile")
                .Constant("kStages", t.Stages, tileKey + ".stages: a warp's K/V tiles in flight")
                .Constant("kHeldBack", DecodeAttentionTiles.HeldBack(t.Stages), "of a warp's kStages − 1 first tiles, those issued once the step's rows land (DecodeAttentionTiles.HeldBack)")
                .Constant("kLoadChunks", k.HeadDim * cache.Bytes / 16, "16-byte chunks of a cache row")
                .Constant("kTileBytes", warpKeys * k.HeadDim * cache.Bytes, "one warp's K or V tile as the cache stores it")
                .Constant("kTileSpan", span, "cache blocks a warp's tile lies in, at most")
                .Constant("kIdTiles", 32 / span, "tiles whose block ids a warp's lanes hold at once")
                .Constant("kWarpBytes", t.WarpBytes(k.HeadDim, q, cache.Bytes), "a warp's region: its stages, then its partial result")
                .Constant("kPartStride", DecodeAttentionTiles.PartStride(k.HeadDim), "floats a column of a warp's partial result takes: O, max, sum, on 16-byte boundaries")
                .Constant("kStepTokensAt", t.StepTokensAt(k.HeadDim, q, cache.Bytes, DecodeAttentionFamily.MergeClusterCtas(tiles.Arch)),
                    "the step tokens' part, sized by the launch: step_tokens × (K and V rows, scores, RoPE angles)")
                .Constant("kScoreScale", (float)(1.0 / Math.Sqrt(k.HeadDim) * 1.4426950408889634), "1/√head_dim · log2(e): scores in exp2 units")
                .Constant("kScoreParts", k.HeadDim / 16, "a score against a step token in parts: one a query item of the prologue");
            if (cluster)
                b.Constant("kClusterCtas", tiles.Arch.ClusterCtasMax, "the largest cluster of splits (" + tiles.Arch.Name + "): the staging's (max, sum) stride")
                 .Constant("kStagingAt", t.ClusterStagingAt(k.HeadDim, q, cache.Bytes), "the staging the other splits push to, past the CTA's own shared memory");
            else
                b.Constant("kMergeSplits", Math.Min(t.Warps * t.WarpBytes(k.HeadDim, q, cache.Bytes) / (q.Columns * k.HeadDim * 2), DecodeAttentionTiles.QueryRowBytes(k.HeadDim, q) / (q.Columns * 8)),
                    "splits' partials a round of the last split's merge takes: rows in the warp regions, (max, sum) where the query rows were");
            b.Raw("typedef " + cache.Name + " gc_cache;  // kv_cache.dtype\n\n")
                .Raw(KvCacheCodec.Rows(fp8, cache, withCodes: true))
                .Raw(k.WithRope ? Elementwise.RopeEmitter.DeviceFunctions(k.Theta, k.HeadDim, tableInGlobalMemory: true) : "")
                .Raw(FlashTile.Loader("kWarpKeys", k.Activation, k.KvDType, readOnce: true))
                .Raw(WarpTiles)
                .Raw(FlashTile.QueryStore(codeOrder: fp8))
                .Raw(KeysAsRowsTile.DeviceFunctions("kWarpKeys", k.KvDType))
                .Raw(EightWide);

            b.Parameter("const gc_act* __restrict__", "qkv", k.WithRope ? "buffer qkv [T, q | k | v], rotated here" : "buffer qkv [T, q | k | v], RoPE applied");
            if (k.WithRope) b.Parameter("const int* __restrict__", "positions", "buffer positions [T]: each step token's position");
            b.PoolParameters()
             .Parameter("const int* __restrict__", "context_lens", "tokens per sequence, the step's included [S]")
             .Parameter("const int* __restrict__", "cu_seqlens", "each sequence's first row of the step [S + 1]; read only when step_tokens > 1 (else row s is sequence s)");
            if (fp8) b.Parameter("const float* __restrict__", "kv_scale", "this layer's K and V cache scales [2] fp32");
            b.Parameter("gc_act* __restrict__", "out", "buffer attn_out [T, heads · head_dim]");
            if (!cluster)
                b.Parameter("float* __restrict__", "partials", "split partials (decode_split_partials): rows [T · heads, splits, head_dim] in the activation dtype, then (max, sum) [T · heads, splits] fp32")
                 .Parameter("int* __restrict__", "split_counters", "split arrivals per (first row of a query chunk, KV head), zero between launches")
                 .Parameter("int", "tokens", "T: rows of the step");
            b.Parameter("int", "sequences", "S")
             .Parameter("int", "step_tokens", "the most tokens a sequence brings to this step, 1 to " + DecodeQueries.MaxStepTokens + ": CTAs along y are S × ⌈step_tokens / kQueryTokens⌉, and the launch's shared memory holds as many step tokens");

            string source = b.Finish("kThreads", Body(fp8, k.WithRope, cluster), "kMinBlocks");
            return new KernelSource(k.Name, k.Family, k.Summary, tiles.Arch.Name, source, b.Parameters.ToEquatableArray(), launch, null);
        }

        private static string Body(bool fp8, bool rope, bool cluster) => @"    extern __shared__ __align__(128) unsigned char smem[];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    gc_act* q_s = reinterpret_cast<gc_act*>(smem);                                 // [8 · kNTiles][kHeadDim] swizzled: the CTA's queries
    unsigned char* const regions = smem + kQBytes;                                   // kWarps regions of kWarpBytes
    unsigned char* warp_s = regions + warp * kWarpBytes;
    gc_act* rows_s = reinterpret_cast<gc_act*>(regions + kWarps * kWarpBytes);     // the CTA's query rows as they are [kColumns]
    // The step tokens' part, step_tokens deep: their K and V rows (then, in place, what the cache holds of them), each
    // column's scores against them in parts [kColumns][step_tokens][kScoreParts], their RoPE cos and sin.
    gc_act* const new_k = reinterpret_cast<gc_act*>(smem + kStepTokensAt);
    gc_act* const new_v = new_k + step_tokens * kHeadDim;
    float* const new_score_s = reinterpret_cast<float*>(new_v + step_tokens * kHeadDim);
    __shared__ int is_last_split;
    __shared__ int write_blocks[kQueryTokens];                                       // the blocks the CTA's own step tokens go to

    const int g = blockIdx.x, z = blockIdx.z;
    const int chunks = (step_tokens + kQueryTokens - 1) / kQueryTokens;   // CTAs along y a sequence takes
    const int s = blockIdx.y / chunks, chunk = blockIdx.y % chunks;
    if (s >= sequences) return;
    const float neg_inf = __int_as_float(0xff800000u);

    // ---- The block ids of the warp's first tiles before anything else: where they lie does not wait for the context length ----
    const int* blocks = block_tables + (long long)s * max_blocks;
    WarpTiles tiles_w{blocks, max_blocks, lane, (z * kWarps + warp) * kWarpKeys, (int)gridDim.z * kBlockN};
    tiles_w.start();
" + (rope ? @"    const float inv_freq = kInvFreq[threadIdx.x % kHalf];   // this thread's RoPE pair's, read at entry: ahead of the first tiles' flood
" : "") + (fp8 ? @"    const float k_scale = kv_scale[0], v_scale = kv_scale[1];
" : @"    const float k_scale = 1.0f, v_scale = 1.0f;
") + @"    const float score_scale = kScoreScale * k_scale;

    // ---- The sequence's rows of this step (its next token, or that and draft tokens to verify); this CTA's queries are
    // its step tokens first_query .. first_query + n_query − 1, each seeing the step's tokens up to itself ----
    int first_row = s, step_len = 1;
    if (step_tokens > 1) {
        first_row = cu_seqlens[s];
        step_len = cu_seqlens[s + 1] - first_row;
    }
    const int first_query = chunk * kQueryTokens;
    if (first_query >= step_len) return;   // the whole cluster (it spans z only) has no tokens here
" + (cluster ? @"    if (gridDim.z > 1) gc_cluster_arrive_relaxed();   // this CTA has started; waited for before anyone pushes into it
" : "") + @"    const int n_query = min(kQueryTokens, step_len - first_query), n_new = first_query + n_query;   // n_new: step tokens whose K and V it needs
    const int n_cols = n_query * kGroup;

    // ---- The step's own rows in flight first, after the context length's load (its round trip starts before theirs)" + (rope ? " and beside the position" : "") + @":
    // the CTA's queries, the step tokens' K and V ----
    const int context = context_lens[s];
    const gc_act* const step_rows = qkv + (long long)first_row * kQkvStride;
    for (int i = threadIdx.x; i < (n_cols + 2 * n_new) * kChunks; i += kThreads) {
        const int r = i / kChunks, c = i % kChunks;
        const gc_act* src;
        gc_act* dst;
        if (r < n_cols) {   // query token first_query + r / kGroup, head r % kGroup of the group
            src = step_rows + (long long)(first_query + r / kGroup) * kQkvStride + (g * kGroup + r % kGroup) * kHeadDim;
            dst = rows_s + r * kHeadDim;
        } else {            // K (v = 0) or V of step token u
            const int v = (r - n_cols) / n_new, u = (r - n_cols) % n_new;
            src = step_rows + (long long)u * kQkvStride + (kHeads + v * kKvHeads + g) * kHeadDim;
            dst = new_k + (v * step_tokens + u) * kHeadDim;
        }
        gc_cp_async16(gc_smem_address(dst + c * 8), src + c * 8, 16);
    }
    gc_cp_async_commit();
" + (rope ? @"    const float position0 = (float)positions[first_row];   // the step's first token; the others follow it
" : "") + @"
    // ---- This split's positions: the cached context's kBlockN tiles, every gridDim.z-th from tile z; splits past the
    // context's tiles get none ----
    const int cached = context - step_len;
    const int splits = min((int)gridDim.z, max(1, (cached + kBlockN - 1) / kBlockN));
    if (z >= splits) {
        gc_cp_async_wait<0>();   // nothing lands in shared memory after the CTA is gone
" + (cluster ? @"        if (gridDim.z > 1) {   // a cluster's barriers count every CTA of it, these too
            gc_cluster_wait();
            if (splits > 1) gc_cluster_sync();
        }
" : "") + @"        return;
    }
    tiles_w.limit(cached);

    // ---- Each warp its own tiles of kWarpKeys positions (the warp-th of each of the split's) from the cache, kStages deep,
    // no block barrier; the step's tokens are not read back: the last split merges them from their rows ----
    const bool holds_new = z == splits - 1;
    const int warp_tiles = tiles_w.count();
    const gc_u32 stage_address = gc_smem_address(warp_s), q_address = gc_smem_address(q_s);
    auto load_tile = [&](int j, int stage) {   // in order: j = 0, 1, …
        const int id_lane = tiles_w.id_lane(j);
        const gc_u32 k_dst = stage_address + stage * 2 * kTileBytes;
        load_kv_ids<32>(kv_pool, blocks, tiles_w.ids, id_lane, g, tiles_w.first(j), cached, k_dst, k_dst + kTileBytes, lane);
    };
    if (holds_new && threadIdx.x < n_query)   // the blocks the CTA's own tokens go to, a group of their own ahead of the first tiles
        gc_cp_async4(gc_smem_address(write_blocks + threadIdx.x), blocks + (cached + first_query + threadIdx.x) / kBlockSize);
    gc_cp_async_commit();
    kv_pipeline_start<0, kStages - 1 - kHeldBack>(warp_tiles, load_tile);   // the first tiles in flight under the prologue's round trips

" + (rope ? RopeAngles : "") + @"    gc_cp_async_wait<kStages - kHeldBack>();   // this thread's staged rows: the write blocks' group and the first tiles came after them
    kv_pipeline_start<kStages - 1 - kHeldBack, kStages - 1>(warp_tiles, load_tile);   // the held-back first tiles, under the prologue's work
" + (rope ? RopePrologue : PlainPrologue) + @"    __syncthreads();

    // ---- The CTA's own step tokens into their blocks for the steps after this one: the codes the prologue left in
    // place, stored by one warp once the blocks' entries land, while the other warps start on their tiles ----
    if (holds_new && warp == 0) {
        gc_cp_async_wait<kStages - 1>();   // the entries: only the pipeline's groups came after them
        __syncwarp();
        for (int i = lane; i < 2 * n_query * kChunks; i += 32) {
            const int v = i / (n_query * kChunks), u = first_query + i / kChunks % n_query, d0 = i % kChunks * 8;   // v = 0: K, 1: V
            const gc_act8 x = *reinterpret_cast<const gc_act8*>(new_k + (v * step_tokens + u) * kHeadDim + d0);
            float f[8];
#pragma unroll
            for (int e = 0; e < 8; ++e) f[e] = gc_act_to_f32(x.v[e]);
            store_row8(kv_pool + ((long long)write_blocks[u - first_query] * 2 * kKvHeads + v * kKvHeads + g) * kHeadRun + (cached + u) % kBlockSize * kHeadDim + d0, 1.0f, f);   // a code's value: scale 1
        }
    }

    gc_u32 qb[kNTiles][kHeadDim / 16][2];
    q_fragments(qb, q_address, lane);
    float ot[kHeadDim / 16][kNTiles][4], m_run[kNTiles][2], l_run[kNTiles][2];
    decode_init(ot, m_run, l_run);
    for (int j = 0; j < warp_tiles; ++j) {
        kv_pipeline_wait<false>(j, warp_tiles, load_tile);   // the warp's own stages: a warp barrier
        const gc_u32 k_address = stage_address + (j % kStages) * 2 * kTileBytes, v_address = k_address + kTileBytes;
        const int t0 = tiles_w.first(j);
        float st[kWarpKeys / 16][kNTiles][4];
        decode_scores(st, qb, k_address, lane);
        if (t0 + kWarpKeys > cached) {   // the context's last tile: positions past its end
#pragma unroll
            for (int kt = 0; kt < kWarpKeys / 16; ++kt)
#pragma unroll
                for (int nt = 0; nt < kNTiles; ++nt)
#pragma unroll
                    for (int e = 0; e < 4; ++e)
                        if (t0 + 16 * kt + lane / 4 + 8 * (e / 2) >= cached) st[kt][nt][e] = neg_inf;
        }
        decode_softmax(st, m_run, l_run, ot, score_scale);
        decode_pv(ot, st, v_address, lane);
        kv_pipeline_release<false>();
    }
    gc_cp_async_wait<0>();
    __syncwarp();   // the stages are free: the warp's partial result goes there

    // ---- Warp partials [8 · kNTiles][kPartStride]: O unnormalized, the max in exp2 units, the sum ----
    float* part = reinterpret_cast<float*>(warp_s);
#pragma unroll
    for (int nt = 0; nt < kNTiles; ++nt)
#pragma unroll
        for (int hh = 0; hh < 2; ++hh) {
            float l = l_run[nt][hh];   // over the lane's keys, then the eight lanes sharing lane % 4
#pragma unroll
            for (int width = 4; width < 32; width *= 2) l += __shfl_xor_sync(0xffffffffu, l, width);
            float* r = part + (8 * nt + 2 * (lane % 4) + hh) * kPartStride;
#pragma unroll
            for (int mt = 0; mt < kHeadDim / 16; ++mt) {
                r[o_dim(mt, lane / 4)] = ot[mt][nt][hh];
                r[o_dim(mt, lane / 4 + 8)] = ot[mt][nt][2 + hh];
            }
            if (lane < 4) *reinterpret_cast<float2*>(r + kHeadDim) = make_float2(m_run[nt][hh] * score_scale, l);
        }
    __syncthreads();

    // ---- The CTA's result an item a thread (eight output dimensions of a column), merged in one pass over the warps'
    // partials and the step tokens the column sees (each one more partial of one key: its score is its max, its p is 1),
    // then stored (one split) or handed on to the splits' merge ----
    auto out_row = [&](int h) {   // column h's output row
        return out + ((long long)(first_row + first_query + h / kGroup) * kHeads + g * kGroup + h % kGroup) * kHeadDim;
    };
    auto step_score = [&](int h, int u) {   // column h's score against step token u, its parts summed, in exp2 units
        const float* const parts = new_score_s + (h * step_tokens + u) * kScoreParts;
        float score = 0.0f;
#pragma unroll
        for (int p = 0; p < kScoreParts; ++p) score += parts[p];
        return score * score_scale;
    };
    const int n_items = n_cols * kChunks;
" + (cluster ? ClusterMergeStart : GlobalMergeStart) + @"    for (int i = threadIdx.x; i < n_items; i += kThreads) {
        const int h = i / kChunks, d0 = i % kChunks * 8;   // column h: step token first_query + h / kGroup, head h % kGroup of the group
        const int seen = holds_new ? first_query + h / kGroup + 1 : 0;
        const float* const column = reinterpret_cast<const float*>(regions) + h * kPartStride;   // in warp 0's region
        float m = neg_inf;
        // The step-token loops stay rolled: almost every step brings one token a sequence, and unrolled each was a four-way
        // body and its remainder's branches (FP8's wide kernel: 3920 instructions unrolled, 3672 rolled).
#pragma unroll 1
        for (int u = 0; u < seen; ++u) m = fmaxf(m, step_score(h, u));
#pragma unroll
        for (int w = 0; w < kWarps; ++w) m = fmaxf(m, column[w * (kWarpBytes / 4) + kHeadDim]);
        float l = 0.0f, acc[8] = {};
#pragma unroll 1
        for (int u = 0; u < seen; ++u) {
            const float p = exp2f(step_score(h, u) - m);
            const gc_act8 x = *reinterpret_cast<const gc_act8*>(new_v + u * kHeadDim + d0);
            l += p;
#pragma unroll
            for (int e = 0; e < 8; ++e) acc[e] = fmaf(gc_act_to_f32(x.v[e]), p, acc[e]);
        }
#pragma unroll
        for (int w = 0; w < kWarps; ++w) {
            const float* const r = column + w * (kWarpBytes / 4);
            const float weight = exp2f(r[kHeadDim] - m);   // a warp with no positions has max −∞: weight 0
            l = fmaf(r[kHeadDim + 1], weight, l);
            fma8(acc, r + d0, weight);
        }
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[e] *= v_scale;
        if (splits == 1) {
            store_normalized8(out_row(h) + d0, acc, l);
            continue;
        }
" + (cluster ? ClusterMergeItem : GlobalMergeItem) + @"    }
" + (cluster ? ClusterMerge : GlobalMerge);

        /// <summary>Without clusters, each split's item goes to global memory: its rows normalized, in the activation dtype as
        /// the output is (half the bytes the last split reads), then their (max, sum) fp32.</summary>
        private const string GlobalMergeStart = @"    // Several splits, no clusters: each writes its items to global memory, and the last to arrive combines them.
    auto head_row = [&](int h) { return (long long)(first_row + first_query + h / kGroup) * kHeads + g * kGroup + h % kGroup; };   // column h's
    gc_act* const split_rows = reinterpret_cast<gc_act*>(partials);   // [tokens · heads][splits][kHeadDim]
    float* const split_stats = reinterpret_cast<float*>(split_rows + (long long)tokens * kHeads * gridDim.z * kHeadDim);   // [tokens · heads][splits] (max, sum)
";

        private const string GlobalMergeItem = @"        store_normalized8(split_rows + (head_row(h) * gridDim.z + z) * kHeadDim + d0, acc, l);
        if (d0 == 0) *reinterpret_cast<float2*>(split_stats + (head_row(h) * gridDim.z + z) * 2) = make_float2(m, l);
";

        private const string GlobalMerge = @"    if (splits == 1) return;

    // ---- Several splits, no clusters: the last to arrive combines the partials ----
    gc_fence_acq_rel();   // released before the arrival
    __syncthreads();
    if (threadIdx.x == 0) {
        int* counter = split_counters + (long long)(first_row + first_query) * kKvHeads + g;
        is_last_split = atomicAdd(counter, 1) == splits - 1;
        if (is_last_split) *counter = 0;   // every split has arrived: ready for the next launch (and graph replay)
    }
    __syncthreads();
    if (!is_last_split) return;
    gc_fence_acq_rel();   // the other splits' partials, acquired

    // ---- The last split: the partials through shared memory, kMergeSplits splits a round with every copy in flight; eight
    // output dimensions a thread, each split's row weighted by its sum, as the online softmax runs (every split's max is
    // finite) ----
    gc_act* const rows_round = reinterpret_cast<gc_act*>(regions);                    // [kMergeSplits][n_cols · kHeadDim]
    float2* const stats_round = reinterpret_cast<float2*>(rows_s);                    // [kMergeSplits][n_cols]
    constexpr int kThreadItems = (kColumns * kChunks + kThreads - 1) / kThreads;
    const int items = n_cols * kChunks;
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
        for (int i = threadIdx.x; i < n * items; i += kThreads) {
            const int q = q0 + i / items, h = i % items / kChunks;
            gc_cp_async16(gc_smem_address(rows_round) + i * 16, split_rows + (head_row(h) * gridDim.z + q) * kHeadDim + i % kChunks * 8, 16);
        }
        gc_cp_async_commit();
        for (int i = threadIdx.x; i < n * n_cols; i += kThreads)
            stats_round[i] = gc_load_cg2(split_stats + (head_row(i % n_cols) * gridDim.z + q0 + i / n_cols) * 2);
        gc_cp_async_wait<0>();
        __syncthreads();
#pragma unroll
        for (int k = 0; k < kThreadItems; ++k) {
            const int i = threadIdx.x + k * kThreads, h = i / kChunks;
            if (i >= items) break;
            for (int q = 0; q < n; ++q) {
                const gc_act8 x = *reinterpret_cast<const gc_act8*>(rows_round + (q * items + i) * 8);
                const float2 split = stats_round[q * n_cols + h];
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
        if (i >= items) break;
        store_normalized8(out_row(i / kChunks) + i % kChunks * 8, acc[k], l[k]);   // column i / kChunks, dimensions 8 · (i % kChunks) on
    }
";

        /// <summary>With clusters, a (sequence and chunk, KV head)'s splits are the launch's cluster (rank q split q): each CTA
        /// owns every splits-th item and every split pushes its (acc, max, sum) for those into the owner's staging through
        /// distributed shared memory — stores, which nobody waits on, then one cluster barrier, and each owner combines its
        /// items from its own shared memory, a few lanes an item.</summary>
        private const string ClusterMergeStart = @"    // Several splits: this (sequence and chunk, KV head)'s splits are the launch's cluster, rank q split q. CTA q owns
    // items q, q + splits, …; each split pushes its (acc, max, sum) of them into the owner's staging, then one cluster
    // barrier, and each owner combines its items from its own shared memory.
    if (gc_cluster_ctas() != gridDim.z) __trap();   // the runtime launches clusters of (1, 1, splits)
    constexpr int kItems = kColumns * kChunks;
    float* const staged_rows = reinterpret_cast<float*>(smem + kStagingAt);   // [slot · splits + split][8]: this CTA's items as each split has them
    float* const staged_stats = staged_rows + (kItems + kClusterCtas - 1) * 8;  // [kColumns][kClusterCtas] (max, sum) of every split
    const gc_u32 rows_address = gc_smem_address(staged_rows), stats_address = gc_smem_address(staged_stats);
    if (gridDim.z > 1) gc_cluster_wait();   // every CTA of the cluster has started: its staging exists
";

        private const string ClusterMergeItem = @"        const gc_u32 to = gc_cluster_address(rows_address + (i / splits * splits + z) * 32, i % splits);   // owner i % splits, slot i / splits
        gc_store_cluster4(to, acc);
        gc_store_cluster4(to + 16, acc + 4);
        for (int owner = d0 / 8; owner < splits; owner += kChunks)   // the column's (max, sum) to every split
            gc_store_cluster2(gc_cluster_address(stats_address + (h * kClusterCtas + z) * 8, owner), m, l);
";

        private const string ClusterMerge = @"    if (splits == 1) return;

    // ---- Several splits, in a cluster: each owner combines its items once every push has landed ----
    gc_cluster_sync();
    // An item's splits among a few lanes, each taking every lanes-th in one online pass, then log2(lanes) shuffle rounds:
    // short chains both ways (one lane for 16 splits, or a lane a split for 5, each took twice as long)
    const int lanes = splits > 8 ? 4 : splits > 4 ? 2 : 1, lane_q = threadIdx.x % lanes;
    const int items = (n_items - z + splits - 1) / splits;   // this CTA's: z, z + splits, ...
    for (int slot0 = 0; slot0 < items; slot0 += kThreads / lanes) {   // the same trip count in every lane: the shuffles take them all
        const int slot = slot0 + threadIdx.x / lanes, item = z + slot * splits, h = item / kChunks;
        const bool live = slot < items;
        const float2* const stats = reinterpret_cast<const float2*>(staged_stats) + h * kClusterCtas;
        const float* const rows = staged_rows + slot * splits * 8;
        float top = neg_inf, l = 0.0f, acc[8] = {};
        if (live)
            for (int q = lane_q; q < splits; q += lanes) top = fmaxf(top, stats[q].x);
        for (int width = 1; width < lanes; width *= 2) top = fmaxf(top, __shfl_xor_sync(0xffffffffu, top, width));
        if (live)
            for (int q = lane_q; q < splits; q += lanes) {
                const float w = exp2f(stats[q].x - top);   // every split's max is finite: its first tile holds a position
                l = fmaf(stats[q].y, w, l);
                fma8(acc, rows + q * 8, w);
            }
        for (int width = 1; width < lanes; width *= 2) {
            l += __shfl_xor_sync(0xffffffffu, l, width);
#pragma unroll
            for (int e = 0; e < 8; ++e) acc[e] += __shfl_xor_sync(0xffffffffu, acc[e], width);
        }
        if (live && lane_q == 0) store_normalized8(out_row(h) + item % kChunks * 8, acc, l);
    }
";

        private const string PlainPrologue = @"    __syncthreads();

    // ---- The step tokens' K and V: what the cache holds of them, in place (the queries meet those; the CTA's own tokens
    // go from there into their blocks after the loop) ----
    if (holds_new) {
        for (int i = threadIdx.x; i < n_new * kHalf; i += kThreads) {   // elements p and p + kHalf of K and V a thread: four codes, not eight in a row
            gc_act* const k_row = new_k + i / kHalf * kHeadDim;
            gc_act* const v_row = new_v + i / kHalf * kHeadDim;
#pragma unroll
            for (int h = 0, p = i % kHalf; h < 2; ++h, p += kHalf) {   // exact: a code's value fits the activation dtype
                k_row[p] = gc_f32_to_act(as_code(gc_act_to_f32(k_row[p]), k_scale));
                v_row[p] = gc_f32_to_act(as_code(gc_act_to_f32(v_row[p]), v_scale));
            }
        }
        __syncthreads();   // the step tokens' K codes, before the queries meet them
    }

    // ---- The CTA's queries into q_s (columns past them zero), each dotted with the step's keys up to its own token as
    // the cache holds them (its scores, in parts) ----
    for (int i = threadIdx.x; i < 8 * kNTiles * (kChunks / 2); i += kThreads) {   // sixteen dimensions an item
        const int r = i / (kChunks / 2), step = i % (kChunks / 2);
        gc_act8 lo = {}, hi = {};
        if (r < n_cols) {
            lo = *reinterpret_cast<const gc_act8*>(rows_s + r * kHeadDim + step * 16);
            hi = *reinterpret_cast<const gc_act8*>(rows_s + r * kHeadDim + step * 16 + 8);
            if (holds_new)
#pragma unroll 1
                for (int u = 0; u <= first_query + r / kGroup; ++u)   // rolled, as the merge's step-token loops are
                    new_score_s[(r * step_tokens + u) * kScoreParts + step] = dot8(lo, new_k + u * kHeadDim + step * 16) + dot8(hi, new_k + u * kHeadDim + step * 16 + 8);
        }
        store_q8(q_s, r, step * 16, lo);
        store_q8(q_s, r, step * 16 + 8, hi);
    }
";

        /// <summary>The step tokens' angles, computed while their rows are still in flight.</summary>
        private const string RopeAngles = @"    // The step tokens' cos and sin per rotation pair, once a CTA: the queries and the K rows use them.
    float* const rope_cos = new_score_s + kColumns * step_tokens * kScoreParts;   // [step_tokens][kHalf]
    float* const rope_sin = rope_cos + step_tokens * kHalf;
    for (int i = threadIdx.x; i < n_new * kHalf; i += kThreads) gc_rope_cos_sin_of(position0 + (float)(i / kHalf), kThreads % kHalf == 0 ? inv_freq : kInvFreq[i % kHalf], rope_cos[i], rope_sin[i]);
";

        private const string RopePrologue = @"    __syncthreads();

    // ---- The step tokens' K (rotated, RoPE) and V: what the cache holds of them, in place (the queries meet those; the
    // CTA's own tokens go from there into their blocks after the loop) ----
    if (holds_new) {
        for (int i = threadIdx.x; i < n_new * kHalf; i += kThreads) {   // a rotation pair of K and V a thread: four codes, not sixteen in a row
            gc_act* const k_row = new_k + i / kHalf * kHeadDim;
            gc_act* const v_row = new_v + i / kHalf * kHeadDim;
            const int p = i % kHalf;
            float x1 = gc_act_to_f32(k_row[p]), x2 = gc_act_to_f32(k_row[p + kHalf]);
            gc_rope_rotate(x1, x2, rope_cos[i], rope_sin[i]);
            k_row[p] = gc_f32_to_act(as_code(gc_round_act(x1), k_scale));   // exact: a code's value fits the activation dtype
            k_row[p + kHalf] = gc_f32_to_act(as_code(gc_round_act(x2), k_scale));
            v_row[p] = gc_f32_to_act(as_code(gc_act_to_f32(v_row[p]), v_scale));
            v_row[p + kHalf] = gc_f32_to_act(as_code(gc_act_to_f32(v_row[p + kHalf]), v_scale));
        }
        __syncthreads();   // the step tokens' K codes, before the queries meet them
    }

    // ---- The CTA's queries rotated into q_s (columns past them zero), each dotted with the step's keys up to its own token
    // as the cache holds them (its scores, in parts) ----
    for (int i = threadIdx.x; i < 8 * kNTiles * (kHalf / 8); i += kThreads) {   // dimensions 8j .. 8j + 7 and their partners: eight pairs an item
        const int r = i / (kHalf / 8), j = i % (kHalf / 8), d0 = 8 * j;
        gc_act8 lo = {}, hi = {};
        if (r < n_cols) {
            const int token = first_query + r / kGroup;
            auto cached_cos_sin = [&](int p, float& c, float& sn) { c = rope_cos[token * kHalf + p]; sn = rope_sin[token * kHalf + p]; };
            gc_rope_rotate8(gc_rope_load(rows_s + r * kHeadDim, d0), d0, cached_cos_sin, lo, hi);
            if (holds_new)
#pragma unroll 1
                for (int u = 0; u <= token; ++u) {   // rolled, as the merge's step-token loops are
                    const gc_act* const k_row = new_k + u * kHeadDim + d0;
                    new_score_s[(r * step_tokens + u) * kScoreParts + j] = dot8(lo, k_row) + dot8(hi, k_row + kHalf);
                }
        }
        store_q8(q_s, r, d0, lo);
        store_q8(q_s, r, d0 + kHalf, hi);
    }
";

        /// <summary>Where a warp's K/V tiles lie in the context and the block ids they need (tests/reference/loader_sim.py runs
        /// it on the host).</summary>
        private const string WarpTiles = @"// Where a warp's K/V tiles lie and the block ids they need. Split z takes the context's kBlockN tiles z, z + gridDim.z, …
// and warp w the w-th kWarpKeys positions of each, so no tile's place waits for the context length, and the splits'
// shares differ by a tile at most. Lane i holds the id of block i % kTileSpan of tile i / kTileSpan of the current round
// of kIdTiles tiles (next_ids: the round after), read from the sequence's block-table row before the context length is
// known, then 0 past the context (those rows' copies stay inside the pool): the loads need no block-table round trip.
static_assert(kTileSpan <= 32, ""a warp's tile lies in at most 32 cache blocks: an id a lane"");
struct WarpTiles {
    const int* blocks;   // the sequence's block-table row
    int max_blocks, lane, first0, stride;   // tile j's first position: first0 + j · stride
    int cached = 0x7fffffff, ids = 0, next_ids = 0;   // the cached positions, once known
    __device__ int first(int j) const { return first0 + j * stride; }
    __device__ int block(int j0) const { return first(j0 + lane / kTileSpan) / kBlockSize + lane % kTileSpan; }   // the lane's, round from j0
    __device__ bool in_context(int b) const { return b * kBlockSize < cached; }
    __device__ int read(int j0) const {
        const int b = block(j0);
        return lane < kIdTiles * kTileSpan && b < max_blocks && in_context(b) ? blocks[b] : 0;
    }
    __device__ void start() { ids = read(0); next_ids = read(kIdTiles); }
    __device__ void limit(int cached_) {
        cached = cached_;
        if (!in_context(block(0))) ids = 0;
        if (!in_context(block(kIdTiles))) next_ids = 0;
    }
    __device__ int count() const { return cached > first0 ? (cached - first0 + stride - 1) / stride : 0; }   // tiles in the context
    // Before tile j, in order: the lane holding its first block's id. A round's first tile moves to the next round and
    // reads the one after.
    __device__ int id_lane(int j) {
        if (j % kIdTiles == 0 && j > 0) {
            ids = next_ids;
            next_ids = read(j + kIdTiles);
        }
        return j % kIdTiles * kTileSpan;
    }
};

";

        /// <summary>Eight wide: a query's elements against a step token's key as the cache holds it, accumulators plus a
        /// weighted row, output sums normalized and stored.</summary>
        private const string EightWide = @"// Eight query elements dotted with eight of a step token's key (what the cache holds of it, in the activation dtype).
__device__ __forceinline__ float dot8(const gc_act8& q, const gc_act* k) {
    const gc_act8 x = *reinterpret_cast<const gc_act8*>(k);
    float sum = 0.0f;
#pragma unroll
    for (int e = 0; e < 8; ++e) sum = fmaf(gc_act_to_f32(q.v[e]), gc_act_to_f32(x.v[e]), sum);
    return sum;
}

// Eight accumulators plus w times eight floats (16-byte aligned: two vector loads).
__device__ __forceinline__ void fma8(float (&acc)[8], const float* x, float w) {
    const float4 lo = *reinterpret_cast<const float4*>(x), hi = *reinterpret_cast<const float4*>(x + 4);
    acc[0] = fmaf(lo.x, w, acc[0]); acc[1] = fmaf(lo.y, w, acc[1]); acc[2] = fmaf(lo.z, w, acc[2]); acc[3] = fmaf(lo.w, w, acc[3]);
    acc[4] = fmaf(hi.x, w, acc[4]); acc[5] = fmaf(hi.y, w, acc[5]); acc[6] = fmaf(hi.z, w, acc[6]); acc[7] = fmaf(hi.w, w, acc[7]);
}

// Eight output sums over their softmax sum, as activations in one 16-byte store: one division and eight products, not
// eight divisions each behind its slow-path branch (the tail is a chain of dependent steps; 3% of the kernel at 16 × 2048).
__device__ __forceinline__ void store_normalized8(gc_act* dst, const float* acc, float l) {
    const float inv = 1.0f / l;
    gc_act8 o;
#pragma unroll
    for (int e = 0; e < 8; ++e) o.v[e] = gc_f32_to_act(acc[e] * inv);
    *reinterpret_cast<gc_act8*>(dst) = o;
}

";
    }
}
