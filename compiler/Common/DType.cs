using System;

namespace GraphCompiler.Common
{
    /// <summary>Element types of tensors in checkpoints, on the device and in kernels.</summary>
    public enum DType
    {
        F16,
        BF16,
        F32,
        I32,
        U8,
        F8E4M3,
        F8E5M2,
    }

    public static class DTypeInfo
    {
        public static int SizeInBytes(this DType dtype) => dtype switch
        {
            DType.F16 => 2,
            DType.BF16 => 2,
            DType.F32 => 4,
            DType.I32 => 4,
            DType.U8 => 1,
            DType.F8E4M3 => 1,
            DType.F8E5M2 => 1,
            _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
        };

        /// <summary>The dtype name safetensors uses in its header.</summary>
        public static string SafetensorsName(this DType dtype) => dtype switch
        {
            DType.F16 => "F16",
            DType.BF16 => "BF16",
            DType.F32 => "F32",
            DType.I32 => "I32",
            DType.U8 => "U8",
            DType.F8E4M3 => "F8_E4M3",
            DType.F8E5M2 => "F8_E5M2",
            _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
        };

        /// <summary>The spelling used in specs.</summary>
        public static string SpecName(this DType dtype) => dtype switch
        {
            DType.F16 => "fp16",
            DType.BF16 => "bf16",
            DType.F32 => "fp32",
            DType.I32 => "int32",
            DType.U8 => "uint8",
            DType.F8E4M3 => "fp8_e4m3",
            DType.F8E5M2 => "fp8_e5m2",
            _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
        };
    }
}
