using GraphCompiler.Common;

namespace GraphCompiler.Kernels
{
    /// <summary>
    /// Pairs of FP8 codes widened exactly to a 32-bit register of two fp16/bf16 values (every e4m3 and e5m2 value is
    /// representable in both), for kernels that feed FP8 data to fp16/bf16 tensor cores: the GEMM's FP8 weights and
    /// activations, the prefill attention's FP8 KV cache. Needs the TensorCore prelude (gc_prmt, gc_fma2).
    /// </summary>
    public static class Fp8Widening
    {
        /// <summary>widen_e4m3x2(word, pair): codes 2·pair and 2·pair + 1 of a word, the first in the lower half.</summary>
        public static string E4m3x2(DType activation)
        {
            var (shift, widen) = CudaDialect.E4m3Widening(activation);
            bool f16 = activation == DType.F16;
            return $@"// e4m3 → {activation.SpecName()}, exactly (scales are applied to the fp32 sums)" + (f16
                ? ": one cvt per pair from sm_89; below, the" : ". The") + $@" exponent and mantissa
// shifted into place read 2^{(shift == 7 ? 8 : 120)} too small, and one paired multiply by that power of two restores every code.
constexpr gc_u32 kE4m3Restore = {CudaDialect.Paired(widen)};
constexpr gc_u32 kNegZero2 = 0x80008000u;
__device__ __forceinline__ gc_u32 widen_e4m3x2(gc_u32 word, int pair) {{  // codes 2·pair, 2·pair + 1 of the word
" + (f16 ? @"#if __CUDA_ARCH__ >= " + CudaDialect.Fp8CvtArch + @"
    gc_u32 h2;
    const unsigned short codes = (unsigned short)(word >> (16 * pair));
    asm(""" + CudaDialect.CvtF16x2FromE4m3x2 + @""" : ""=r""(h2) : ""h""(codes));
    return h2;
#else
" : "") + $@"    const gc_u32 spread = gc_prmt(word, 0u, pair ? 0x4342u : 0x4140u);  // the two codes in the low bytes of the halves
    return gc_fma2(((spread & 0x007F007Fu) << {shift}) | ((spread & 0x00800080u) << 8), kE4m3Restore, kNegZero2);
" + (f16 ? "#endif\n" : "") + @"}

";
        }

        /// <summary>
        /// widen_e5m2x2(word, pair): an e5m2 code is the upper byte of the fp16 with the same value, so for fp16 one byte
        /// permute places both; bf16 goes through fp32.
        /// </summary>
        public static string E5m2x2(DType activation) => activation == DType.F16
            ? @"// e5m2 → fp16, exactly: each code becomes the upper byte of its half.
__device__ __forceinline__ gc_u32 widen_e5m2x2(gc_u32 word, int pair) {  // codes 2·pair, 2·pair + 1 of the word
    return gc_prmt(word, 0u, pair ? 0x3424u : 0x1404u);
}

"
            : @"// e5m2 → bf16, exactly, through fp32.
__device__ __forceinline__ gc_u32 widen_e5m2x2(gc_u32 word, int pair) {  // codes 2·pair, 2·pair + 1 of the word
    const gc_u32 lo = gc_f32_to_act(gc_e5m2_to_f32((gc_e5m2)(word >> (16 * pair)))), hi = gc_f32_to_act(gc_e5m2_to_f32((gc_e5m2)(word >> (16 * pair + 8))));
    return lo | (hi << 16);
}

";
    }
}
