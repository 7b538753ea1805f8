using System;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Graph;
using GraphCompiler.Planning;
using GraphCompiler.Spec;

namespace GraphCompiler.Kernels.Attention
{
    /// <summary>
    /// Paged decode attention (flash-decoding): one CTA per (KV head, sequence, context split) holds every query head of
    /// the GQA group, so each KV byte is read once per group. The context is cut into tiles of block_n positions read
    /// through the block table (<see cref="KvCacheLayout"/>: a KV head's tokens of a block are contiguous), 8 elements
    /// per lane (16-byte loads for fp16/bf16, 8 for FP8, which is widened and scaled as it is read); scores go through an
    /// online softmax in exp2 with log2(e) folded into the scale. The step's new token is taken from the qkv row, rounded
    /// through the cache dtype, and written into its block by the split that covers it. With several splits each writes
    /// its (max, sum, accumulator) and the last to arrive combines them in split order. The CPU reference is CpuAttention's
    /// rule: float32 scores times 1/√d, softmax with the max subtracted, Σ p·v / Σ p rounded to the activation dtype.
    /// </summary>
    public static class DecodeAttentionEmitter
    {
        /// <summary>Elements of K or V a lane reads per load.</summary>
        public const int ElementsPerLane = 8;

        /// <summary>Why a decode-attention kernel cannot be emitted yet, or null.</summary>
        public static string? Unsupported(DecodeAttentionKernel k)
        {
            if (k.WriteFp8) return "an FP8 output row needs the amax over every head of the token (several CTAs); its emitter comes with the W8A8 o_proj path";
            if (k.WithRope) return "RoPE in the decode-attention prologue is not emitted; the plan runs the RoPE kernel before it";
            if (k.HeadDim % ElementsPerLane != 0 || k.HeadDim / ElementsPerLane > 32 || 32 % (k.HeadDim / ElementsPerLane) != 0)
                return $"head_dim {k.HeadDim} must be {ElementsPerLane} times a power of two up to 32 (the lanes of a row share a warp)";
            return null;
        }

        /// <summary>Why the tiles do not suit this kernel, or null: every warp must read whole rows, every row group the same count per tile.</summary>
        public static string? TilesUnsupported(DecodeAttentionKernel k, DecodeAttentionTiles t)
        {
            int rowGroups = t.RowGroups(k.HeadDim);
            return t.BlockN % rowGroups == 0 ? null
                : $"block_n {t.BlockN} must be a multiple of the {rowGroups} rows {t.Warps} warps read at once";
        }

        /// <summary>Shared memory: the group's queries, one tile of scores, and the row groups' accumulators for the final sum.</summary>
        public static int SharedMemoryBytes(DecodeAttentionKernel k, DecodeAttentionTiles t) => t.SharedMemoryBytes(k.HeadDim, k.Heads / k.KvHeads);

        public static KernelSource Emit(DecodeAttentionKernel k, ArchTiles tiles, LaunchShape launch)
        {
            var t = tiles.DecodeAttention;
            var layout = new KvCacheLayout(1, k.KvHeads, k.HeadDim, k.BlockSize, k.KvDType);
            bool fp8 = k.KvDType is DType.F8E4M3 or DType.F8E5M2;
            var cache = CudaDialect.Of(k.KvDType);
            int lanes = k.HeadDim / ElementsPerLane, threads = t.Warps * 32;
            string tileKey = "tiles." + tiles.Arch.Name + ".decode_attention";
            var b = new CudaSourceBuilder(k.Name, k.Summary, k.Activation, PreludeFeatures.BlockReduce | PreludeFeatures.CrossCta | (fp8 ? PreludeFeatures.Fp8 : PreludeFeatures.None))
                .Constant("kHeads", k.Heads, "query heads")
                .Constant("kKvHeads", k.KvHeads, "KV heads")
                .Constant("kGroup", k.Heads / k.KvHeads, "query heads per KV head (GQA)")
                .Constant("kHeadDim", k.HeadDim, "head_dim")
                .Constant("kQkvStride", (k.Heads + 2 * k.KvHeads) * k.HeadDim, "elements per qkv row (q | k | v)")
                .Constant("kBlockSize", k.BlockSize, "kv_cache.block_size: tokens per cache block")
                .Constant("kBlockN", t.BlockN, tileKey + ".block_n: positions per tile")
                .Constant("kThreads", threads, tileKey + ".warps × 32")
                .Constant("kWarps", t.Warps, tileKey + ".warps")
                .Constant("kLanesPerRow", lanes, $"lanes sharing one K or V row, {ElementsPerLane} elements each")
                .Constant("kRowGroups", threads / lanes, "rows read at once")
                .Constant("kHeadRun", k.BlockSize * k.HeadDim, "elements of one KV head's tokens of one block (contiguous)")
                .Constant("kScoreScale", (float)(1.0 / Math.Sqrt(k.HeadDim) * 1.4426950408889634), "1/√head_dim · log2(e): scores in exp2 units")
                .Raw("typedef " + cache.Name + " gc_cache;  // kv_cache.dtype\n\n")
                .Raw(KvCacheCodec.Rows(fp8, cache, withReads: true));

            b.Parameter("const gc_act* __restrict__", "qkv", "buffer qkv [S, q | k | v], RoPE applied")
             .PoolParameters()
             .Parameter("const int* __restrict__", "context_lens", "tokens per sequence, the new one included [S]");
            if (fp8) b.Parameter("const float* __restrict__", "kv_scale", "this layer's K and V cache scales [2] fp32");
            b.Parameter("gc_act* __restrict__", "out", "buffer attn_out [S, heads · head_dim]")
             .Parameter("float* __restrict__", "partials", "split partials [S, heads, splits, head_dim + 2] fp32 (decode_split_partials)")
             .Parameter("int* __restrict__", "split_counters", "split arrivals per (sequence, KV head), zero between launches")
             .Parameter("int", "sequences", "S");

            string source = b.Finish("kThreads", Body(fp8));
            return new KernelSource(k.Name, k.Family, k.Summary, tiles.Arch.Name, source, b.Parameters.ToEquatableArray(), launch, null);
        }

