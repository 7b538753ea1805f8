using GraphCompiler.Common;

namespace GraphCompiler.Kernels.Attention
{
    /// <summary>
    /// The decode kernel's tile on mma.sync m16n8k16 with keys as rows: Sᵀ = K·Qᵀ and Oᵀ += Vᵀ·Pᵀ, so an MMA's 16 rows are
    /// keys (or head dimensions) and its 8 columns the GQA group's query heads. A group of 8 fills every MMA (with queries as
    /// rows, 8 of 16 rows were padding), Qᵀ stays in registers for the whole split, and Oᵀ takes half the registers. Pᵀ, the
    /// B operand of the second product, is Sᵀ's keys × heads blocks transposed in registers (movmatrix). An FP8 cache's codes
    /// are widened in registers between ldmatrix and the MMA: K's k-steps take a lane's codes 4t .. 4t + 3 as k = 2t, 2t + 1,
    /// 2t + 8, 2t + 9 (Q is stored in that order: <see cref="FlashTile.QueryStore"/>), and V's transposed matrices give two
    /// dimension rows each, the even and the odd dimensions of their 16-code chunk (<c>o_dim</c> names them). The fragment
    /// mappings were checked lane by lane against float64 products (tests/bench/NOTES.md). The including kernel defines
    /// kNTiles (8-head column tiles of the group) besides <see cref="FlashTile"/>'s constants.
    /// </summary>
    internal static class KeysAsRowsTile
    {
        /// <param name="keys">The constant holding the keys one call covers (a multiple of 16).</param>
        public static string DeviceFunctions(string keys, DType cache)
        {
            bool fp8 = cache is DType.F8E4M3 or DType.F8E5M2;
            string widen = cache == DType.F8E4M3 ? "widen_e4m3x2" : "widen_e5m2x2";
            return (@"// Qᵀ as B fragments, once a warp: column tile nt (heads 8nt .. 8nt + 7) and k-step ks (dimensions 16ks ..).
__device__ __forceinline__ void q_fragments(gc_u32 (&qb)[kNTiles][kHeadDim / 16][2], gc_u32 q_address, int lane) {
#pragma unroll
    for (int nt = 0; nt < kNTiles; ++nt)
#pragma unroll
        for (int kp = 0; kp < kHeadDim / 32; ++kp) {   // chunks 4kp .. 4kp + 3: two k-steps
            gc_u32 r[4];
            gc_ldmatrix_x4(r, q_address + swizzle(8 * nt + lane % 8, 4 * kp + lane / 8) * 16);
            qb[nt][2 * kp][0] = r[0];
            qb[nt][2 * kp][1] = r[1];
            qb[nt][2 * kp + 1][0] = r[2];
            qb[nt][2 * kp + 1][1] = r[3];
        }
}

// The head dimension of row `row` (0 .. 15) of Oᵀ's row tile mt.
__device__ __forceinline__ int o_dim(int mt, int row) { return 16 * mt + " + (fp8 ? "2 * (row % 8) + row / 8" : "row") + @"; }

// The running state of a warp's heads: Oᵀ = 0, max = −∞, sum = 0.
__device__ __forceinline__ void decode_init(float (&ot)[kHeadDim / 16][kNTiles][4], float (&m_run)[kNTiles][2], float (&l_run)[kNTiles][2]) {
#pragma unroll
    for (int nt = 0; nt < kNTiles; ++nt) {
#pragma unroll
        for (int hh = 0; hh < 2; ++hh) {
            m_run[nt][hh] = __int_as_float(0xff800000u);
            l_run[nt][hh] = 0.0f;
        }
#pragma unroll
        for (int mt = 0; mt < kHeadDim / 16; ++mt)
#pragma unroll
            for (int e = 0; e < 4; ++e) ot[mt][nt][e] = 0.0f;
    }
}

// Sᵀ = K·Qᵀ for KEYS keys: rows keys 16kt + lane / 4 (+ 8), columns heads 8nt + 2·(lane % 4) + {0, 1}.
__device__ __forceinline__ void decode_scores(float (&st)[KEYS / 16][kNTiles][4], const gc_u32 (&qb)[kNTiles][kHeadDim / 16][2], gc_u32 k_address, int lane) {
#pragma unroll
    for (int kt = 0; kt < KEYS / 16; ++kt)
#pragma unroll
        for (int nt = 0; nt < kNTiles; ++nt)
#pragma unroll
            for (int e = 0; e < 4; ++e) st[kt][nt][e] = 0.0f;
" + (fp8 ? @"#pragma unroll
    for (int kp = 0; kp < kHeadDim / 32; ++kp)   // code chunks 2kp, 2kp + 1: two k-steps
#pragma unroll
        for (int kt = 0; kt < KEYS / 16; ++kt) {
            gc_u32 kc[4];   // keys 16kt + (0..7 | 8..15) of chunk 2kp, then of chunk 2kp + 1
            gc_ldmatrix_x4(kc, k_address + code_swizzle(16 * kt + lane % 8 + lane / 8 % 2 * 8, 2 * kp + lane / 16) * 16);
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const gc_u32 a[4] = {WIDEN(kc[2 * h], 0), WIDEN(kc[2 * h + 1], 0), WIDEN(kc[2 * h], 1), WIDEN(kc[2 * h + 1], 1)};
#pragma unroll
                for (int nt = 0; nt < kNTiles; ++nt) gc_mma_m16n8k16(st[kt][nt], a, qb[nt][2 * kp + h][0], qb[nt][2 * kp + h][1]);
            }
        }
}
" : @"#pragma unroll
    for (int ks = 0; ks < kHeadDim / 16; ++ks)
#pragma unroll
        for (int kt = 0; kt < KEYS / 16; ++kt) {
            gc_u32 a[4];   // keys 16kt + (0..7 | 8..15) × dimensions 16ks + (0..7 | 8..15)
            gc_ldmatrix_x4(a, k_address + swizzle(16 * kt + lane % 8 + lane / 8 % 2 * 8, 2 * ks + lane / 16) * 16);
#pragma unroll
            for (int nt = 0; nt < kNTiles; ++nt) gc_mma_m16n8k16(st[kt][nt], a, qb[nt][ks][0], qb[nt][ks][1]);
        }
}
") + @"
// Online softmax down each head's column of (masked) raw scores in exp2 units: a lane holds two heads' scores for keys
// lane / 4 and lane / 4 + 8 of every 16, so a column's max is over those and the eight lanes sharing lane % 4. The running
// max stays in raw units, p = 2^(s·scale − max·scale) in one fma and ex2, Oᵀ rescaled once; l_run holds this lane's keys.
__device__ __forceinline__ void decode_softmax(float (&st)[KEYS / 16][kNTiles][4], float (&m_run)[kNTiles][2], float (&l_run)[kNTiles][2],
                                               float (&ot)[kHeadDim / 16][kNTiles][4], float score_scale) {
#pragma unroll
    for (int nt = 0; nt < kNTiles; ++nt)
#pragma unroll
        for (int hh = 0; hh < 2; ++hh) {
            float m = m_run[nt][hh];
#pragma unroll
            for (int kt = 0; kt < KEYS / 16; ++kt) m = fmaxf(m, fmaxf(st[kt][nt][hh], st[kt][nt][2 + hh]));
#pragma unroll
            for (int width = 4; width < 32; width *= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, width));
            const float base = m == __int_as_float(0xff800000u) ? 0.0f : m * score_scale;   // a head with nothing visible yet stays at zero
            const float alpha = fast_exp2(fmaf(m_run[nt][hh], score_scale, -base));
            m_run[nt][hh] = m;
            float sum = 0.0f;
#pragma unroll
            for (int kt = 0; kt < KEYS / 16; ++kt) {
                st[kt][nt][hh] = fast_exp2(fmaf(st[kt][nt][hh], score_scale, -base));
                st[kt][nt][2 + hh] = fast_exp2(fmaf(st[kt][nt][2 + hh], score_scale, -base));
                sum += st[kt][nt][hh] + st[kt][nt][2 + hh];
            }
            l_run[nt][hh] = l_run[nt][hh] * alpha + sum;
#pragma unroll
            for (int mt = 0; mt < kHeadDim / 16; ++mt) {
                ot[mt][nt][hh] *= alpha;
                ot[mt][nt][2 + hh] *= alpha;
            }
        }
}

// Oᵀ += Vᵀ·Pᵀ: Pᵀ from the Sᵀ registers, each 8 keys × 8 heads block rounded to the activation dtype and transposed in
// registers into a B fragment; Vᵀ through ldmatrix.trans from the V tile.
__device__ __forceinline__ void decode_pv(float (&ot)[kHeadDim / 16][kNTiles][4], const float (&st)[KEYS / 16][kNTiles][4], gc_u32 v_address, int lane) {
#pragma unroll
    for (int kt = 0; kt < KEYS / 16; ++kt) {
        gc_u32 pb[kNTiles][2];
#pragma unroll
        for (int nt = 0; nt < kNTiles; ++nt) {
            pb[nt][0] = gc_movmatrix_trans(gc_pack_act2(st[kt][nt][0], st[kt][nt][1]));
            pb[nt][1] = gc_movmatrix_trans(gc_pack_act2(st[kt][nt][2], st[kt][nt][3]));
        }
" + (fp8 ? @"#pragma unroll
        for (int dp = 0; dp < kHeadDim / 32; ++dp) {   // code chunks 2dp, 2dp + 1: row tiles 2dp, 2dp + 1
            gc_u32 vc[4];   // keys 16kt + (0..7 | 8..15) of chunk 2dp, then of chunk 2dp + 1
            gc_ldmatrix_x4_trans(vc, v_address + code_swizzle(16 * kt + lane % 8 + lane / 8 % 2 * 8, 2 * dp + lane / 16) * 16);
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const gc_u32 lo = gc_prmt(vc[2 * h], 0u, 0x3120u), hi = gc_prmt(vc[2 * h + 1], 0u, 0x3120u);   // codes by dimension
                const gc_u32 a[4] = {WIDEN(lo, 0), WIDEN(lo, 1), WIDEN(hi, 0), WIDEN(hi, 1)};   // even dimensions, odd ones
#pragma unroll
                for (int nt = 0; nt < kNTiles; ++nt) gc_mma_m16n8k16(ot[2 * dp + h][nt], a, pb[nt][0], pb[nt][1]);
            }
        }
    }
}
" : @"#pragma unroll
        for (int mt = 0; mt < kHeadDim / 16; ++mt) {
            gc_u32 a[4];   // dimensions 16mt + (0..7 | 8..15) × keys 16kt + (0..7 | 8..15)
            gc_ldmatrix_x4_trans(a, v_address + swizzle(16 * kt + lane % 8 + lane / 16 * 8, 2 * mt + lane / 8 % 2) * 16);
#pragma unroll
            for (int nt = 0; nt < kNTiles; ++nt) gc_mma_m16n8k16(ot[mt][nt], a, pb[nt][0], pb[nt][1]);
        }
    }
}
") + @"
").Replace("WIDEN", widen).Replace("KEYS", keys);
        }
    }
}
