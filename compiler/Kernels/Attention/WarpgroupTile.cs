using System;
using System.Globalization;
using GraphCompiler.Common;

namespace GraphCompiler.Kernels.Attention
{
    /// <summary>
    /// The prefill kernel's two products on Hopper's warpgroup MMA (wgmma m64nNk16, sm_90a), FlashAttention-3's instruction:
    /// each warpgroup of four warps owns 64 query rows, the tensor cores read the K tile (S = Q·Kᵀ, K-major) and the V tile
    /// (O += P·V, V N-major: head dimensions contiguous) from shared memory through descriptors, Q from there too or, with
    /// <c>q_operand: registers</c>, from the warps' fragments, and P stays in registers. A warp's 16 rows of S and O come out in mma.sync's accumulator layout, so
    /// <see cref="FlashTile.QueryRows"/>'s softmax, P fragments and epilogue serve both instructions unchanged. The tiles
    /// sit in the 128-byte swizzle atoms wgmma reads (<see cref="Swizzle"/>); the including kernel defines kAtomRowBytes.
    /// </summary>
    internal static class WarpgroupTile
    {
        /// <summary>The tile layout wgmma's 128-byte swizzle reads, as FlashTile's <c>swizzle</c>: the kernel's Q, K, V and
        /// output tiles all go through it.</summary>
        public const string Swizzle = @"// wgmma's 128-byte swizzle: a tile is atoms of 8 rows × 64 elements (1024 bytes, rows 128 bytes apart), ordered by
// (row / 8, chunk / 8), and within an atom a row's 16-byte chunk c sits at c ^ (row % 8), which the tensor cores undo.
// Eight rows an ldmatrix-like phase touches and eight consecutive chunks a warp writes fall in different bank groups.
__device__ __forceinline__ int swizzle(int row, int chunk) {
    return ((row >> 3) * (kChunks >> 3) + (chunk >> 3)) * 64 + (row & 7) * 8 + ((chunk & 7) ^ (row & 7));
}

";

