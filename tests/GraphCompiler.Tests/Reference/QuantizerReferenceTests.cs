using System;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Graph;
using GraphCompiler.Runtime.Reference;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests.Reference
{
    /// <summary>The round-to-nearest INT4 group quantizer (hand-computed groups, an error bound) and FP8 weight dequantization.</summary>
    public class QuantizerReferenceTests
    {
        /// <summary>w [8, 8] with <paramref name="row"/> as output channel 0 and zeros elsewhere: one group of 8.</summary>
        private static float[] Channel0(params float[] row) => row.Concat(new float[56]).ToArray();

        private static int[] Column0(int[,] codes) => Enumerable.Range(0, 8).Select(k => codes[k, 0]).ToArray();

        [Fact]
        public void Symmetric_scale_is_max_abs_over_7_and_zero_is_8()
        {
            // s = fp16(1.4 / 7) = 0.199951171875; w/s = −7.0017, −3.5009, 0, 1.0002, 3.5009, 5.2513, 7.0017, 1.7504
            // → round + 8 = 1, 4, 8, 9, 12, 13, 15, 10.
            var r = QuantizedPacking.QuantizeInt4Rtn(Channel0(-1.4f, -0.7f, 0, 0.2f, 0.7f, 1.05f, 1.4f, 0.35f), 8, 8, 8, symmetric: true);
            Assert.Equal(0.199951171875f, Fp16.ToFloat(r.Scales[0, 0]));
            Assert.Equal(8, r.Zeros[0, 0]);
            Assert.Equal(new[] { 1, 4, 8, 9, 12, 13, 15, 10 }, Column0(r.Codes));
            Assert.Equal(8, r.Codes[0, 1]);                          // an all-zero channel: scale 1, codes 8
            Assert.Equal(1.0f, Fp16.ToFloat(r.Scales[0, 1]));
        }

        [Fact]
        public void Asymmetric_scale_is_range_over_15_and_zero_is_round_of_minus_min_over_scale()
        {
            // s = fp16(3 / 15) = 0.199951171875; z = round(1 / s) = round(5.0012) = 5;
            // w/s = −5.0012, −2.5006, 0, 1.2503, 2.5006, 5.0012, 7.5018, 10.0024 → round + 5 = 0, 2, 5, 6, 8, 10, 13, 15.
            var r = QuantizedPacking.QuantizeInt4Rtn(Channel0(-1, -0.5f, 0, 0.25f, 0.5f, 1, 1.5f, 2), 8, 8, 8, symmetric: false);
            Assert.Equal(0.199951171875f, Fp16.ToFloat(r.Scales[0, 0]));
            Assert.Equal(5, r.Zeros[0, 0]);
            Assert.Equal(new[] { 0, 2, 5, 6, 8, 10, 13, 15 }, Column0(r.Codes));
        }

        [Fact]
        public void A_constant_asymmetric_group_keeps_its_value()
        {
            var r = QuantizedPacking.QuantizeInt4Rtn(Channel0(-0.3f, -0.3f, -0.3f, -0.3f, -0.3f, -0.3f, -0.3f, -0.3f), 8, 8, 8, symmetric: false);
            float s = Fp16.ToFloat(r.Scales[0, 0]);
            Assert.Equal(15, r.Zeros[0, 0]);
            Assert.All(Column0(r.Codes), q => Assert.Equal(-0.3f, (q - 15) * s, 3));   // fp16 scale: within 1e-3
        }

        [Theory]
        [InlineData(true)]
        [InlineData(false)]
        public void Dequantized_weights_are_within_half_a_step_of_the_originals(bool symmetric)
        {
            const int k = 128, n = 16, g = 32;
            var random = new Random(21);
            var w = Enumerable.Range(0, k * n).Select(_ => (float)(random.NextDouble() * 2 - 1) * 0.1f).ToArray();
            var r = QuantizedPacking.QuantizeInt4Rtn(w, k, n, g, symmetric);
            for (int col = 0; col < n; col++)
                for (int row = 0; row < k; row++)
                {
                    float s = Fp16.ToFloat(r.Scales[row / g, col]);
                    float back = (r.Codes[row, col] - r.Zeros[row / g, col]) * s;
                    // Half a step, plus the float rounding of w/s and of the product (relative 1e-6).
                    Assert.True(Math.Abs(back - w[col * k + row]) <= s / 2 * (1 + 1e-5) + 1e-6f * Math.Abs(w[col * k + row]),
                        $"w[{col}, {row}] = {w[col * k + row]}, dequantized {back}, s {s}");
                }
        }

        [Fact]
        public void Quantized_groups_pack_and_dequantize_through_awq()
        {
            const int k = 64, n = 8, g = 32;
            var random = new Random(4);
            var w = Enumerable.Range(0, k * n).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
            var r = QuantizedPacking.QuantizeInt4Rtn(w, k, n, g, symmetric: false);
            var packed = QuantizedPacking.PackAwq(r.Codes, r.Zeros, r.Scales, g);
            var dense = new ushort[n * k];
            ElementwiseReference.DequantAwq(new WeightDequantKernel("awq", k, n, new QuantScheme(QuantMethod.Int4, Int4Format.Awq, g), DType.F16),
                packed.QWeight, packed.QZeros, packed.Scales, dense);
            for (int col = 0; col < n; col++)
                for (int row = 0; row < k; row++)
                    Assert.Equal(Fp16.FromFloat((r.Codes[row, col] - r.Zeros[row / g, col]) * Fp16.ToFloat(r.Scales[row / g, col])), dense[col * k + row]);
        }

        [Theory]
        [InlineData(ScaleGranularity.PerChannel)]
        [InlineData(ScaleGranularity.PerTensor)]
        public void Fp8_weights_dequantize_as_code_times_scale_rounded_once(ScaleGranularity granularity)
        {
            const int k = 16, n = 2;
            var codes = Enumerable.Range(0, k * n).Select(i => (byte)(i * 7 + 3)).ToArray();
            codes[5] = 0x7F;                                         // NaN stays NaN
            codes[6] = 0x7E;                                         // 448, channel 0 either way
            var scales = new[] { 0.0123f, -3.5f };
            var dense = new ushort[k * n];
            var kernel = new WeightDequantKernel("fp8", k, n, new QuantScheme(QuantMethod.Fp8E4M3, WeightScale: granularity), DType.BF16);
            ElementwiseReference.DequantFp8(kernel, codes, scales, dense);
            for (int i = 0; i < k * n; i++)
            {
                float scale = scales[granularity == ScaleGranularity.PerChannel ? i / k : 0];
                Assert.Equal(Bf16.FromFloat(Fp8E4M3.ToFloat(codes[i]) * scale), dense[i]);
            }
            Assert.Equal(Bf16.CanonicalNaN, dense[5]);
            Assert.Equal(Bf16.FromFloat(448.0f * 0.0123f), dense[6]);
        }
    }
}
