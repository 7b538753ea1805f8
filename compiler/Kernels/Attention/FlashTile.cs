using System;
using System.Globalization;
using GraphCompiler.Common;
using GraphCompiler.Spec;

namespace GraphCompiler.Kernels.Attention
{
    /// <summary>
    /// The device functions of the attention kernels on mma.sync m16n8k16 tensor cores. Both kernels stream K/V through the
    /// same paged cp.async loader into swizzled shared memory (<see cref="Loader"/>), the prefill kernel's CTA together, the
    /// decode kernel's warps each on its own. The prefill kernel computes on query rows (<see cref="QueryRows"/>: S = Q·Kᵀ for
    /// a warp's 16-row query tiles, the online softmax in exp2 units, O += P·V with P in registers); the decode kernel on key
    /// rows (<see cref="KeysAsRowsTile"/>). The including kernel defines kHeadDim, kChunks, kKvHeads, kBlockSize, kHeadRun,
    /// kLoadChunks, kStages, kTileSpan (<see cref="TileSpan"/>; and for the query rows kMTiles), the key-tile constant named by
    /// <c>keys</c>, and gc_cache.
    /// </summary>
    internal static class FlashTile
    {
        /// <summary>The head and paged-cache geometry both attention kernels declare (these functions read part of it).</summary>
        public static CudaSourceBuilder HeadAndCacheConstants(this CudaSourceBuilder b, int heads, int kvHeads, int headDim, int blockSize) =>
            b.Constant("kHeads", heads, "query heads")
             .Constant("kKvHeads", kvHeads, "KV heads")
             .Constant("kHeadDim", headDim, "head_dim")
             .Constant("kHalf", headDim / 2, "head_dim / 2: RoPE rotates element i with i + kHalf")
             .Constant("kChunks", headDim / 8, "16-byte chunks of an fp16/bf16 row")
             .Constant("kQkvStride", (heads + 2 * kvHeads) * headDim, "elements per qkv row (q | k | v)")
             .Constant("kBlockSize", blockSize, "kv_cache.block_size: tokens per cache block")
             .Constant("kHeadRun", blockSize * headDim, "elements of one KV head's tokens of one block (contiguous)");

        /// <summary>
        /// <c>store_q8</c>: eight dimensions of a query row (from d0, a multiple of 8) into the swizzled Q tile, in
        /// natural order or, with <paramref name="codeOrder"/>, in the order the k-steps take an FP8 cache's codes (a lane's
        /// ldmatrix pair of b16 holds codes 4t .. 4t + 3, which the MMA takes as k = 2t, 2t + 1, 2t + 8, 2t + 9).
        /// </summary>
        public static string QueryStore(bool codeOrder) => codeOrder
            ? @"// Q in the order the k-steps take K's codes: 32-bit word 2t of a k-step's sixteen dimensions goes to its chunk 0, word
// 2t + 1 to its chunk 1; its first eight dimensions fill the chunks' first halves.
__device__ __forceinline__ void store_q8(gc_act* q_s, int row, int d0, const gc_act8& x) {
    const uint4 a = *reinterpret_cast<const uint4*>(&x);
    const int step = d0 / 16, half = d0 / 8 % 2;
    *reinterpret_cast<uint2*>(q_s + swizzle(row, 2 * step) * 8 + 4 * half) = make_uint2(a.x, a.z);
    *reinterpret_cast<uint2*>(q_s + swizzle(row, 2 * step + 1) * 8 + 4 * half) = make_uint2(a.y, a.w);
}

"
            : @"// Eight dimensions of a query row, from d0, into the swizzled Q tile.
__device__ __forceinline__ void store_q8(gc_act* q_s, int row, int d0, const gc_act8& x) {
    *reinterpret_cast<gc_act8*>(q_s + swizzle(row, d0 / 8) * 8) = x;
}

";

