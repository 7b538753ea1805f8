using System;
using System.Text;
using GraphCompiler.Common;

namespace GraphCompiler.Kernels
{
    /// <summary>Optional parts of the prelude a kernel asks for.</summary>
    [Flags]
    public enum PreludeFeatures
    {
        None = 0,
        BlockReduce = 1,
        Fp8 = 2,
        Int4 = 4,
        TensorCore = 8,
        CrossCta = 16,
        Wgmma = 32,
        Mbarrier = 64,
        Cluster = 128,
        NamedBarrier = 256,
        L2Prefetch = 512,
        ReadOnce = 1024,
    }

    /// <summary>
    /// The self-contained prelude every emitted kernel starts with: storage types, fp16/bf16 conversions, the activation
    /// type of this model, and on request block reductions, FP8 codecs (PTX cvt on sm_89+, bit-exact software below) and
    /// INT4 unpacking. No toolkit header is included, so NVRTC compiles kernels on a machine without the CUDA toolkit.
    /// </summary>
    public static class KernelPrelude
    {
        public static string Emit(DType activation, PreludeFeatures features)
        {
            var act = CudaDialect.Of(activation);
            var s = new StringBuilder();
            s.Append(@"// ---- GraphCompiler prelude (self-contained: no toolkit headers) ----
typedef unsigned int gc_u32;
typedef unsigned short gc_f16;   // IEEE binary16 bits
typedef unsigned short gc_bf16;  // bfloat16 bits
typedef unsigned char gc_e4m3;   // FP8 e4m3fn bits (max 448, no infinity)
typedef unsigned char gc_e5m2;   // FP8 e5m2 bits (the top byte of a binary16)

__device__ __forceinline__ float gc_f16_to_f32(gc_f16 h) { float f; asm(""" + CudaDialect.CvtF32FromF16 + @""" : ""=f""(f) : ""h""(h)); return f; }
__device__ __forceinline__ gc_f16 gc_f32_to_f16(float f) { gc_f16 h; asm(""" + CudaDialect.CvtF16FromF32 + @""" : ""=h""(h) : ""f""(f)); return h; }
__device__ __forceinline__ float gc_bf16_to_f32(gc_bf16 h) { return __uint_as_float(((gc_u32)h) << 16); }
__device__ __forceinline__ gc_bf16 gc_f32_to_bf16(float f) { gc_bf16 h; asm(""" + CudaDialect.CvtBf16FromF32 + @""" : ""=h""(h) : ""f""(f)); return h; }

// The model's activation dtype. gc_round_act rounds an fp32 value the way a PyTorch op in that dtype stores it.
typedef " + act.Name + @" gc_act;
__device__ __forceinline__ float gc_act_to_f32(gc_act v) { return " + act.ToFloat + @"(v); }
__device__ __forceinline__ gc_act gc_f32_to_act(float f) { return " + act.FromFloat + @"(f); }
__device__ __forceinline__ float gc_round_act(float f) { return gc_act_to_f32(gc_f32_to_act(f)); }

// 16 bytes of activations: one vector load or store.
constexpr int kActPerVec = 8;
struct __align__(16) gc_act8 { gc_act v[kActPerVec]; };
");
            if ((features & PreludeFeatures.BlockReduce) != 0)
                s.Append(@"
// Warp and block reductions. Every thread gets the block's result; partial sums are added in a fixed order, so the
// result does not depend on scheduling.
__device__ __forceinline__ float gc_warp_sum(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}
__device__ __forceinline__ float gc_warp_max(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}
template <int kThreads, bool kMax>
__device__ __forceinline__ float gc_block_reduce(float v) {
    __shared__ float partial[kThreads / 32];
    v = kMax ? gc_warp_max(v) : gc_warp_sum(v);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = v;
    __syncthreads();
    float total = partial[0];
    for (int w = 1; w < kThreads / 32; ++w) total = kMax ? fmaxf(total, partial[w]) : total + partial[w];
    __syncthreads();  // partial is reused by the next call
    return total;
}
");
            if ((features & PreludeFeatures.Fp8) != 0)
                s.Append(@"
// FP8 codecs: round to nearest even, saturating to the largest finite value (satfinite), NaN kept.
#if __CUDA_ARCH__ >= " + CudaDialect.Fp8CvtArch + @"
__device__ __forceinline__ float gc_e4m3_to_f32(gc_e4m3 v) {
    gc_u32 h2; unsigned short packed = v;
    asm(""" + CudaDialect.CvtF16x2FromE4m3x2 + @""" : ""=r""(h2) : ""h""(packed));
    return gc_f16_to_f32((gc_f16)(h2 & 0xFFFFu));
}
__device__ __forceinline__ gc_e4m3 gc_f32_to_e4m3(float f) {
    unsigned short packed;
    asm(""" + CudaDialect.CvtE4m3x2FromF32 + @""" : ""=h""(packed) : ""f""(0.0f), ""f""(f));
    return (gc_e4m3)(packed & 0xFFu);
}
__device__ __forceinline__ gc_e5m2 gc_f32_to_e5m2(float f) {
    unsigned short packed;
    asm(""" + CudaDialect.CvtE5m2x2FromF32 + @""" : ""=h""(packed) : ""f""(0.0f), ""f""(f));
    return (gc_e5m2)(packed & 0xFFu);
}
#else
__device__ __forceinline__ float gc_e4m3_to_f32(gc_e4m3 v) {
    const gc_u32 sign = (gc_u32)(v & 0x80u) << 24, exponent = (v >> 3) & 0xFu, mantissa = v & 0x7u;
    if (exponent == 0xFu && mantissa == 0x7u) return __uint_as_float(0x7FC00000u | sign);
    const float magnitude = exponent == 0u ? (float)mantissa * 0.001953125f                 // subnormal: m · 2^-9
                                           : __uint_as_float(((exponent + 120u) << 23) | (mantissa << 20));
    return __uint_as_float(__float_as_uint(magnitude) | sign);
}
__device__ __forceinline__ gc_e4m3 gc_f32_to_e4m3(float f) {
    const gc_u32 sign = (__float_as_uint(f) >> 24) & 0x80u;
    const float a = fabsf(f);
    if (a != a) return (gc_e4m3)0x7Fu;  // as the hardware cvt: one NaN, sign dropped
    if (a >= 448.0f) return (gc_e4m3)(sign | 0x7Eu);
    if (a < 0.015625f) return (gc_e4m3)(sign | (gc_u32)__float2int_rn(a * 512.0f));  // subnormal grid 2^-9
    gc_u32 bits = __float_as_uint(a);
    bits += 0x7FFFFu + ((bits >> 20) & 1u);                                           // keep 3 mantissa bits, ties to even
    const gc_u32 code = (((bits >> 23) - 120u) << 3) | ((bits >> 20) & 0x7u);
    return (gc_e4m3)(sign | (code > 0x7Eu ? 0x7Eu : code));
}
__device__ __forceinline__ gc_e5m2 gc_f32_to_e5m2(float f) {
    const gc_u32 sign = (__float_as_uint(f) >> 24) & 0x80u;
    const float a = fabsf(f);
    if (a != a) return (gc_e5m2)0x7Fu;
    if (a >= 57344.0f) return (gc_e5m2)(sign | 0x7Bu);
    if (a < 6.103515625e-05f) return (gc_e5m2)(sign | (gc_u32)__float2int_rn(a * 65536.0f));  // subnormal grid 2^-16
    gc_u32 bits = __float_as_uint(a);
    bits += 0xFFFFFu + ((bits >> 21) & 1u);                                            // keep 2 mantissa bits, ties to even
    const gc_u32 code = (((bits >> 23) - 112u) << 2) | ((bits >> 21) & 0x3u);
    return (gc_e5m2)(sign | (code > 0x7Bu ? 0x7Bu : code));
}
#endif
__device__ __forceinline__ float gc_e5m2_to_f32(gc_e5m2 v) { return gc_f16_to_f32((gc_f16)((gc_u32)v << 8)); }
constexpr float kE4m3Max = 448.0f;
");
            if ((features & PreludeFeatures.Int4) != 0)
                s.Append(@"
// Eight 4-bit codes of a 32-bit word (code j in bits 4j..4j+3) as floats. OR-ing a code into the mantissa of fp16 1024.0
// (0x6400) gives exactly 1024 + code, so one lop3 converts two codes (j and j+4, one per 16-bit half) with no integer
// to float conversion.
__device__ __forceinline__ gc_u32 gc_lop3_and_or(gc_u32 a, gc_u32 mask, gc_u32 bits) {
    gc_u32 r;
    asm(""" + CudaDialect.Lop3AndOr + @""" : ""=r""(r) : ""r""(a), ""r""(mask), ""r""(bits));
    return r;
}
__device__ __forceinline__ void gc_unpack_int4x8(gc_u32 word, float codes[8]) {
#pragma unroll
    for (int pair = 0; pair < 4; ++pair) {
        const gc_u32 h2 = gc_lop3_and_or(word >> (4 * pair), 0x000F000Fu, 0x64006400u);
        codes[pair] = gc_f16_to_f32((gc_f16)(h2 & 0xFFFFu)) - 1024.0f;
        codes[pair + 4] = gc_f16_to_f32((gc_f16)(h2 >> 16)) - 1024.0f;
    }
}
");
            if ((features & PreludeFeatures.TensorCore) != 0)
                s.Append(@"
// Tensor-core GEMM building blocks: shared-window addresses, 16-byte cp.async with zero fill, ldmatrix, mma.sync
// m16n8k16 in the activation dtype with fp32 accumulators, and paired fp16/bf16 arithmetic on raw 32-bit registers.
__device__ __forceinline__ gc_u32 gc_smem_address(const void* p) {
    gc_u32 a;
    asm(""" + CudaDialect.SharedAddress + @""" : ""=r""(a) : ""l""(p));
    return a;
}
__device__ __forceinline__ void gc_cp_async16(gc_u32 dst, const void* src, int src_bytes) {
    asm volatile(""" + CudaDialect.CpAsync16 + @""" :: ""r""(dst), ""l""(src), ""r""(src_bytes));
}
__device__ __forceinline__ void gc_cp_async4(gc_u32 dst, const void* src) {
    asm volatile(""" + CudaDialect.CpAsync4 + @""" :: ""r""(dst), ""l""(src));
}
__device__ __forceinline__ void gc_cp_async_commit() { asm volatile(""" + CudaDialect.CpAsyncCommit + @""" ::: ""memory""); }
template <int kPending>
__device__ __forceinline__ void gc_cp_async_wait() { asm volatile(""" + CudaDialect.CpAsyncWait + @""" :: ""n""(kPending) : ""memory""); }
__device__ __forceinline__ void gc_ldmatrix_x4(gc_u32 a[4], gc_u32 address) {
    asm volatile(""" + CudaDialect.LdMatrixX4 + @""" : ""=r""(a[0]), ""=r""(a[1]), ""=r""(a[2]), ""=r""(a[3]) : ""r""(address));
}
__device__ __forceinline__ void gc_ldmatrix_x4_trans(gc_u32 a[4], gc_u32 address) {
    asm volatile(""" + CudaDialect.LdMatrixX4Trans + @""" : ""=r""(a[0]), ""=r""(a[1]), ""=r""(a[2]), ""=r""(a[3]) : ""r""(address));
}
__device__ __forceinline__ gc_u32 gc_movmatrix_trans(gc_u32 x) {
    gc_u32 y;
    asm volatile(""" + CudaDialect.MovMatrixTrans + @""" : ""=r""(y) : ""r""(x));
    return y;
}
// Two fp32 values as one register of the activation dtype, lo in the lower half (an A fragment's column order).
__device__ __forceinline__ gc_u32 gc_pack_act2(float lo, float hi) {
    gc_u32 d;
    asm(""" + CudaDialect.CvtPack2(activation) + @""" : ""=r""(d) : ""f""(hi), ""f""(lo));
    return d;
}
__device__ __forceinline__ void gc_mma_m16n8k16(float d[4], const gc_u32 a[4], gc_u32 b0, gc_u32 b1) {
    asm volatile(""" + CudaDialect.MmaM16N8K16(activation) + @"""
                 : ""+f""(d[0]), ""+f""(d[1]), ""+f""(d[2]), ""+f""(d[3])
                 : ""r""(a[0]), ""r""(a[1]), ""r""(a[2]), ""r""(a[3]), ""r""(b0), ""r""(b1));
}
__device__ __forceinline__ gc_u32 gc_fma2(gc_u32 a, gc_u32 b, gc_u32 c) {
    gc_u32 d;
    asm(""" + CudaDialect.Fma2(activation) + @""" : ""=r""(d) : ""r""(a), ""r""(b), ""r""(c));
    return d;
}
__device__ __forceinline__ gc_u32 gc_prmt(gc_u32 a, gc_u32 b, gc_u32 selector) {
    gc_u32 d;
    asm(""" + CudaDialect.Prmt + @""" : ""=r""(d) : ""r""(a), ""r""(b), ""r""(selector));
    return d;
}
");
            if ((features & PreludeFeatures.CrossCta) != 0)
                s.Append(@"
// Reads of what other CTAs of the launch wrote (split partial sums): from L2, never a stale L1 line; and the fence
// (release, then acquire) between a CTA's partials and its arrival, or the last arrival and its reads.
__device__ __forceinline__ float gc_load_cg(const float* p) {
    float v;
    asm volatile(""" + CudaDialect.LoadGlobalCg + @""" : ""=f""(v) : ""l""(p));
    return v;
}
__device__ __forceinline__ float2 gc_load_cg2(const float* p) {
    float2 v;
    asm volatile(""" + CudaDialect.LoadGlobalCg2 + @""" : ""=f""(v.x), ""=f""(v.y) : ""l""(p));
    return v;
}
__device__ __forceinline__ void gc_fence_acq_rel() { asm volatile(""" + CudaDialect.FenceAcqRelGpu + @""" ::: ""memory""); }
");
            if ((features & PreludeFeatures.Wgmma) != 0)
                s.Append(@"
// Hopper's warpgroup MMA (sm_90a): fences, groups, the proxy fence between st.shared / cp.async and the tensor cores'
// reads, a warpgroup's register count, shared-memory descriptors (128-byte swizzle), and a barrier the compiler cannot
// move accumulators across.
__device__ __forceinline__ void gc_wgmma_fence() { asm volatile(""" + CudaDialect.WgmmaFence + @""" ::: ""memory""); }
__device__ __forceinline__ void gc_wgmma_commit() { asm volatile(""" + CudaDialect.WgmmaCommit + @""" ::: ""memory""); }
template <int kPending>
__device__ __forceinline__ void gc_wgmma_wait() { asm volatile(""" + CudaDialect.WgmmaWait + @""" :: ""n""(kPending) : ""memory""); }
__device__ __forceinline__ void gc_fence_proxy_async() { asm volatile(""" + CudaDialect.FenceProxyAsync + @""" ::: ""memory""); }
template <int kRegisters>
__device__ __forceinline__ void gc_setmaxnreg_dec() { asm volatile(""" + CudaDialect.SetMaxNRegDec + @""" :: ""n""(kRegisters)); }
template <int kRegisters>
__device__ __forceinline__ void gc_setmaxnreg_inc() { asm volatile(""" + CudaDialect.SetMaxNRegInc + @""" :: ""n""(kRegisters)); }
// A K-major or N-major operand in 128-byte-swizzled atoms (8 rows of 128 bytes, on a 1024-byte boundary): start address,
// leading and stride byte offsets in 16-byte units, layout type 1 (128-byte swizzle) in bits 62-63. Shared memory ends
// below 256 KB, so adding an offset / 16 to a descriptor moves its start address without carrying out of the field.
__device__ __forceinline__ unsigned long long gc_wgmma_descriptor(gc_u32 address, gc_u32 leading, gc_u32 stride) {
    return (unsigned long long)((address & 0x3FFFF) >> 4) | (unsigned long long)(leading >> 4) << 16
         | (unsigned long long)(stride >> 4) << 32 | 1ull << 62;
}
template <int kTiles>
__device__ __forceinline__ void gc_wgmma_hold(float (&d)[kTiles][4]) {
#pragma unroll
    for (int i = 0; i < kTiles; ++i) asm volatile("""" : ""+f""(d[i][0]), ""+f""(d[i][1]), ""+f""(d[i][2]), ""+f""(d[i][3]) :: ""memory"");
}
template <int kTiles>
__device__ __forceinline__ void gc_wgmma_hold(gc_u32 (&a)[kTiles][4]) {
#pragma unroll
    for (int i = 0; i < kTiles; ++i) asm volatile("""" : ""+r""(a[i][0]), ""+r""(a[i][1]), ""+r""(a[i][2]), ""+r""(a[i][3]) :: ""memory"");
}
");
            if ((features & PreludeFeatures.Mbarrier) != 0)
                s.Append(@"
// Shared-memory mbarriers by address: init (one thread, before a block barrier), arrive (now, or once this thread's
// cp.async copies have landed), and wait for a phase's parity.
__device__ __forceinline__ void gc_mbarrier_init(gc_u32 bar, int count) { asm volatile(""" + CudaDialect.MbarrierInit + @""" :: ""r""(bar), ""r""(count) : ""memory""); }
__device__ __forceinline__ void gc_mbarrier_arrive(gc_u32 bar) { asm volatile(""" + CudaDialect.MbarrierArrive + @""" :: ""r""(bar) : ""memory""); }
__device__ __forceinline__ void gc_mbarrier_arrive_on_copies(gc_u32 bar) { asm volatile(""" + CudaDialect.CpAsyncMbarrierArrive + @""" :: ""r""(bar) : ""memory""); }
__device__ __forceinline__ void gc_mbarrier_wait(gc_u32 bar, int parity) {
    gc_u32 done;
    do asm volatile(""" + CudaDialect.MbarrierTryWaitParity + @""" : ""=r""(done) : ""r""(bar), ""r""(parity) : ""memory"");
    while (!done);
}
");
            if ((features & PreludeFeatures.NamedBarrier) != 0)
                s.Append(@"
// Named barriers between sets of warps: wait at barrier id until count threads have reached it, or arrive without waiting.
__device__ __forceinline__ void gc_barrier_sync(int id, int count) { asm volatile(""" + CudaDialect.NamedBarrierSync + @""" :: ""r""(id), ""r""(count) : ""memory""); }
__device__ __forceinline__ void gc_barrier_arrive(int id, int count) { asm volatile(""" + CudaDialect.NamedBarrierArrive + @""" :: ""r""(id), ""r""(count) : ""memory""); }
");
            if ((features & PreludeFeatures.L2Prefetch) != 0)
                s.Append(@"
// A line fetched into L2 ahead of its loads, not waited on.
__device__ __forceinline__ void gc_prefetch_l2(const void* p) { asm volatile(""" + CudaDialect.PrefetchL2 + @""" :: ""l""(p)); }
");
            if ((features & PreludeFeatures.ReadOnce) != 0)
                s.Append(@"
// Copies of data a launch reads once and no later launch finds in L2 (a decode step's KV cache and weights): under the
// evict-first policy its lines make room for each other, not for what is read again. On the H200 decode attention ran
// 2-7% faster and the decode GEMMs 2-6%; the same copies under evict_normal were no faster and up to 5% slower, so it is
// the policy, not the hinted form (tests/bench/NOTES.md).
__device__ __forceinline__ unsigned long long gc_l2_evict_first() {
    unsigned long long policy;
    asm(""" + CudaDialect.CreatePolicyEvictFirst + @""" : ""=l""(policy));
    return policy;
}
__device__ __forceinline__ void gc_cp_async16_once(gc_u32 dst, const void* src, int src_bytes, unsigned long long policy) {
    asm volatile(""" + CudaDialect.CpAsync16Hinted + @""" :: ""r""(dst), ""l""(src), ""r""(src_bytes), ""l""(policy));
}
");
            if ((features & PreludeFeatures.Cluster) != 0)
                s.Append(@"
// Thread-block clusters (sm_90+): the cluster barrier in halves (an arrival that orders nothing, a wait) and whole (what
// each CTA wrote into the cluster's shared memory before it is visible to every CTA after it), the cluster's size, and
// stores into cluster rank r's copy of a shared variable (its shared::cta address mapped to that CTA's).
__device__ __forceinline__ void gc_cluster_arrive_relaxed() { asm volatile(""" + CudaDialect.ClusterArriveRelaxed + @""" ::: ""memory""); }
__device__ __forceinline__ void gc_cluster_wait() { asm volatile(""" + CudaDialect.ClusterWait + @""" ::: ""memory""); }
__device__ __forceinline__ void gc_cluster_sync() {
    asm volatile(""" + CudaDialect.ClusterArrive + @""" ::: ""memory"");
    gc_cluster_wait();
}
__device__ __forceinline__ gc_u32 gc_cluster_ctas() { gc_u32 n; asm(""" + CudaDialect.ClusterCtaCount + @""" : ""=r""(n)); return n; }
__device__ __forceinline__ gc_u32 gc_cluster_address(gc_u32 shared_address, int rank) {
    gc_u32 a;
    asm(""" + CudaDialect.MapaShared + @""" : ""=r""(a) : ""r""(shared_address), ""r""(rank));
    return a;
}
__device__ __forceinline__ void gc_store_cluster4(gc_u32 address, const float* v) {
    asm volatile(""" + CudaDialect.StoreClusterF32x4 + @""" :: ""r""(address), ""f""(v[0]), ""f""(v[1]), ""f""(v[2]), ""f""(v[3]) : ""memory"");
}
__device__ __forceinline__ void gc_store_cluster2(gc_u32 address, float x, float y) {
    asm volatile(""" + CudaDialect.StoreClusterF32x2 + @""" :: ""r""(address), ""f""(x), ""f""(y) : ""memory"");
}
");
            s.Append("// ---- end of prelude ----\n");
            return s.ToString();
        }
    }
}
