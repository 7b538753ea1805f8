using System;
using System.Globalization;
using System.Linq;
using GraphCompiler.Common;

namespace GraphCompiler.Kernels
{
    /// <summary>How one element type appears in emitted CUDA C: its storage type and its conversions to and from fp32.</summary>
    public sealed record CudaType(string Name, int Bytes, string ToFloat, string FromFloat);

    /// <summary>
    /// The dialect table: every CUDA type name and PTX instruction the emitters use, in one place. Emitters compose these;
    /// they never spell a type or an asm string themselves. Kernels include no toolkit header, so fp16/bf16/fp8 values
    /// are raw bit patterns converted with PTX cvt.
    /// </summary>
    public static class CudaDialect
    {
        public static CudaType Of(DType dtype) => dtype switch
        {
            DType.F16 => new CudaType("gc_f16", 2, "gc_f16_to_f32", "gc_f32_to_f16"),
            DType.BF16 => new CudaType("gc_bf16", 2, "gc_bf16_to_f32", "gc_f32_to_bf16"),
            DType.F8E4M3 => new CudaType("gc_e4m3", 1, "gc_e4m3_to_f32", "gc_f32_to_e4m3"),
            DType.F8E5M2 => new CudaType("gc_e5m2", 1, "gc_e5m2_to_f32", "gc_f32_to_e5m2"),
            DType.F32 => new CudaType("float", 4, "", ""),
            DType.I32 => new CudaType("int", 4, "", ""),
            _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "no CUDA spelling"),
        };

        // PTX, sm_80 and up unless noted. %0 is the destination.
        public const string CvtF32FromF16 = "cvt.f32.f16 %0, %1;";
        public const string CvtF16FromF32 = "cvt.rn.f16.f32 %0, %1;";
        public const string CvtBf16FromF32 = "cvt.rn.bf16.f32 %0, %1;";
        /// <summary>sm_89+: two fp32 to a pair of e4m3 (the first source goes to the upper byte), saturating to ±448.</summary>
        public const string CvtE4m3x2FromF32 = "cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;";
        /// <summary>sm_89+: a pair of e4m3 to a pair of fp16, exactly.</summary>
        public const string CvtF16x2FromE4m3x2 = "cvt.rn.f16x2.e4m3x2 %0, %1;";
        public const string CvtE5m2x2FromF32 = "cvt.rn.satfinite.e5m2x2.f32 %0, %1, %2;";
        /// <summary>d = (a &amp; b) | c in one instruction: lop3 with look-up table 0xEA.</summary>
        public const string Lop3AndOr = "lop3.b32 %0, %1, %2, %3, 0xEA;";

        /// <summary>d = bytes of (a, b) picked by selector c (prmt): spreads two FP8 codes into the halves of a 32-bit register.</summary>
        public const string Prmt = "prmt.b32 %0, %1, %2, %3;";

        // Tensor-core GEMM building blocks (sm_80+): 16-byte asynchronous copies into shared memory, ldmatrix, mma.sync.
        /// <summary>A generic pointer to shared memory as the 32-bit shared-window address cp.async and ldmatrix take.</summary>
        public const string SharedAddress = "{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }";
        /// <summary>16 bytes global → shared, bypassing L1; bytes past %2 of the source (0 or 16) are zero-filled.</summary>
        public const string CpAsync16 = "cp.async.cg.shared.global [%0], [%1], 16, %2;";
        /// <summary>The same under the L2 cache policy %3 (<see cref="CreatePolicyEvictFirst"/>).</summary>
        public const string CpAsync16Hinted = "cp.async.cg.shared.global.L2::cache_hint [%0], [%1], 16, %2, %3;";
        /// <summary>An L2 cache policy (sm_80+) under which the lines a load brings in are the first evicted.</summary>
        public const string CreatePolicyEvictFirst = "createpolicy.fractional.L2::evict_first.b64 %0, 1.0;";
        /// <summary>4 bytes global → shared, through L1 (the .cg form copies 16 only).</summary>
        public const string CpAsync4 = "cp.async.ca.shared.global [%0], [%1], 4;";
        /// <summary>d = a · b + c, a 32-bit product widened onto a 64-bit address. Written out, NVVM would spread the
        /// constant offsets added after it into each address's sum (a three-input 64-bit add an address).</summary>
        public const string MadWideS32 = "mad.wide.s32 %0, %1, %2, %3;";
        public const string CpAsyncCommit = "cp.async.commit_group;";
        public const string CpAsyncWait = "cp.async.wait_group %0;";
        /// <summary>The 128-byte line holding %0 fetched into L2, not waited on (a later load of it hits L2, not DRAM).</summary>
        public const string PrefetchL2 = "prefetch.global.L2 [%0];";
        /// <summary>Four 8×8 b16 matrices from shared memory: lanes 8i..8i+7 give the row addresses of matrix i.</summary>
        public const string LdMatrixX4 = "ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];";
        /// <summary>The same, transposed: lane l receives column l / 4 of rows 2·(l % 4) and 2·(l % 4) + 1 (a row-major B operand).</summary>
        public const string LdMatrixX4Trans = "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];";
        /// <summary>An 8×8 b16 matrix held in registers as an MMA fragment (lane l: row l / 4, columns 2·(l % 4), +1), transposed.</summary>
        public const string MovMatrixTrans = "movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;";
        /// <summary>2^x on the special-function unit (flush-to-zero, about 2 ulp): softmax in exp2 units.</summary>
        public const string Ex2Approx = "ex2.approx.ftz.f32 %0, %1;";
        /// <summary>An fp32 load that reads L2, not a stale L1 line (split-K partials written by other CTAs).</summary>
        public const string LoadGlobalCg = "ld.global.cg.f32 %0, [%1];";
        /// <summary>The same for two consecutive fp32 (8-byte aligned).</summary>
        public const string LoadGlobalCg2 = "ld.global.cg.v2.f32 {%0, %1}, [%2];";
        /// <summary>Orders this thread's memory operations GPU-wide as a release and an acquire (what a split publishing its
        /// partials before its arrival, and the last split reading them after, need; lighter than fence.sc).</summary>
        public const string FenceAcqRelGpu = "fence.acq_rel.gpu;";