        private const string CodeSwizzle = @"// FP8 code tiles, rows of kLoadChunks 16-byte chunks: the chunks of each 128-byte line XOR-ed with the line (with the
// row, where rows are whole lines), so the eight rows an ldmatrix phase reads land in eight different bank groups.
__device__ __forceinline__ int code_swizzle(int row, int chunk) {
    if (kLoadChunks % 8 == 0) return row * kLoadChunks + (chunk ^ (row & 7));
    const int at = row * kLoadChunks + chunk;
    return at ^ ((at >> 3) & 7);
}

";

        /// <summary>The cache blocks a K/V tile of <paramref name="keys"/> positions, starting at a multiple of them, lies in at
        /// most (the loader's kTileSpan): its own blocks where it starts on a block boundary, one where it lies inside a
        /// block, else two more than it covers (it may straddle a boundary).</summary>
        public static int TileSpan(int keys, int blockSize) =>
            keys % blockSize == 0 ? keys / blockSize : blockSize % keys == 0 ? 1 : keys / blockSize + 2;

        /// <summary>Why an attention kernel built on these functions cannot be emitted, or null: the rules the prefill and
        /// decode kernels share.</summary>
        public static string? Unsupported(int headDim, bool writeFp8) =>
            writeFp8 ? "an FP8 output row needs the amax over every head of the token (several CTAs); its emitter comes with the W8A8 o_proj path"
            : headDim % 64 != 0 || headDim > 256 ? $"head_dim {headDim} must be a multiple of 64 up to 256: rows of at least eight 16-byte chunks for the shared-memory swizzle"
            : null;

