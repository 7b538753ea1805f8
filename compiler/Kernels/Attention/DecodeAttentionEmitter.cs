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
    /// new token is written into its block (from the qkv row, in the cache dtype) by the split that covers it before any warp
    /// reads the cache, so it is read back as the cache holds it. With several splits each writes its (accumulator, max,
    /// sum) and the last to arrive combines them in one online-softmax pass over the splits, their loads in flight together.
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

        public static int SharedMemoryBytes(DecodeAttentionKernel k, DecodeAttentionTiles t) =>
            t.SharedMemoryBytes(k.HeadDim, k.Heads / k.KvHeads, k.KvDType.SizeInBytes());

        public static KernelSource Emit(DecodeAttentionKernel k, ArchTiles tiles, LaunchShape launch)
        {
            var t = tiles.DecodeAttention;
            bool fp8 = k.KvDType is DType.F8E4M3 or DType.F8E5M2;
            var cache = CudaDialect.Of(k.KvDType);
            int group = k.Heads / k.KvHeads, nTiles = (group + 7) / 8, warpKeys = t.BlockN / t.Warps;
            string tileKey = "tiles." + tiles.Arch.Name + ".decode_attention";
            var b = new CudaSourceBuilder(k.Name, k.Summary, k.Activation, PreludeFeatures.TensorCore | PreludeFeatures.CrossCta | (fp8 ? PreludeFeatures.Fp8 : PreludeFeatures.None))
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
                .Raw("typedef " + cache.Name + " gc_cache;  // kv_cache.dtype\n\n")
                .Raw(KvCacheCodec.Rows(fp8, cache, withReads: false))
                .Raw(k.WithRope ? Elementwise.RopeEmitter.DeviceFunctions(k.Theta, k.HeadDim) : "")
                .Raw(FlashTile.Loader("kWarpKeys", k.Activation, k.KvDType))
                .Raw(FlashTile.QueryStore(codeOrder: fp8))
                .Raw(KeysAsRowsTile.DeviceFunctions("kWarpKeys", k.KvDType));

            b.Parameter("const gc_act* __restrict__", "qkv", k.WithRope ? "buffer qkv [S, q | k | v], rotated here" : "buffer qkv [S, q | k | v], RoPE applied");
            if (k.WithRope) b.Parameter("const int* __restrict__", "positions", "buffer positions [S]: the new token's position");
            b.PoolParameters()
             .Parameter("const int* __restrict__", "context_lens", "tokens per sequence, the new one included [S]");
            if (fp8) b.Parameter("const float* __restrict__", "kv_scale", "this layer's K and V cache scales [2] fp32");
            b.Parameter("gc_act* __restrict__", "out", "buffer attn_out [S, heads · head_dim]")
             .Parameter("float* __restrict__", "partials", "split partials [S, heads, splits, head_dim + 2] fp32 (decode_split_partials)")
             .Parameter("int* __restrict__", "split_counters", "split arrivals per (sequence, KV head), zero between launches")
             .Parameter("int", "sequences", "S");

            string source = b.Finish("kThreads", Body(fp8, k.WithRope));
            return new KernelSource(k.Name, k.Family, k.Summary, tiles.Arch.Name, source, b.Parameters.ToEquatableArray(), launch, null);
        }

        private static string Body(bool fp8, bool rope) => @"    extern __shared__ __align__(128) unsigned char smem[];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    gc_act* q_s = reinterpret_cast<gc_act*>(smem);                                 // [8 · kNTiles][kHeadDim] swizzled: the group's queries
    unsigned char* const regions = smem + kQBytes;                                   // kWarps regions of kWarpBytes
    unsigned char* warp_s = regions + warp * kWarpBytes;
    float* m_s = reinterpret_cast<float*>(regions + kWarps * kWarpBytes);            // merged max per head (exp2 units)
    float* l_s = m_s + kGroup;                                                       // merged sum per head
    __shared__ int is_last_split;

    const int g = blockIdx.x, s = blockIdx.y, z = blockIdx.z;
    if (s >= sequences) return;
    const float neg_inf = __int_as_float(0xff800000u);

    // ---- This split's positions: the context in tiles of kBlockN, spread evenly over the splits that get any ----
    const int context = context_lens[s], newest = context - 1;
    const int tiles = (context + kBlockN - 1) / kBlockN;
    const int used = min((int)gridDim.z, tiles);
    const int tiles_per_split = (tiles + used - 1) / used;
    const int splits = (tiles + tiles_per_split - 1) / tiles_per_split;
    if (z >= splits) return;
    const int begin = z * tiles_per_split * kBlockN, end = min(context, (z + 1) * tiles_per_split * kBlockN);
    const int* blocks = block_tables + (long long)s * max_blocks;
