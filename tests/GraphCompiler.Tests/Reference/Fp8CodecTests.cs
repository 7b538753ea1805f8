using System;
using GraphCompiler.Runtime.Reference;

namespace GraphCompiler.Tests.Reference
{
    /// <summary>
    /// FP8 codecs against values computed by hand from the formats (e4m3fn: bias 7, subnormals m·2^-9, max 448, NaN
    /// S.1111.111; e5m2: bias 15, subnormals m·2^-16, max 57344, infinities and NaNs as fp16). All comparisons exact.
    /// </summary>
    public class Fp8CodecTests
    {
        [Theory]
        [InlineData(1.0f, 0x38)]                 // 2^0: exponent 0 + 7 = 0111, mantissa 000
        [InlineData(-1.0f, 0xB8)]
        [InlineData(0.0f, 0x00)]
        [InlineData(-0.0f, 0x80)]
        [InlineData(448.0f, 0x7E)]               // 1.75·2^8, the largest finite
        [InlineData(-448.0f, 0xFE)]
        [InlineData(500.0f, 0x7E)]               // beyond the range: saturates (satfinite), never NaN
        [InlineData(464.0f, 0x7E)]               // halfway from 448 to the NaN slot 480: saturates
        [InlineData(1e9f, 0x7E)]
        [InlineData(float.PositiveInfinity, 0x7E)]
        [InlineData(float.NegativeInfinity, 0xFE)]
        [InlineData(1.0f / 512, 0x01)]           // 2^-9, the smallest subnormal
        [InlineData(7.0f / 512, 0x07)]           // the largest subnormal
        [InlineData(1.0f / 64, 0x08)]            // 2^-6, the smallest normal
        [InlineData(0.1f, 0x1D)]                 // 1.6·2^-4: mantissa 0.6·8 = 4.8 → 5, exponent 3: 0.1015625
        [InlineData(1.0625f, 0x38)]              // tie between 1.0 (mantissa 0) and 1.125 (1): to the even 1.0
        [InlineData(1.1875f, 0x3A)]              // tie between 1.125 (1) and 1.25 (2): to the even 1.25
        [InlineData(400.0f, 0x7C)]               // tie between 384 (mantissa 4) and 416 (5): to 384
        [InlineData(432.0f, 0x7E)]               // tie between 416 (5) and 448 (6): to 448
        [InlineData(1.0f / 1024, 0x00)]          // half a subnormal step: tie to the even 0
        [InlineData(3.0f / 1024, 0x02)]          // 1.5 steps: tie to 2
        [InlineData(13.0f / 1024, 0x06)]         // 6.5 steps: tie to 6
        [InlineData(15.0f / 1024, 0x08)]         // 7.5 steps: tie to 8, the smallest normal
        [InlineData(1.0f / 4096, 0x00)]          // below half a step: zero
        [InlineData(-1.0f / 4096, 0x80)]         // keeps its sign
        public void E4m3_encodes_hand_computed_values(float value, int expected)
        {
            Assert.Equal((byte)expected, Fp8E4M3.FromFloat(value));
        }

        [Fact]
        public void E4m3_encodes_just_past_a_tie_away_from_even()
        {
            Assert.Equal(0x39, Fp8E4M3.FromFloat(MathF.BitIncrement(1.0625f)));
            Assert.Equal(0x39, Fp8E4M3.FromFloat(MathF.BitDecrement(1.1875f)));
            Assert.Equal(0x01, Fp8E4M3.FromFloat(MathF.BitIncrement(1.0f / 1024)));
        }

        [Fact]
        public void E4m3_encodes_every_NaN_as_0x7F_whatever_its_sign_as_the_hardware_cvt()
        {
            Assert.Equal(0x7F, Fp8E4M3.FromFloat(float.NaN));
            Assert.Equal(0x7F, Fp8E4M3.FromFloat(BitConverter.UInt32BitsToSingle(0xFFC00000u)));
            Assert.Equal(0x7F, Fp8E4M3.FromFloat(BitConverter.UInt32BitsToSingle(0x7F800001u)));
        }

