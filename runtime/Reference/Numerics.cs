using System;
using GraphCompiler.Common;

namespace GraphCompiler.Runtime.Reference
{
    // Bit-exact CPU twins of the conversions in KernelPrelude. Every encoder here was checked against an H100's PTX
    // cvt.rn(.satfinite) over all 2^32 float bit patterns (see HardwareCodecChecksumTests); float arithmetic in
    // .NET is plain IEEE binary32 with no contraction, so a float expression evaluates as the same CUDA expression does.

    /// <summary>IEEE binary16 (fp16) bits, as the prelude's cvt.f32.f16 / cvt.rn.f16.f32.</summary>
    public static class Fp16
    {
        /// <summary>The canonical NaN cvt.rn.f16.f32 produces for any NaN input (System.Half would keep the payload).</summary>
        public const ushort CanonicalNaN = 0x7FFF;

        public static float ToFloat(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

        /// <summary>Round to nearest even; overflow goes to ±infinity (no saturation), as cvt.rn.f16.f32.</summary>
        public static ushort FromFloat(float value) =>
            float.IsNaN(value) ? CanonicalNaN : BitConverter.HalfToUInt16Bits((Half)value);
    }

    /// <summary>bfloat16 bits: the top half of a binary32, as the prelude's shift / cvt.rn.bf16.f32.</summary>
    public static class Bf16
    {
        /// <summary>The canonical NaN cvt.rn.bf16.f32 produces for any NaN input.</summary>
        public const ushort CanonicalNaN = 0x7FFF;

        public static float ToFloat(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

        /// <summary>Round to nearest even; overflow goes to ±infinity. NaN is tested first: the rounding add would turn a
        /// NaN with only low payload bits into infinity.</summary>
        public static ushort FromFloat(float value)
        {
            if (float.IsNaN(value)) return CanonicalNaN;
            uint bits = BitConverter.SingleToUInt32Bits(value);
            bits += 0x7FFFu + ((bits >> 16) & 1u);
            return (ushort)(bits >> 16);
        }
    }

    /// <summary>
    /// FP8 e4m3fn (bias 7, no infinity, max ±448, NaN = S.1111.111), as the prelude's gc_e4m3_to_f32 / gc_f32_to_e4m3.
    /// </summary>
    public static class Fp8E4M3
    {
        public const float MaxFinite = 448.0f;
        public const byte MaxFiniteCode = 0x7E;

        /// <summary>The only NaN the encoder produces, as cvt.rn.satfinite.e4m3x2.f32, which drops a NaN's sign; the
        /// prelude's software encoder (below sm_89) keeps the sign and writes 0xFF for a negative NaN.</summary>
        public const byte NaN = 0x7F;

        /// <summary>Exact: every code is a float. 0x7F and 0xFF decode to NaN.</summary>
        public static float ToFloat(byte code)
        {
            uint sign = (uint)(code & 0x80) << 24, exponent = (uint)(code >> 3) & 0xFu, mantissa = code & 0x7u;
            if (exponent == 0xF && mantissa == 0x7) return BitConverter.UInt32BitsToSingle(0x7FC00000u | sign);
            float magnitude = exponent == 0
                ? mantissa * 0.001953125f                                   // subnormal: m · 2^-9
                : BitConverter.UInt32BitsToSingle(((exponent + 120u) << 23) | (mantissa << 20));
            return BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(magnitude) | sign);
        }

        /// <summary>Round to nearest even, saturating to ±448 (infinities too), NaN → 0x7F.</summary>
        public static byte FromFloat(float value)
        {
            uint sign = (BitConverter.SingleToUInt32Bits(value) >> 24) & 0x80u;
            float a = MathF.Abs(value);
            if (float.IsNaN(a)) return NaN;
            if (a >= MaxFinite) return (byte)(sign | MaxFiniteCode);
            // Below 2^-6 the grid is uniform (2^-9); a·512 is exact, so rounding it is rounding to the grid. A value
            // that rounds up to 8 lands on the smallest normal, whose code is 8 too.
            if (a < 0.015625f) return (byte)(sign | (uint)MathF.Round(a * 512.0f, MidpointRounding.ToEven));
            uint bits = BitConverter.SingleToUInt32Bits(a);
            bits += 0x7FFFFu + ((bits >> 20) & 1u);                        // keep 3 mantissa bits, ties to even
            uint code = (((bits >> 23) - 120u) << 3) | ((bits >> 20) & 0x7u);
            return (byte)(sign | Math.Min(code, MaxFiniteCode));           // as the prelude; unreachable once a < 448
        }
    }

    /// <summary>FP8 e5m2 (bias 15, the top byte of a binary16; max finite ±57344), as the prelude's e5m2 codecs.</summary>
    public static class Fp8E5M2
    {
        public const float MaxFinite = 57344.0f;
        public const byte MaxFiniteCode = 0x7B;

        /// <summary>The only NaN the encoder produces (hardware drops the sign; the software path keeps it: 0xFF).</summary>
        public const byte NaN = 0x7F;

        /// <summary>Exact: the code is the top byte of an fp16. 0x7C/0xFC are ±infinity, 0x7D–0x7F/0xFD–0xFF NaN.</summary>
        public static float ToFloat(byte code) => Fp16.ToFloat((ushort)(code << 8));

        /// <summary>Round to nearest even, saturating to ±57344 (infinities too), NaN → 0x7F.</summary>
        public static byte FromFloat(float value)
        {
            uint sign = (BitConverter.SingleToUInt32Bits(value) >> 24) & 0x80u;
            float a = MathF.Abs(value);
            if (float.IsNaN(a)) return NaN;
            if (a >= MaxFinite) return (byte)(sign | MaxFiniteCode);
            if (a < 6.103515625e-05f) return (byte)(sign | (uint)MathF.Round(a * 65536.0f, MidpointRounding.ToEven)); // 2^-16 grid
            uint bits = BitConverter.SingleToUInt32Bits(a);
            bits += 0xFFFFFu + ((bits >> 21) & 1u);                        // keep 2 mantissa bits, ties to even
            uint code = (((bits >> 23) - 112u) << 2) | ((bits >> 21) & 0x3u);
            return (byte)(sign | Math.Min(code, MaxFiniteCode));
        }
    }

    /// <summary>
    /// The model's activation dtype (fp16 or bf16), as the prelude's gc_act_to_f32 / gc_f32_to_act / gc_round_act.
    /// Round(x) = Load(Store(x)) is how a PyTorch op in that dtype stores an fp32 intermediate.
    /// </summary>
    public sealed class ActivationCodec
    {
        public static readonly ActivationCodec F16 = new ActivationCodec(DType.F16);
        public static readonly ActivationCodec BF16 = new ActivationCodec(DType.BF16);

        private readonly bool _bf16;

        private ActivationCodec(DType dtype)
        {
            DType = dtype;
            _bf16 = dtype == DType.BF16;
        }

        public DType DType { get; }

        public static ActivationCodec For(DType dtype) => dtype switch
        {
            DType.F16 => F16,
            DType.BF16 => BF16,
            _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "activations are fp16 or bf16"),
        };

        public float Load(ushort bits) => _bf16 ? Bf16.ToFloat(bits) : Fp16.ToFloat(bits);

        public ushort Store(float value) => _bf16 ? Bf16.FromFloat(value) : Fp16.FromFloat(value);

        public float Round(float value) => Load(Store(value));
    }
}
