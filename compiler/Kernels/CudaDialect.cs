using System;
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

        /// <summary>Compute capability from which the FP8 cvt instructions exist; below it the prelude decodes in software.</summary>
        public const int Fp8CvtArch = 890;
    }
}