        private static string Body(bool fp8) => @"    extern __shared__ __align__(16) float smem[];
    float* q_s = smem;                                   // [kGroup][kHeadDim], times kScoreScale
    float* scores = q_s + kGroup * kHeadDim;             // [kGroup][kBlockN]: scores, then probabilities
    float* m_s = scores + kGroup * kBlockN;              // running max per head (exp2 units)
    float* l_s = m_s + kGroup;                           // running sum per head
    float* alpha = l_s + kGroup;                         // this tile's rescale per head
    float* sums = alpha + kGroup;                        // [kRowGroups][kGroup][kHeadDim] for the final sum
    __shared__ int is_last_split;

    const int g = blockIdx.x, s = blockIdx.y, z = blockIdx.z;
    if (s >= sequences) return;
    const float neg_inf = __int_as_float(0xff800000u);
    const int lane_in_row = threadIdx.x % kLanesPerRow, row_group = threadIdx.x / kLanesPerRow;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int dim0 = lane_in_row * 8;

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
    // ---- The group's queries, scaled so that exp2 of score differences is the softmax ----
    const gc_act* row = qkv + (long long)s * kQkvStride;
    for (int i = threadIdx.x; i < kGroup * kHeadDim; i += kThreads)
        q_s[i] = gc_act_to_f32(row[g * kGroup * kHeadDim + i]) * kScoreScale;
    if (threadIdx.x < kGroup) {
        m_s[threadIdx.x] = neg_inf;
        l_s[threadIdx.x] = 0.0f;
    }

    // This lane's eight dims of a position's slot in its block; K of KV head g is kHeadRun on, V (kKvHeads + g) runs on.
    auto slot_of = [&](int pos) {
        return kv_pool + (long long)blocks[pos / kBlockSize] * 2 * kKvHeads * kHeadRun + (pos % kBlockSize) * kHeadDim + dim0;
    };

    // ---- The new token's K and V (this lane's eight dims) as the cache holds them; written by the split covering it ----
    float k_raw[8], v_raw[8], k_new[8], v_new[8];
#pragma unroll
    for (int e = 0; e < 8; ++e) {
        k_raw[e] = gc_act_to_f32(row[(kHeads + g) * kHeadDim + dim0 + e]);
        v_raw[e] = gc_act_to_f32(row[(kHeads + kKvHeads + g) * kHeadDim + dim0 + e]);
        k_new[e] = as_cached(k_raw[e], k_scale);
        v_new[e] = as_cached(v_raw[e], v_scale);
    }
    if (newest >= begin && newest < end && row_group == 0) {
        store_row8(slot_of(newest) + g * kHeadRun, k_scale, k_raw);
        store_row8(slot_of(newest) + (kKvHeads + g) * kHeadRun, v_scale, v_raw);
    }
    __syncthreads();

    float acc[kGroup][8];
#pragma unroll
    for (int h = 0; h < kGroup; ++h)
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[h][e] = 0.0f;