        [Fact]
        public void E4m3_decodes_every_code_to_its_value_and_re_encodes_it()
        {
            for (int code = 0; code < 256; code++)
            {
                float f = Fp8E4M3.ToFloat((byte)code);
                int sign = code >> 7, exponent = (code >> 3) & 0xF, mantissa = code & 0x7;
                if (exponent == 0xF && mantissa == 0x7) { Assert.True(float.IsNaN(f), $"0x{code:X2}"); continue; }
                double magnitude = exponent == 0 ? mantissa * Math.Pow(2, -9) : (1 + mantissa / 8.0) * Math.Pow(2, exponent - 7);
                Assert.Equal(sign == 1 ? -magnitude : magnitude, (double)f);
                Assert.Equal(sign == 1, float.IsNegative(f));   // -0 for 0x80
                Assert.Equal((byte)code, Fp8E4M3.FromFloat(f));
            }
            Assert.Equal(448.0f, Fp8E4M3.ToFloat(0x7E));
        }

        [Fact]
        public void E4m3_codes_are_monotonic_in_value()
        {
            for (int code = 1; code <= 0x7E; code++)
                Assert.True(Fp8E4M3.ToFloat((byte)code) > Fp8E4M3.ToFloat((byte)(code - 1)), $"0x{code:X2}");
        }

        [Theory]
        [InlineData(1.0f, 0x3C)]                 // exponent 0 + 15 = 01111, mantissa 00
        [InlineData(-1.0f, 0xBC)]
        [InlineData(-0.0f, 0x80)]
        [InlineData(57344.0f, 0x7B)]             // 1.75·2^15, the largest finite
        [InlineData(-57344.0f, 0xFB)]
        [InlineData(61440.0f, 0x7B)]             // halfway to infinity: saturates
        [InlineData(1e6f, 0x7B)]
        [InlineData(float.PositiveInfinity, 0x7B)] // satfinite: infinity saturates too
        [InlineData(float.NegativeInfinity, 0xFB)]
        [InlineData(1.0f / 65536, 0x01)]         // 2^-16, the smallest subnormal
        [InlineData(1.0f / 16384, 0x04)]         // 2^-14, the smallest normal
        [InlineData(0.1f, 0x2E)]                 // 1.6·2^-4: mantissa 0.6·4 = 2.4 → 2, exponent 11: 0.09375
        [InlineData(1.125f, 0x3C)]               // tie between 1.0 (mantissa 0) and 1.25 (1): to 1.0
        [InlineData(1.375f, 0x3E)]               // tie between 1.25 (1) and 1.5 (2): to 1.5
        [InlineData(53248.0f, 0x7A)]             // tie between 49152 (2) and 57344 (3): to 49152
        [InlineData(1.0f / 131072, 0x00)]        // half a subnormal step: to the even 0
        [InlineData(3.0f / 131072, 0x02)]        // 1.5 steps: to 2
        [InlineData(7.0f / 131072, 0x04)]        // 3.5 steps: to 4, the smallest normal
        public void E5m2_encodes_hand_computed_values(float value, int expected)
        {
            Assert.Equal((byte)expected, Fp8E5M2.FromFloat(value));
        }

        [Fact]
        public void E5m2_encodes_every_NaN_as_0x7F()
        {
            Assert.Equal(0x7F, Fp8E5M2.FromFloat(float.NaN));
            Assert.Equal(0x7F, Fp8E5M2.FromFloat(BitConverter.UInt32BitsToSingle(0xFFC00000u)));
        }

        [Fact]
        public void E5m2_decodes_every_code_to_its_value_and_re_encodes_the_finite_ones()
        {
            for (int code = 0; code < 256; code++)
            {
                float f = Fp8E5M2.ToFloat((byte)code);
                int sign = code >> 7, exponent = (code >> 2) & 0x1F, mantissa = code & 0x3;
                if (exponent == 0x1F)
                {
                    if (mantissa == 0)
                    {
                        Assert.Equal(sign == 1 ? float.NegativeInfinity : float.PositiveInfinity, f);
                        Assert.Equal((byte)(sign << 7 | 0x7B), Fp8E5M2.FromFloat(f));   // no infinity out of satfinite
                    }
                    else
                        Assert.True(float.IsNaN(f), $"0x{code:X2}");
                    continue;
                }
                double magnitude = exponent == 0 ? mantissa * Math.Pow(2, -16) : (1 + mantissa / 4.0) * Math.Pow(2, exponent - 15);
                Assert.Equal(sign == 1 ? -magnitude : magnitude, (double)f);
                Assert.Equal((byte)code, Fp8E5M2.FromFloat(f));
            }
        }

        [Fact]
        public void E5m2_codes_are_monotonic_in_value()
        {
            for (int code = 1; code <= 0x7B; code++)
                Assert.True(Fp8E5M2.ToFloat((byte)code) > Fp8E5M2.ToFloat((byte)(code - 1)), $"0x{code:X2}");
        }
    }
}