" + (fp8 ? @"    const float k_scale = kv_scale[0], v_scale = kv_scale[1];
" : @"    const float k_scale = 1.0f, v_scale = 1.0f;
") + @"
    // ---- Each warp its own tiles of kWarpKeys positions (every kWarps-th of the split), kStages deep, no block barrier ----
    const int warp_tiles = ((end - begin + kWarpKeys - 1) / kWarpKeys - warp + kWarps - 1) / kWarps;
    const gc_u32 stage_address = gc_smem_address(warp_s), q_address = gc_smem_address(q_s);
    auto first_of = [&](int j) { return begin + (warp + j * kWarps) * kWarpKeys; };
    auto load_tile = [&](int j, int stage) {
        const gc_u32 k_dst = stage_address + stage * 2 * kTileBytes;
        load_kv(kv_pool, blocks, g, first_of(j), end, k_dst, k_dst + kTileBytes, lane, 32);
    };
    // A split without the new token puts its first tiles in flight now, under the prologue's round trips; the split that
    // holds it starts once the token is in its block.
    const bool holds_newest = newest >= begin && newest < end;
    if (!holds_newest) kv_pipeline_start(warp_tiles, load_tile);

" + (rope ? RopePrologue : PlainPrologue) + @"    if (holds_newest) __threadfence();   // the new token's slot is in L2, where cp.async reads it
    __syncthreads();
    if (holds_newest) kv_pipeline_start(warp_tiles, load_tile);

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
        if (t0 + kWarpKeys > end) {   // the split's last tile: positions past its end
#pragma unroll
            for (int kt = 0; kt < kWarpKeys / 16; ++kt)
#pragma unroll
                for (int nt = 0; nt < kNTiles; ++nt)
#pragma unroll
                    for (int e = 0; e < 4; ++e)
                        if (t0 + 16 * kt + lane / 4 + 8 * (e / 2) >= end) st[kt][nt][e] = neg_inf;
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
        float m = neg_inf;
#pragma unroll
        for (int w = 0; w < kWarps; ++w) m = fmaxf(m, reinterpret_cast<const float*>(regions + w * kWarpBytes)[h * (kHeadDim + 2) + kHeadDim]);
        float acc = 0.0f, l = 0.0f;
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

    // ---- One split: normalize and store. Several: publish (acc, max, sum); the last to arrive combines them ----
    gc_act* out_row = out + (long long)s * kHeads * kHeadDim + g * kGroup * kHeadDim;
    if (splits == 1) {
        for (int i = threadIdx.x; i < kGroup * kHeadDim; i += kThreads) out_row[i] = gc_f32_to_act(merged[i / kHeadDim * (kHeadDim + 2) + i % kHeadDim] / l_s[i / kHeadDim]);
        return;
    }
    const long long head0 = (long long)s * kHeads + g * kGroup;
    for (int i = threadIdx.x; i < kGroup * (kHeadDim + 2); i += kThreads) {
        const int h = i / (kHeadDim + 2), d = i % (kHeadDim + 2);
        partials[((head0 + h) * gridDim.z + z) * (kHeadDim + 2) + d] = d < kHeadDim ? merged[h * (kHeadDim + 2) + d] : d == kHeadDim ? m_s[h] : l_s[h];
    }
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
        int* counter = split_counters + (long long)s * kKvHeads + g;
        is_last_split = atomicAdd(counter, 1) == splits - 1;
        if (is_last_split) *counter = 0;   // every split has arrived: ready for the next launch (and graph replay)
    }
    __syncthreads();
    if (!is_last_split) return;
    __threadfence();
    // Pairs of output dimensions over the splits in one pass, as the online softmax runs: each split's values and its
    // (max, sum) loaded together, eight splits' loads in flight at a time, the running max raised as they arrive.
    for (int i = threadIdx.x; i < kGroup * kHeadDim / 2; i += kThreads) {
        const int h = i / (kHeadDim / 2), d = i % (kHeadDim / 2) * 2;
        const float* p = partials + (head0 + h) * gridDim.z * (kHeadDim + 2);
        float m = neg_inf, l = 0.0f;
        float2 acc = make_float2(0.0f, 0.0f);
#pragma unroll 8
        for (int q = 0; q < splits; ++q) {   // every split has positions: its max is finite
            const float2 x = gc_load_cg2(p + q * (kHeadDim + 2) + d), split = gc_load_cg2(p + q * (kHeadDim + 2) + kHeadDim);
            const float top = fmaxf(m, split.x), old = exp2f(m - top), w = exp2f(split.x - top);
            acc.x = fmaf(x.x, w, acc.x * old);
            acc.y = fmaf(x.y, w, acc.y * old);
            l = fmaf(split.y, w, l * old);
            m = top;
        }
        out_row[h * kHeadDim + d] = gc_f32_to_act(acc.x / l);
        out_row[h * kHeadDim + d + 1] = gc_f32_to_act(acc.y / l);
    }