        // Thread-block clusters (sm_90+): a barrier over every thread of the cluster (the arrival a release, or relaxed where
        // it orders nothing; the wait an acquire), the cluster's CTA count, and stores into another CTA's shared memory
        // through a shared::cluster address.
        public const string ClusterArrive = "barrier.cluster.arrive.aligned;";
        public const string ClusterArriveRelaxed = "barrier.cluster.arrive.relaxed.aligned;";
        public const string ClusterWait = "barrier.cluster.wait.aligned;";
        public const string ClusterCtaCount = "mov.u32 %0, %%cluster_nctarank;";
        /// <summary>The shared::cluster address of this CTA's shared::cta address %1 in the CTA of cluster rank %2.</summary>
        public const string MapaShared = "mapa.shared::cluster.u32 %0, %1, %2;";
        /// <summary>Four fp32 (16-byte aligned) into a CTA of the cluster.</summary>
        public const string StoreClusterF32x4 = "st.shared::cluster.v4.f32 [%0], {%1, %2, %3, %4};";
        /// <summary>Two fp32 (8-byte aligned) into a CTA of the cluster.</summary>
        public const string StoreClusterF32x2 = "st.shared::cluster.v2.f32 [%0], {%1, %2};";

        /// <summary>D = A·B + D on tensor cores, A 16×16 row-major, B 16×8 column-major, fp32 accumulators updated in place.</summary>
        public static string MmaM16N8K16(DType activation) =>
            "mma.sync.aligned.m16n8k16.row.col.f32." + HalfSuffix(activation) + "." + HalfSuffix(activation)
            + ".f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};";

        // Hopper's warpgroup MMA (sm_90a): four warps issue one asynchronous m64nNk16 whose B (and optionally A) the tensor
        // cores read from shared memory through 64-bit descriptors; fence before it, commit it to a group, wait for the group.
        public const string WgmmaFence = "wgmma.fence.sync.aligned;";
        public const string WgmmaCommit = "wgmma.commit_group.sync.aligned;";
        public const string WgmmaWait = "wgmma.wait_group.sync.aligned %0;";
        /// <summary>Orders this thread's generic-proxy writes to shared memory (st.shared, cp.async) before later async-proxy reads (wgmma).</summary>
        public const string FenceProxyAsync = "fence.proxy.async.shared::cta;";
        /// <summary>A warpgroup gives up or takes registers (sm_90a; all four warps together, a multiple of 8 from 24 to 256):
        /// warp specialization's loaders keep few, its MMA warps many.</summary>
        public const string SetMaxNRegDec = "setmaxnreg.dec.sync.aligned.u32 %0;";
        public const string SetMaxNRegInc = "setmaxnreg.inc.sync.aligned.u32 %0;";