        /// <summary>The K/V side both kernels share: the swizzles, ex2, the paged cp.async loader and its pipeline, and an
        /// FP8 cache's pair widening.</summary>
        /// <param name="keys">The constant holding the keys one load covers (a multiple of 16).</param>
        /// <param name="wgmma">Tiles laid out in the tensor cores' swizzle atoms, a tile's copies fenced for their async-proxy
        /// reads (both wgmma kernels).</param>
        /// <param name="readOnce">The tiles' copies go under L2's evict-first policy (<see cref="PreludeFeatures.ReadOnce"/>,
        /// which the kernel's prelude then needs): decode reads each cached row once a step, prefill's query tiles read it again.</param>
        public static string Loader(string keys, DType activation, DType cache, bool wgmma = false, bool readOnce = false)
        {
            string copy = readOnce ? "gc_cp_async16_once" : "gc_cp_async16", policy = readOnce ? ", policy" : "";
            bool fp8 = cache is DType.F8E4M3 or DType.F8E5M2;
            return ((wgmma ? WarpgroupTile.Swizzle : @"// A row's 16-byte chunk c is stored at chunk c ^ (row % 8): the eight rows an ldmatrix phase reads fall in eight
// different bank groups, and so do eight consecutive chunks a warp writes.
__device__ __forceinline__ int swizzle(int row, int chunk) { return row * kChunks + (chunk ^ (row & 7)); }

") + (fp8 ? CodeSwizzle : "") + @"__device__ __forceinline__ float fast_exp2(float x) {
    float y;
    asm(""" + CudaDialect.Ex2Approx + @""" : ""=f""(y) : ""f""(x));
    return y;
}

// p + a · b bytes.
__device__ __forceinline__ const char* mad_wide(int a, int b, const char* p) {
    const char* d;
    asm(""" + CudaDialect.MadWideS32 + @""" : ""=l""(d) : ""r""(a), ""r""(b), ""l""(p));
    return d;
}

// K and V of positions first .. first + KEYS − 1 of KV head g through the block table, cp.async by kCount threads (whole
// warps, `thread` the caller's index among them) into k_dst / v_dst (swizzled" + (fp8 ? " codes" : "") + @"); positions from `end` on are zeros.
// `first` is a multiple of KEYS, so the tile's rows lie in at most kTileSpan cache blocks from block0 on. Up to 32 of them,
// lane id_lane + b of the warp holds block b's id in `ids` (0 past the context), and each pass of kCount / kLoadChunks rows
// takes its row's id by shuffle rather than a load and a division of its own; past 32, a pass loads its row's id.
template <int kCount>
__device__ __forceinline__ void load_kv_ids(const gc_cache* kv_pool, const int* blocks, int ids, int id_lane, int g, int first,
                                            int end, gc_u32 k_dst, gc_u32 v_dst, int thread) {
    constexpr int kRows = kCount / kLoadChunks;   // rows a pass covers
    constexpr int kPasses = (KEYS + kRows - 1) / kRows;
    constexpr bool kWholeBlocks = KEYS % kBlockSize == 0;   // the tile starts on a block boundary
    constexpr bool kShuffled = kTileSpan <= 32;   // a block id a lane; past that, a load a row
    // Passes whose places are known at compile time but for the thread's own row: pass p lies in block p·kRows / kBlockSize
    // of the tile, (p·kRows) % kBlockSize rows past the thread's row, and (whole groups of 8 rows) at the same swizzle.
    // A block's passes then share one address and differ by constants, instead of a 64-bit multiply-add each.
    constexpr bool kFixedPasses = kShuffled && kRows % 8 == 0 && (kTileSpan == 1 || kWholeBlocks && kBlockSize % kRows == 0);
    constexpr int kRowBytes = kHeadDim * sizeof(gc_cache), kBlockBytes = 2 * kKvHeads * kHeadRun * sizeof(gc_cache);
    static_assert(kCount % 32 == 0 && kCount % kLoadChunks == 0, ""whole warps, whole rows a pass"");
    const unsigned c = thread % kLoadChunks, r0 = thread % kCount / kLoadChunks;
    __builtin_assume(r0 < kRows);
    const int block0 = first / kBlockSize, rows = end - first;
    const unsigned row0 = kWholeBlocks ? 0u : first % kBlockSize;   // where in block0 the tile starts
    const gc_cache* head = kv_pool + g * kHeadRun + c * (16 / sizeof(gc_cache));
" + (readOnce ? "    const unsigned long long policy = gc_l2_evict_first();\n" : "") + @"    // A pass's two copies: its row's K and, kKvHeads · kHeadRun elements on, V. Rows past the context copy nothing (their
    // address, in block 0 or their own block, stays inside the pool).
    const auto copy = [&](int pass, const gc_cache* k_src, bool full) {
        const unsigned r = r0 + pass * kRows;
        if (KEYS % kRows != 0 && r >= KEYS) return;   // the last pass's rows past the tile
        const int at = " + (fp8 ? "code_swizzle(r, c)" : "swizzle(r, c)") + @" * 16, bytes = full || (int)r < rows ? 16 : 0;
        " + copy + @"(k_dst + at, k_src, bytes" + policy + @");
        " + copy + @"(v_dst + at, k_src + kKvHeads * kHeadRun, bytes" + policy + @");
    };
    if constexpr (kFixedPasses) {
        const char* const row = reinterpret_cast<const char*>(head + (row0 + r0) * kHeadDim);   // the thread's, in block 0
        const auto copy_fixed = [&](int pass, bool full) {
            const char* const block = mad_wide(__shfl_sync(0xffffffffu, ids, id_lane + pass * kRows / kBlockSize), kBlockBytes, row);
            copy(pass, reinterpret_cast<const gc_cache*>(block + pass * kRows % kBlockSize * kRowBytes), full);
        };
        // A tile inside the context (all but a sequence's last) copies every row: no row test a pass.
        if (rows >= KEYS) {
#pragma unroll
            for (int pass = 0; pass < kPasses; ++pass) copy_fixed(pass, true);
        } else {
#pragma unroll
            for (int pass = 0; pass < kPasses; ++pass) copy_fixed(pass, false);
        }
    } else {
#pragma unroll
        for (int pass = 0; pass < kPasses; ++pass) {
            const unsigned r = r0 + pass * kRows, in_tile = row0 + r;
            int block;
            if constexpr (kShuffled) block = __shfl_sync(0xffffffffu, ids, id_lane + in_tile / kBlockSize);
            else block = (int)r < rows ? blocks[block0 + in_tile / kBlockSize] : 0;
            copy(pass, head + (long long)block * (2 * kKvHeads * kHeadRun) + in_tile % kBlockSize * kHeadDim, false);
        }
    }
}

// The same, lane b of the warp reading block b's id from the block table first.
template <int kCount>
__device__ __forceinline__ void load_kv(const gc_cache* kv_pool, const int* blocks, int g, int first, int end,
                                        gc_u32 k_dst, gc_u32 v_dst, int thread) {
    const unsigned lane = thread % 32;
    const int block0 = first / kBlockSize;
    const int id = kTileSpan <= 32 && lane < kTileSpan && (block0 + (int)lane) * kBlockSize < end ? blocks[block0 + lane] : 0;
    load_kv_ids<kCount>(kv_pool, blocks, id, 0, g, first, end, k_dst, v_dst, thread);
}

// The K/V pipeline, kStages deep, over `tiles` tiles; load(tile, stage) issues one tile's copies. Its loaders are one
// warp (kBlock false: __syncwarp) or the whole CTA (__syncthreads). kv_pipeline_start issues the first kStages − 1 tiles
// (kFrom .. kTo − 1 of them, where a caller issues them in two parts).
template <int kFrom = 0, int kTo = kStages - 1, typename Load>
__device__ __forceinline__ void kv_pipeline_start(int tiles, Load load) {
#pragma unroll
    for (int stage = kFrom; stage < kTo; ++stage) {
        if (stage < tiles) load(stage, stage);
        gc_cp_async_commit();
    }
}

template <bool kBlock>
__device__ __forceinline__ void kv_pipeline_barrier() {
    if (kBlock) __syncthreads();
    else __syncwarp();
}

// Before tile j: waits until it has landed for every loader, then refills the stage tile j − 1 used with tile j + kStages − 1
// (the barrier between: every reader is done with tile j − 1). One stage loads tile j itself first.
template <bool kBlock, typename Load>
__device__ __forceinline__ void kv_pipeline_wait(int j, int tiles, Load load) {
    if (kStages == 1) {
        load(j, 0);
        gc_cp_async_commit();
    }
    gc_cp_async_wait<(kStages > 1 ? kStages - 2 : 0)>();
" + (wgmma ? "    gc_fence_proxy_async();   // the landed copies, before the tensor cores read them\n" : "") + @"    kv_pipeline_barrier<kBlock>();
    if (kStages > 1) {
        if (j + kStages - 1 < tiles) load(j + kStages - 1, (j + kStages - 1) % kStages);
        gc_cp_async_commit();
    }
}

// After tile j: with one stage, every reader must be done with it before the next wait refills it.
template <bool kBlock>
__device__ __forceinline__ void kv_pipeline_release() {
    if (kStages == 1) kv_pipeline_barrier<kBlock>();
}

" + (fp8 ? (cache == DType.F8E4M3 ? Fp8Widening.E4m3x2(activation) : Fp8Widening.E5m2x2(activation)) : "")).Replace("KEYS", keys);
        }

        /// <summary>The query-rows tile (the prefill kernel's): warps hold 16-row MMA tiles of queries; S = Q·Kᵀ, the online
        /// softmax and O += P·V with P in registers; an FP8 cache's tiles widened into shared memory first (widen_kv). The
        /// two products are mma.sync's (<see cref="MmaSyncProducts"/>) or wgmma's (<see cref="WarpgroupTile.Products"/>),
        /// which leave the same per-warp accumulator layout, so the softmax and the epilogue are one.</summary>
        /// <param name="keys">The constant holding the keys one call covers (a multiple of 16).</param>
        /// <param name="products">flash_scores and flash_pv.</param>
        /// <param name="deferredRescale">softmax_scores and rescale_o instead of flash_softmax: the softmax hands back O's
        /// factors, for a caller whose P·V is still running on the tensor cores.</param>
        public static string QueryRows(string keys, DType cache, string products, bool deferredRescale = false)
        {
            bool fp8 = cache is DType.F8E4M3 or DType.F8E5M2;
            string widen = cache == DType.F8E4M3 ? "widen_e4m3x2" : "widen_e5m2x2";
            return (@"// The sum over the quad of lanes that hold one MMA row's columns.
__device__ __forceinline__ float quad_sum(float x) {
    x += __shfl_xor_sync(0xffffffffu, x, 1);
    return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

" + (fp8 ? @"// The K and V codes load_kv left, widened into the swizzled k_s / v_s, sixteen codes (two chunks) an item.
__device__ __forceinline__ void widen_kv(const unsigned char* codes, gc_act* k_s, gc_act* v_s, int thread, int count) {
    for (int i = thread; i < KEYS * kLoadChunks; i += count) {
        const int r = i / kLoadChunks, c = i % kLoadChunks, at = code_swizzle(r, c) * 16;
        const uint4 k = *reinterpret_cast<const uint4*>(codes + at), v = *reinterpret_cast<const uint4*>(codes + KEYS * kHeadDim + at);
        *reinterpret_cast<uint4*>(k_s + swizzle(r, 2 * c) * 8) = make_uint4(WIDEN(k.x, 0), WIDEN(k.x, 1), WIDEN(k.y, 0), WIDEN(k.y, 1));
        *reinterpret_cast<uint4*>(k_s + swizzle(r, 2 * c + 1) * 8) = make_uint4(WIDEN(k.z, 0), WIDEN(k.z, 1), WIDEN(k.w, 0), WIDEN(k.w, 1));
        *reinterpret_cast<uint4*>(v_s + swizzle(r, 2 * c) * 8) = make_uint4(WIDEN(v.x, 0), WIDEN(v.x, 1), WIDEN(v.y, 0), WIDEN(v.y, 1));
        *reinterpret_cast<uint4*>(v_s + swizzle(r, 2 * c + 1) * 8) = make_uint4(WIDEN(v.z, 0), WIDEN(v.z, 1), WIDEN(v.w, 0), WIDEN(v.w, 1));
    }
}

" : "") + @"// The running state of a warp's query rows: O = 0, max = −∞, sum = 0.
__device__ __forceinline__ void flash_init(float (&o)[kMTiles][kHeadDim / 8][4], float (&row_max)[kMTiles][2], float (&row_sum)[kMTiles][2]) {
#pragma unroll
    for (int mt = 0; mt < kMTiles; ++mt) {
#pragma unroll
        for (int half = 0; half < 2; ++half) {
            row_max[mt][half] = __int_as_float(0xff800000u);
            row_sum[mt][half] = 0.0f;
        }
#pragma unroll
        for (int dt = 0; dt < kHeadDim / 8; ++dt)
#pragma unroll
            for (int e = 0; e < 4; ++e) o[mt][dt][e] = 0.0f;
    }
}

// P of keys 16kk .. 16kk + 15 from the S registers, rounded to the activation dtype: the A fragments of P·V.
__device__ __forceinline__ void p_fragments(gc_u32 (&p)[kMTiles][4], const float (&s)[kMTiles][KEYS / 8][4], int kk) {
#pragma unroll
    for (int mt = 0; mt < kMTiles; ++mt) {
        p[mt][0] = gc_pack_act2(s[mt][2 * kk][0], s[mt][2 * kk][1]);
        p[mt][1] = gc_pack_act2(s[mt][2 * kk][2], s[mt][2 * kk][3]);
        p[mt][2] = gc_pack_act2(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
        p[mt][3] = gc_pack_act2(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
    }
}

// Keys past a query (causal) or past the context's end to −∞, for the tile of keys t0 .. t0 + KEYS − 1 and the warp's
// queries from cache position query0 on; tiles wholly below the diagonal and inside the context skip it.
__device__ __forceinline__ void mask_scores(float (&s)[kMTiles][KEYS / 8][4], int t0, int query0, int kv_end, int lane) {
    if (t0 + KEYS - 1 <= query0 && t0 + KEYS <= kv_end) return;
#pragma unroll
    for (int mt = 0; mt < kMTiles; ++mt)
#pragma unroll
        for (int nt = 0; nt < KEYS / 8; ++nt)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int query = query0 + mt * 16 + lane / 4 + 8 * (e / 2), key = t0 + nt * 8 + 2 * (lane % 4) + e % 2;
                if (key > query || key >= kv_end) s[mt][nt][e] = __int_as_float(0xff800000u);
            }
}

// Online softmax in exp2 units over one tile of (masked) raw scores: p = 2^(s·scale − max·scale) in one fma and ex2
// against a row's reference max, kept in raw units. A row moves its reference only once its max passes it by more than
// kLazyRescale, and only then are its sum and O rescaled
// " + (deferredRescale ? "(O by the caller, with the factors in alpha, where this returns true: some row of the warp moved)." : "(O in a branch the whole warp takes or skips).") + @"
// So p stays below 2^kLazyRescale (as exact in fp16/bf16 as below 1, far from fp32's range), and once a row's largest
// scores have been seen, its tiles skip the rescale (FlashAttention-4's lazy rescale). row_sum holds this thread's
// columns (the quad adds up at the end). Max and sum are trees, not chains: each step would wait on the one before it.
constexpr float kLazyRescale = " + LazyRescale.ToString("0.0", CultureInfo.InvariantCulture) + @"f;
" + PartTree + (deferredRescale ? @"__device__ __forceinline__ bool softmax_scores(float (&s)[kMTiles][KEYS / 8][4], float (&row_max)[kMTiles][2], float (&row_sum)[kMTiles][2],
                                               float score_scale, float (&alpha)[kMTiles][2]) {
    bool moved = false;" : @"__device__ __forceinline__ void flash_softmax(float (&s)[kMTiles][KEYS / 8][4], float (&row_max)[kMTiles][2], float (&row_sum)[kMTiles][2],
                                              float (&o)[kMTiles][kHeadDim / 8][4], float score_scale) {") + @"
#pragma unroll
    for (int mt = 0; mt < kMTiles; ++mt) {
#pragma unroll
        for (int half = 0; half < 2; ++half) {
            float part[KEYS / 8];
#pragma unroll
            for (int nt = 0; nt < KEYS / 8; ++nt) part[nt] = fmaxf(s[mt][nt][2 * half], s[mt][nt][2 * half + 1]);
            fold_parts(part, [](float a, float b) { return fmaxf(a, b); });
            float m = fmaxf(row_max[mt][half], part[0]);
            m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 1));
            m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 2));
            const bool move = (m - row_max[mt][half]) * score_scale > kLazyRescale;   // false while both are −∞ (NaN)
            ALPHA_DEF = 1.0f;
            if (move) {
                ALPHA = fast_exp2(fmaf(row_max[mt][half], score_scale, -m * score_scale));
                row_max[mt][half] = m;
            }
            // A row with nothing visible yet stays at zero.
            const float base = row_max[mt][half] == __int_as_float(0xff800000u) ? 0.0f : row_max[mt][half] * score_scale;
#pragma unroll
            for (int nt = 0; nt < KEYS / 8; ++nt) {
                s[mt][nt][2 * half] = fast_exp2(fmaf(s[mt][nt][2 * half], score_scale, -base));
                s[mt][nt][2 * half + 1] = fast_exp2(fmaf(s[mt][nt][2 * half + 1], score_scale, -base));
                part[nt] = s[mt][nt][2 * half] + s[mt][nt][2 * half + 1];
            }
            fold_parts(part, [](float a, float b) { return a + b; });
            row_sum[mt][half] = row_sum[mt][half] * ALPHA + part[0];
" + (deferredRescale ? @"            moved |= move;
" : @"            if (__any_sync(0xffffffffu, move))
#pragma unroll
                for (int dt = 0; dt < kHeadDim / 8; ++dt) {
                    o[mt][dt][2 * half] *= alpha;
                    o[mt][dt][2 * half + 1] *= alpha;
                }
") + @"        }
    }
" + (deferredRescale ? "    return __any_sync(0xffffffffu, moved);\n" : "") + @"}

" + (deferredRescale ? @"// O's rows times the factors softmax_scores handed back.
__device__ __forceinline__ void rescale_o(float (&o)[kMTiles][kHeadDim / 8][4], const float (&alpha)[kMTiles][2]) {
#pragma unroll
    for (int mt = 0; mt < kMTiles; ++mt)
#pragma unroll
        for (int dt = 0; dt < kHeadDim / 8; ++dt)
#pragma unroll
            for (int e = 0; e < 4; ++e) o[mt][dt][e] *= alpha[mt][e / 2];
}

" : "") + products).Replace("WIDEN", widen).Replace("KEYS", keys)
              .Replace("ALPHA_DEF", deferredRescale ? "alpha[mt][half]" : "float alpha").Replace("ALPHA", deferredRescale ? "alpha[mt][half]" : "alpha");
        }

        /// <summary>How far (in exp2 units) a tile's max may pass a row's reference max before the softmax moves the reference
        /// and rescales O: p then stays below 2^8.</summary>
        public const double LazyRescale = 8.0;

        /// <summary>The softmax's tree over a row's KEYS / 8 parts (this thread's max, then its sum).</summary>
        private const string PartTree = @"// Folds a row's parts into part[0], widths halving, a template level each: every level's loop then has a constant trip
// count and unrolls (a loop over `width /= 2` around it did not at 128 keys on NVRTC 12.4: part[] went to local memory
// and every tile's softmax through it), and a count that is not a power of two still folds every part.
constexpr int kScoreParts = KEYS / 8;
template <int kWidth, typename Op>
__device__ __forceinline__ void fold_parts(float (&part)[kScoreParts], Op op) {
#pragma unroll
    for (int nt = 0; nt < kWidth; ++nt)
        if (nt + kWidth < kScoreParts) part[nt] = op(part[nt], part[nt + kWidth]);
    if constexpr (kWidth > 1) fold_parts<kWidth / 2>(part, op);
}
template <typename Op>
__device__ __forceinline__ void fold_parts(float (&part)[kScoreParts], Op op) {
    constexpr int kTop = kScoreParts <= 2 ? 1 : kScoreParts <= 4 ? 2 : kScoreParts <= 8 ? 4 : kScoreParts <= 16 ? 8 : kScoreParts <= 32 ? 16 : 32;
    if constexpr (kScoreParts > 1) fold_parts<kTop>(part, op);
}

";

        /// <summary>S = Q·Kᵀ and O += P·V on mma.sync m16n8k16, operands through ldmatrix from the swizzled tiles.</summary>
        /// <param name="kStepUnroll">How far the k-steps of Q·Kᵀ unroll (0: fully).</param>
        public static string MmaSyncProducts(int kStepUnroll) => @"// S = 0 before a tile's Q·Kᵀ.
__device__ __forceinline__ void zero_scores(float (&s)[kMTiles][KEYS / 8][4]) {
#pragma unroll
    for (int mt = 0; mt < kMTiles; ++mt)
#pragma unroll
        for (int nt = 0; nt < KEYS / 8; ++nt)
#pragma unroll
            for (int e = 0; e < 4; ++e) s[mt][nt][e] = 0.0f;
}

// A lane's ldmatrix address in a swizzled tile, as bytes from the tile: its row's, then its chunk h (0 or 1) swizzled.
// The rows a lane reads keep row % 8 == lane % 8 at every step (their first rows are multiples of 8), so a step's XOR
// touches only the chunk: chunk 2s + h of step s lands at chunk_step(at, s). Rows are 128-byte multiples, so the XOR
// of the row's bytes and the swizzled chunk's stays inside the chunk's bits.
__device__ __forceinline__ gc_u32 ldmatrix_lane(int row, int h) { return swizzle(row, h) * 16; }
// (2s + h) ^ (row % 8) = 8·(s / 4) + ((2·(s % 4)) ^ h ^ (row % 8)): in bytes, 128·(s / 4) past an XOR with 32·(s % 4).
__device__ __forceinline__ gc_u32 chunk_step(gc_u32 at, int s) { return (at ^ (s % 4 * 32)) + s / 4 * 128; }

// Q for a warp's products: its rows of the swizzled Q tile, read through ldmatrix a k-step at a time.
struct QOperand { gc_u32 address; gc_u32 lane; };
__device__ __forceinline__ QOperand q_operand(gc_u32 q_address, int q_row0, int lane) {
    return { q_address, ldmatrix_lane(q_row0 + lane % 16, lane / 16) };
}

// S = Q·Kᵀ for one warp: its kMTiles 16-row tiles of queries (its rows of the swizzled Q, q) against the KEYS keys of
// the swizzled K tile; scores in the MMA accumulator layout (rows lane/4 and lane/4 + 8, columns 2·(lane%4) + {0, 1}).
__device__ __forceinline__ void flash_scores(float (&s)[kMTiles][KEYS / 8][4], const QOperand& q, gc_u32 k_address, int lane) {
    zero_scores(s);
    const gc_u32 k_lane = ldmatrix_lane(lane % 8 + lane / 16 * 8, lane / 8 % 2);
" + (kStepUnroll == 0 ? "#pragma unroll\n" : $"#pragma unroll {kStepUnroll}\n") + @"    for (int ks = 0; ks < kHeadDim / 16; ++ks) {
        const gc_u32 q_at = q.address + chunk_step(q.lane, ks), k_at = k_address + chunk_step(k_lane, ks);
        gc_u32 a[kMTiles][4];
#pragma unroll
        for (int mt = 0; mt < kMTiles; ++mt) gc_ldmatrix_x4(a[mt], q_at + mt * 16 * kChunks * 16);
#pragma unroll
        for (int np = 0; np < KEYS / 16; ++np) {   // keys 16np .. 16np + 15: two n-tiles of 8
            gc_u32 kb[4];
            gc_ldmatrix_x4(kb, k_at + np * 16 * kChunks * 16);
#pragma unroll
            for (int mt = 0; mt < kMTiles; ++mt) {
                gc_mma_m16n8k16(s[mt][2 * np], a[mt], kb[0], kb[1]);
                gc_mma_m16n8k16(s[mt][2 * np + 1], a[mt], kb[2], kb[3]);
            }
        }
    }
}

// O += P·V: P from the S registers as A fragments (16 keys a step), V through ldmatrix.trans from the swizzled V tile.
__device__ __forceinline__ void flash_pv(float (&o)[kMTiles][kHeadDim / 8][4], const float (&s)[kMTiles][KEYS / 8][4], gc_u32 v_address, int lane) {
    const gc_u32 v_lane = ldmatrix_lane(lane % 8 + lane / 8 % 2 * 8, lane / 16);
#pragma unroll
    for (int kk = 0; kk < KEYS / 16; ++kk) {
        gc_u32 p[kMTiles][4];
        p_fragments(p, s, kk);
#pragma unroll
        for (int dp = 0; dp < kHeadDim / 16; ++dp) {   // dims 16dp .. 16dp + 15: two n-tiles of 8
            gc_u32 vb[4];
            gc_ldmatrix_x4_trans(vb, v_address + kk * 16 * kChunks * 16 + chunk_step(v_lane, dp));
#pragma unroll
            for (int mt = 0; mt < kMTiles; ++mt) {
                gc_mma_m16n8k16(o[mt][2 * dp], p[mt], vb[0], vb[1]);
                gc_mma_m16n8k16(o[mt][2 * dp + 1], p[mt], vb[2], vb[3]);
            }
        }
    }
}

";
    }
}