";

        private const string PlainPrologue = @"    // ---- The new token's K and V into its block by the split covering it; the group's queries into q_s (rows past it zero) ----
    const gc_act* row = qkv + (long long)s * kQkvStride;
    if (holds_newest && threadIdx.x < 2 * kChunks) {
        const int v = threadIdx.x / kChunks, d0 = threadIdx.x % kChunks * 8;   // v = 0: K, 1: V
        const gc_act8 x = *reinterpret_cast<const gc_act8*>(row + (kHeads + v * kKvHeads + g) * kHeadDim + d0);
        float f[8];
#pragma unroll
        for (int e = 0; e < 8; ++e) f[e] = gc_act_to_f32(x.v[e]);
        store_row8(kv_pool + ((long long)blocks[newest / kBlockSize] * 2 * kKvHeads + v * kKvHeads + g) * kHeadRun + (newest % kBlockSize) * kHeadDim + d0,
                   v ? v_scale : k_scale, f);
    }
    for (int i = threadIdx.x; i < 8 * kNTiles * (kChunks / 2); i += kThreads) {   // sixteen dimensions an item
        const int r = i / (kChunks / 2), step = i % (kChunks / 2);
        gc_act8 lo = {}, hi = {};
        if (r < kGroup) {
            lo = *reinterpret_cast<const gc_act8*>(row + (g * kGroup + r) * kHeadDim + step * 16);
            hi = *reinterpret_cast<const gc_act8*>(row + (g * kGroup + r) * kHeadDim + step * 16 + 8);
        }
        store_q16(q_s, r, step, lo, hi);
    }
";

        private const string RopePrologue = @"    // ---- The new token's K (rotated, RoPE) and V into its block by the split covering it; the group's queries rotated into q_s (rows past it zero) ----
    const gc_act* row = qkv + (long long)s * kQkvStride;
    // One token's cos and sin per rotation pair, once a CTA (after the merge arrays): the group's queries and the K row use them.
    float* const rope_cos = l_s + kGroup;
    float* const rope_sin = rope_cos + kHalf;
    for (int i = threadIdx.x; i < kHalf; i += kThreads) gc_rope_cos_sin((float)positions[s], i, rope_cos[i], rope_sin[i]);
    __syncthreads();
    auto cached_cos_sin = [&](int j, float& c, float& sn) { c = rope_cos[j]; sn = rope_sin[j]; };
    gc_cache* const new_slot = kv_pool + ((long long)blocks[newest / kBlockSize] * 2 * kKvHeads + g) * kHeadRun + (newest % kBlockSize) * kHeadDim;
    if (holds_newest && threadIdx.x < kChunks / 2) {   // eight rotation pairs a thread
        const int d0 = threadIdx.x * 8;
        float x1[8], x2[8];   // the rotated K as the activation dtype holds it, then as the cache does
        gc_rope_rotate8(row + (kHeads + g) * kHeadDim, d0, cached_cos_sin, x1, x2);
        store_row8(new_slot + d0, k_scale, x1);
        store_row8(new_slot + d0 + kHalf, k_scale, x2);
    } else if (holds_newest && threadIdx.x < kChunks / 2 + kChunks) {
        const int d0 = (threadIdx.x - kChunks / 2) * 8;
        const gc_act8 x = *reinterpret_cast<const gc_act8*>(row + (kHeads + kKvHeads + g) * kHeadDim + d0);
        float f[8];
#pragma unroll
        for (int e = 0; e < 8; ++e) f[e] = gc_act_to_f32(x.v[e]);
        store_row8(new_slot + kKvHeads * kHeadRun + d0, v_scale, f);
    }
    for (int i = threadIdx.x; i < 8 * kNTiles * (kChunks / 4); i += kThreads) {   // dimensions 16j .. 16j + 15 and their partners
        const int r = i / (kChunks / 4), step = i % (kChunks / 4);
        gc_act8 lo[2] = {}, hi[2] = {};
        if (r < kGroup)
#pragma unroll
            for (int c = 0; c < 2; ++c) gc_rope_rotate8(row + (g * kGroup + r) * kHeadDim, step * 16 + c * 8, cached_cos_sin, lo[c], hi[c]);
        store_q16(q_s, r, step, lo[0], lo[1]);
        store_q16(q_s, r, step + kChunks / 4, hi[0], hi[1]);
    }
";
    }
}