        /// <summary>flash_scores and flash_pv on wgmma, for <paramref name="keys"/> (the constant) = <paramref name="blockN"/> keys a tile.</summary>
        /// <param name="qInRegisters">Q·Kᵀ takes Q's A fragments from registers, loaded once a query tile, instead of from
        /// shared memory every tile (<c>q_operand: registers</c>).</param>
        public static string Products(string keys, int blockN, int headDim, DType activation, bool qInRegisters)
        {
            if (blockN % 16 != 0 || blockN > 256) throw new ArgumentOutOfRangeException(nameof(blockN), blockN, "wgmma's N is a multiple of 8 up to 256, and P·V steps 16 keys");
            return (QOperand(qInRegisters) + @"// wgmma m64nBLOCKNk16, " + (qInRegisters ? "A (Q) from registers" : "A and B from shared memory") + @": S (+)= Q·Kᵀ for the warpgroup.
__device__ __forceinline__ void wgmma_scores(float (&d)[KEYS / 8][4], " + (qInRegisters ? "const gc_u32 (&a)[4]" : "unsigned long long a") + @", unsigned long long b, int accumulate) {
    asm volatile(""" + CudaDialect.WgmmaM64K16(blockN, activation, aInRegisters: qInRegisters, transposeB: false) + @"""
                 : " + Accumulators(blockN / 8) + @"
                 : " + (qInRegisters ? @"""r""(a[0]), ""r""(a[1]), ""r""(a[2]), ""r""(a[3])" : @"""l""(a)") + @", ""l""(b), ""r""(accumulate));
}

// wgmma m64nHEADDIMk16, A (P) from registers, B (V) N-major: O += P·V for the warpgroup.
__device__ __forceinline__ void wgmma_pv(float (&d)[kHeadDim / 8][4], const gc_u32 (&a)[4], unsigned long long b) {
    asm volatile(""" + CudaDialect.WgmmaM64K16(headDim, activation, aInRegisters: true, transposeB: true) + @"""
                 : " + Accumulators(headDim / 8) + @"
                 : ""r""(a[0]), ""r""(a[1]), ""r""(a[2]), ""r""(a[3]), ""l""(b), ""r""(1));
}

// Issues S = Q·Kᵀ for the warp's warpgroup (the wait is the caller's): its 64 query rows against the KEYS keys, kHeadDim / 16
// k-steps of 32 bytes inside the swizzled 128-byte lines, 64-dimension atoms 1024 bytes apart, 8-row groups kAtomRowBytes
// apart (K-major: the leading offset is unused). The warp's 16 rows land in s as mma.sync's would.
// A k-step moves a descriptor's start address, which is its low field: one add, not a new descriptor.
__device__ __forceinline__ void scores_issue(float (&s)[kMTiles][KEYS / 8][4], const QOperand& q, gc_u32 k_address) {
    const unsigned long long k_desc = gc_wgmma_descriptor(k_address, 16, kAtomRowBytes);
    gc_wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < kHeadDim / 16; ++ks) {
        const gc_u32 step = (ks / 4 * 1024 + ks % 4 * 32) >> 4;
        wgmma_scores(s[0], " + (qInRegisters ? "q.a[ks]" : "q.desc + step") + @", k_desc + step, ks);
    }
    gc_wgmma_commit();
}

// P of the whole tile from the S registers, rounded to the activation dtype: mma.sync's A fragments are wgmma's for the
// warp's rows. Once made, S's registers are free for the next tile's scores.
__device__ __forceinline__ void p_tile(gc_u32 (&p)[KEYS / 16][kMTiles][4], const float (&s)[kMTiles][KEYS / 8][4]) {
#pragma unroll
    for (int kk = 0; kk < KEYS / 16; ++kk) p_fragments(p[kk], s, kk);
}

// Issues O += P·V (the wait is the caller's, and p must live until it): P 16 keys a step, V's 16 key rows read N-major:
// 64-dimension atoms 1024 bytes apart (the leading offset), 8-key groups kAtomRowBytes apart.
__device__ __forceinline__ void pv_issue(float (&o)[kMTiles][kHeadDim / 8][4], gc_u32 (&p)[KEYS / 16][kMTiles][4], gc_u32 v_address) {
    const unsigned long long v_desc = gc_wgmma_descriptor(v_address, 1024, kAtomRowBytes);
    gc_wgmma_hold(o[0]);
    gc_wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < KEYS / 16; ++kk)
        wgmma_pv(o[0], p[kk][0], v_desc + (kk * 2 * kAtomRowBytes >> 4));
    gc_wgmma_commit();
}

// Waits for every product issued so far; S stays where it was.
__device__ __forceinline__ void scores_wait(float (&s)[kMTiles][KEYS / 8][4]) {
    gc_wgmma_wait<0>();
    gc_wgmma_hold(s[0]);
}

// S = Q·Kᵀ, waited for.
__device__ __forceinline__ void flash_scores(float (&s)[kMTiles][KEYS / 8][4], const QOperand& q, gc_u32 k_address, int lane) {
    scores_issue(s, q, k_address);
    scores_wait(s);
}

// Waits for every product issued so far; O and P (which the tensor cores read until then) stay where they were.
__device__ __forceinline__ void pv_wait(float (&o)[kMTiles][kHeadDim / 8][4], gc_u32 (&p)[KEYS / 16][kMTiles][4]) {
    gc_wgmma_wait<0>();
    gc_wgmma_hold(o[0]);
#pragma unroll
    for (int kk = 0; kk < KEYS / 16; ++kk) gc_wgmma_hold(p[kk]);
}

// O += P·V, waited for.
__device__ __forceinline__ void flash_pv(float (&o)[kMTiles][kHeadDim / 8][4], const float (&s)[kMTiles][KEYS / 8][4], gc_u32 v_address, int lane) {
    gc_u32 p[KEYS / 16][kMTiles][4];
    p_tile(p, s);
    pv_issue(o, p, v_address);
    pv_wait(o, p);
}

").Replace("BLOCKN", blockN.ToString(CultureInfo.InvariantCulture)).Replace("HEADDIM", headDim.ToString(CultureInfo.InvariantCulture))
              .Replace("KEYS", keys);
        }

        /// <summary>Q as Q·Kᵀ's A operand for a warp's rows (<c>q_operand</c>, made once Q is in shared memory): a descriptor
        /// of the warpgroup's 64 rows, or the warp's 16 rows as A fragments (ldmatrix through the swizzle), which takes a
        /// third of the shared-memory reads off every tile's products.</summary>
        private static string QOperand(bool inRegisters) => inRegisters ? @"// Q's A fragments of the warp's 16 rows, every k-step: loaded once a query tile, so Q·Kᵀ reads only K from shared memory.
struct QOperand { gc_u32 a[kHeadDim / 16][4]; };
__device__ __forceinline__ QOperand q_operand(gc_u32 q_address, int q_row0, int lane) {
    QOperand q;
#pragma unroll
    for (int ks = 0; ks < kHeadDim / 16; ++ks) gc_ldmatrix_x4(q.a[ks], q_address + swizzle(q_row0 + lane % 16, 2 * ks + lane / 16) * 16);
    return q;
}

" : @"// Q's descriptor: the warpgroup's 64 rows (from q_row0 rounded down to 64), read by the tensor cores every tile.
struct QOperand { unsigned long long desc; };
__device__ __forceinline__ QOperand q_operand(gc_u32 q_address, int q_row0, int lane) {
    return { gc_wgmma_descriptor(q_address + q_row0 / 64 * 8 * kAtomRowBytes, 16, kAtomRowBytes) };
}

";

        /// <summary>The "+f" operands of <paramref name="tiles"/> 8-column accumulator tiles d[i][0..3], in wgmma's register order.</summary>
        private static string Accumulators(int tiles)
        {
            var parts = new string[tiles];
            for (int i = 0; i < tiles; ++i)
                parts[i] = $"\"+f\"(d[{i}][0]), \"+f\"(d[{i}][1]), \"+f\"(d[{i}][2]), \"+f\"(d[{i}][3])";
            return string.Join(",\n                   ", parts);
        }
    }
}