        // mbarriers (sm_80+): a 64-bit shared-memory object counting arrivals; when the expected count has arrived its phase
        // completes (release by the arrivals, acquire by the waiters) and the next phase begins.
        public const string MbarrierInit = "mbarrier.init.shared::cta.b64 [%0], %1;";
        public const string MbarrierArrive = "mbarrier.arrive.shared::cta.b64 _, [%0];";
        /// <summary>An arrival on the mbarrier at %0 once every cp.async this thread issued so far has landed, without waiting
        /// for them (noinc: the arrival is one of the count the barrier was initialized with).</summary>
        public const string CpAsyncMbarrierArrive = "cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];";
        /// <summary>%0 = 1 once the phase of parity %2 of the mbarrier at %1 has completed (the hardware may suspend the thread a while first).</summary>
        public const string MbarrierTryWaitParity = "{ .reg .pred done; mbarrier.try_wait.parity.shared::cta.b64 done, [%1], %2; selp.u32 %0, 1, 0, done; }";

        // Named barriers (0 is __syncthreads'): bar.sync waits until %1 threads have reached barrier %0, counting itself;
        // bar.arrive counts without waiting, so one set of warps can hand a turn to another.
        public const string NamedBarrierSync = "bar.sync %0, %1;";
        public const string NamedBarrierArrive = "bar.arrive %0, %1;";

        /// <summary>
        /// D (+)= A·B, m64nNk16, fp32 accumulators %0 … %(N/2 − 1); A as a descriptor (one operand) or four registers of the
        /// activation dtype (mma.sync's A fragment for each warp's 16 rows); then B's descriptor, and the accumulate flag as a
        /// predicate set from the last operand. B is K-major, or N-major with <paramref name="transposeB"/> (16-bit types only).
        /// </summary>
        public static string WgmmaM64K16(int n, DType activation, bool aInRegisters, bool transposeB)
        {
            int a = n / 2, b = a + (aInRegisters ? 4 : 1), accumulate = b + 1;
            string d = string.Join(", ", Enumerable.Range(0, n / 2).Select(i => "%" + i.ToString(CultureInfo.InvariantCulture)));
            string aOperand = aInRegisters ? $"{{%{a}, %{a + 1}, %{a + 2}, %{a + 3}}}" : $"%{a}";
            string immediates = aInRegisters ? $"1, 1, {(transposeB ? 1 : 0)}" : $"1, 1, 0, {(transposeB ? 1 : 0)}";
            return $"{{ .reg .pred p; setp.ne.b32 p, %{accumulate}, 0; wgmma.mma_async.sync.aligned.m64n{n}k16.f32.{HalfSuffix(activation)}.{HalfSuffix(activation)} "
                + $"{{{d}}}, {aOperand}, %{b}, p, {immediates}; }}";
        }

        /// <summary>Two fp32 values rounded into one register of fp16 or bf16, the first source in the upper half.</summary>
        public static string CvtPack2(DType activation) => "cvt.rn." + HalfSuffix(activation) + "x2.f32 %0, %1, %2;";

        /// <summary>d = a·b + c on a pair of fp16 or bf16 values, rounded once (bf16x2 fma exists from sm_80, mul and sub only from sm_90).</summary>
        public static string Fma2(DType activation) => "fma.rn." + HalfSuffix(activation) + "x2 %0, %1, %2, %3;";

        /// <summary>
        /// The bits of an activation-dtype value exactly 2^mantissa_bits, whose last ulp is 1: OR-ing a 4-bit code into its
        /// mantissa gives magic + code exactly (fp16 1024, bf16 128).
        /// </summary>
        public static (ushort Bits, int Value) Int4Magic(DType activation) => activation == DType.BF16 ? ((ushort)0x4300, 128) : ((ushort)0x6400, 1024);

        /// <summary>
        /// An e4m3 code's exponent and mantissa shifted into an fp16 or bf16 field read as a value 2^bias-gap too small,
        /// and the power of two (as bits) that restores it: fp16 shift 7, ×2^8; bf16 shift 4, ×2^120. Exact for every code.
        /// </summary>
        public static (int Shift, ushort ScaleBits) E4m3Widening(DType activation) => activation == DType.BF16 ? (4, (ushort)0x7B80) : (7, (ushort)0x5C00);

        /// <summary>A 16-bit pattern in both halves of a 32-bit literal, for paired fp16/bf16 arithmetic.</summary>
        public static string Paired(ushort half) => "0x" + (half * 0x10001u).ToString("X8", CultureInfo.InvariantCulture) + "u";

        private static string HalfSuffix(DType activation) => activation switch
        {
            DType.F16 => "f16",
            DType.BF16 => "bf16",
            _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, "tensor-core operands are fp16 or bf16"),
        };

        /// <summary>Compute capability from which the FP8 cvt instructions exist; below it the prelude decodes in software.</summary>
        public const int Fp8CvtArch = 890;
    }
}
