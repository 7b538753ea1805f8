using System;
using GraphCompiler.Common;
using GraphCompiler.Runtime.Reference;

namespace GraphCompiler.Tests.Reference
{
    /// <summary>fp16 and bf16 codecs: round to nearest even, overflow to infinity, canonical NaN (as PTX cvt.rn). Exact comparisons.</summary>
    public class FloatCodecTests
    {
        private static float FromBits(uint bits) => BitConverter.UInt32BitsToSingle(bits);

        [Theory]
        [InlineData(0x3F808000u, 0x3F80)]   // 1 + 2^-8: halfway between 0x3F80 and 0x3F81, ties to the even 0x3F80
        [InlineData(0x3F818000u, 0x3F82)]   // halfway between 0x3F81 and 0x3F82: up to the even 0x3F82
        [InlineData(0x3F808001u, 0x3F81)]   // just above the halfway point: up
        [InlineData(0x3F807FFFu, 0x3F80)]   // just below: down
        [InlineData(0xBF818000u, 0xBF82)]   // the sign does not change the tie rule
        [InlineData(0x7F7FFFFFu, 0x7F80)]   // float.MaxValue rounds up to +infinity (cvt.rn does not saturate)
        [InlineData(0x00000001u, 0x0000)]   // the smallest float subnormal rounds to zero
        public void Bf16_rounds_to_nearest_even(uint floatBits, int expected)
        {
            Assert.Equal((ushort)expected, Bf16.FromFloat(FromBits(floatBits)));
        }

        [Theory]
        [InlineData(0x7FC00000u)]
        [InlineData(0x7F800001u)]           // a NaN with only a low payload bit: a naive rounding add would give +infinity
        [InlineData(0xFFFFFFFFu)]
        public void Bf16_keeps_NaN_as_the_canonical_NaN(uint nanBits)
        {
            Assert.Equal(Bf16.CanonicalNaN, Bf16.FromFloat(FromBits(nanBits)));
            Assert.True(float.IsNaN(Bf16.ToFloat(Bf16.CanonicalNaN)));
        }

        [Fact]
        public void Bf16_decode_is_the_top_half_of_a_float()
        {
            for (int bits = 0; bits <= 0xFFFF; bits++)
            {
                float f = Bf16.ToFloat((ushort)bits);
                Assert.Equal((uint)bits << 16, BitConverter.SingleToUInt32Bits(f));
                if (!float.IsNaN(f)) Assert.Equal((ushort)bits, Bf16.FromFloat(f));
            }
        }

        [Theory]
        [InlineData(1.0f + 1.0f / 2048, 0x3C00)]        // 1 + 2^-11: halfway between 1 and 1 + 2^-10, ties to even (down)
        [InlineData(1.0f + 3.0f / 2048, 0x3C02)]        // halfway between mantissas 1 and 2: up to the even 2
        [InlineData(65504.0f, 0x7BFF)]                  // largest finite
        [InlineData(65519.0f, 0x7BFF)]                  // below the halfway point to 65536
        [InlineData(65520.0f, 0x7C00)]                  // halfway to 65536: ties to even, which is +infinity
        [InlineData(1.0f / 16777216, 0x0001)]           // 2^-24, the smallest subnormal
        [InlineData(1.0f / 33554432, 0x0000)]           // 2^-25: halfway between 0 and 2^-24, to the even 0
        [InlineData(3.0f / 33554432, 0x0002)]           // 3·2^-25: halfway between 1 and 2 subnormal steps, to 2
        [InlineData(-0.0f, 0x8000)]
        public void Fp16_rounds_to_nearest_even(float value, int expected)
        {
            Assert.Equal((ushort)expected, Fp16.FromFloat(value));
        }

        [Fact]
        public void Fp16_turns_every_NaN_into_the_canonical_NaN_as_cvt_rn_f16_f32()
        {
            Assert.Equal(Fp16.CanonicalNaN, Fp16.FromFloat(float.NaN));
            Assert.Equal(Fp16.CanonicalNaN, Fp16.FromFloat(FromBits(0xFF800001u)));
        }

        [Fact]
        public void Fp16_decode_round_trips_every_non_NaN_code()
        {
            for (int bits = 0; bits <= 0xFFFF; bits++)
            {
                float f = Fp16.ToFloat((ushort)bits);
                if (!float.IsNaN(f)) Assert.Equal((ushort)bits, Fp16.FromFloat(f));
            }
        }

        [Theory]
        [InlineData(DType.F16)]
        [InlineData(DType.BF16)]
        public void Activation_round_is_load_of_store(DType dtype)
        {
            var act = ActivationCodec.For(dtype);
            var random = new Random(7);
            for (int i = 0; i < 10000; i++)
            {
                float x = (float)((random.NextDouble() - 0.5) * Math.Pow(2, random.Next(-20, 20)));
                Assert.Equal(act.Load(act.Store(x)), act.Round(x));
                Assert.Equal(act.Round(x), act.Round(act.Round(x)));
            }
            Assert.Equal(DType.F16, ActivationCodec.F16.DType);
            Assert.Equal(0x3F80, ActivationCodec.BF16.Store(1.0f));
            Assert.Equal(0x3C00, ActivationCodec.F16.Store(1.0f));
        }

        [Fact]
        public void Activation_codec_exists_only_for_fp16_and_bf16()
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => ActivationCodec.For(DType.F32));
        }
    }
}
