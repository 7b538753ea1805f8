using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using GraphCompiler.Common;
using GraphCompiler.Runtime.Reference;

namespace GraphCompiler.Runtime.Cpu
{
    /// <summary>
    /// fp16/bf16 bits to float32 a vector at a time: the same floats as <see cref="ActivationCodec.Load"/> for every bit
    /// pattern (a NaN stays a NaN), several times faster than element by element, for the GEMM inputs and the KV reads.
    /// </summary>
    internal static class Widening
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void Load(DType dtype, ReadOnlySpan<ushort> src, Span<float> dst)
        {
            var act = ActivationCodec.For(dtype);
            var bits = MemoryMarshal.Cast<ushort, Vector<ushort>>(src);
            var lanes = MemoryMarshal.Cast<float, Vector<float>>(dst);
            bool bf16 = dtype == DType.BF16;
            for (int i = 0; i < bits.Length; i++)
            {
                Vector.Widen(bits[i], out var lo, out var hi);
                lanes[2 * i] = bf16 ? Vector.AsVectorSingle(Vector.ShiftLeft(lo, 16)) : Fp16(lo);
                lanes[2 * i + 1] = bf16 ? Vector.AsVectorSingle(Vector.ShiftLeft(hi, 16)) : Fp16(hi);
            }
            for (int i = bits.Length * Vector<ushort>.Count; i < src.Length; i++) dst[i] = act.Load(src[i]);
        }

        /// <summary>binary16 → binary32 by moving the fields: normal numbers rebias the exponent (+112), infinities and NaNs
        /// keep an all-ones exponent, subnormals are their mantissa · 2^-24 (exact in float).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector<float> Fp16(Vector<uint> h)
        {
            var magnitude = h & new Vector<uint>(0x7FFFu);
            var sign = Vector.ShiftLeft(h & new Vector<uint>(0x8000u), 16);
            var shifted = Vector.ShiftLeft(magnitude, 13);
            var normal = shifted + new Vector<uint>(0x38000000u);
            var special = shifted | new Vector<uint>(0x7F800000u);
            var subnormal = Vector.AsVectorUInt32(Vector.ConvertToSingle(Vector.AsVectorInt32(magnitude)) * new Vector<float>(1.0f / 16777216.0f));
            var result = Vector.ConditionalSelect(Vector.GreaterThanOrEqual(magnitude, new Vector<uint>(0x7C00u)), special,
                Vector.ConditionalSelect(Vector.LessThan(magnitude, new Vector<uint>(0x0400u)), subnormal, normal));
            return Vector.AsVectorSingle(result | sign);
        }
    }
}