    for (int t0 = begin; t0 < end; t0 += kBlockN) {
        // ---- Scores: q · k of every position of the tile, the lanes of a row sharing head_dim ----
        for (int j = row_group; j < kBlockN; j += kRowGroups) {
            const int pos = t0 + j;
            float kf[8];
            if (pos < end && pos != newest)
                load_row8(slot_of(pos) + g * kHeadRun, k_scale, kf);
#pragma unroll
            for (int e = 0; e < 8; ++e) if (pos == newest) kf[e] = k_new[e];
#pragma unroll
            for (int h = 0; h < kGroup; ++h) {
                float dot = 0.0f;
                if (pos < end)
#pragma unroll
                    for (int e = 0; e < 8; ++e) dot = fmaf(q_s[h * kHeadDim + dim0 + e], kf[e], dot);
#pragma unroll
                for (int offset = kLanesPerRow / 2; offset > 0; offset >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, offset);
                if (lane_in_row == 0) scores[h * kBlockN + j] = pos < end ? dot : neg_inf;
            }
        }
        __syncthreads();

        // ---- Online softmax: the tile's max, probabilities, and the factor that rescales what came before ----
        for (int h = warp; h < kGroup; h += kWarps) {
            float tile_max = neg_inf;
            for (int j = lane; j < kBlockN; j += 32) tile_max = fmaxf(tile_max, scores[h * kBlockN + j]);
            tile_max = gc_warp_max(tile_max);
            const float m_new = fmaxf(m_s[h], tile_max);
            float sum = 0.0f;
            for (int j = lane; j < kBlockN; j += 32) {
                const float p = exp2f(scores[h * kBlockN + j] - m_new);
                scores[h * kBlockN + j] = p;
                sum += p;
            }
            sum = gc_warp_sum(sum);
            if (lane == 0) {
                alpha[h] = exp2f(m_s[h] - m_new);
                l_s[h] = l_s[h] * alpha[h] + sum;
                m_s[h] = m_new;
            }
        }
        __syncthreads();

        // ---- acc = acc · α + P · V ----
#pragma unroll
        for (int h = 0; h < kGroup; ++h)
#pragma unroll
            for (int e = 0; e < 8; ++e) acc[h][e] *= alpha[h];
        for (int j = row_group; j < kBlockN && t0 + j < end; j += kRowGroups) {
            const int pos = t0 + j;
            float vf[8];
            if (pos != newest)
                load_row8(slot_of(pos) + (kKvHeads + g) * kHeadRun, v_scale, vf);
#pragma unroll
            for (int e = 0; e < 8; ++e) if (pos == newest) vf[e] = v_new[e];
#pragma unroll
            for (int h = 0; h < kGroup; ++h) {
                const float p = scores[h * kBlockN + j];
#pragma unroll
                for (int e = 0; e < 8; ++e) acc[h][e] = fmaf(p, vf[e], acc[h][e]);
            }
        }
        __syncthreads();
    }

    // ---- The row groups' accumulators added in row-group order ----
#pragma unroll
    for (int h = 0; h < kGroup; ++h)
#pragma unroll
        for (int e = 0; e < 8; ++e) sums[(row_group * kGroup + h) * kHeadDim + dim0 + e] = acc[h][e];
    __syncthreads();
    for (int i = threadIdx.x; i < kGroup * kHeadDim; i += kThreads) {
        float total = 0.0f;
        for (int r = 0; r < kRowGroups; ++r) total += sums[r * kGroup * kHeadDim + i];
        sums[i] = total;   // row group 0's slot: only this thread reads and writes element i
    }
    __syncthreads();

    // ---- One split: normalize and store. Several: publish (acc, max, sum); the last to arrive combines them in split order ----
    gc_act* out_row = out + (long long)s * kHeads * kHeadDim + g * kGroup * kHeadDim;
    if (splits == 1) {
        for (int i = threadIdx.x; i < kGroup * kHeadDim; i += kThreads) out_row[i] = gc_f32_to_act(sums[i] / l_s[i / kHeadDim]);
        return;
    }
    const long long head0 = (long long)s * kHeads + g * kGroup;
    for (int i = threadIdx.x; i < kGroup * (kHeadDim + 2); i += kThreads) {
        const int h = i / (kHeadDim + 2), d = i % (kHeadDim + 2);
        partials[((head0 + h) * gridDim.z + z) * (kHeadDim + 2) + d] = d < kHeadDim ? sums[h * kHeadDim + d] : d == kHeadDim ? m_s[h] : l_s[h];
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
    for (int i = threadIdx.x; i < kGroup * kHeadDim; i += kThreads) {
        const int h = i / kHeadDim, d = i % kHeadDim;
        const float* p = partials + (head0 + h) * gridDim.z * (kHeadDim + 2);
        float m = neg_inf;
        for (int q = 0; q < splits; ++q) m = fmaxf(m, gc_load_cg(p + q * (kHeadDim + 2) + kHeadDim));
        float numerator = 0.0f, denominator = 0.0f;
        for (int q = 0; q < splits; ++q) {
            const float w = exp2f(gc_load_cg(p + q * (kHeadDim + 2) + kHeadDim) - m);
            numerator = fmaf(gc_load_cg(p + q * (kHeadDim + 2) + d), w, numerator);
            denominator = fmaf(gc_load_cg(p + q * (kHeadDim + 2) + kHeadDim + 1), w, denominator);
        }
        out_row[i] = gc_f32_to_act(numerator / denominator);
    }
";
    }
}
