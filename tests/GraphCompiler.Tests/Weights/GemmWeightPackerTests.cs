using System;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Kernels.Gemm;
using GraphCompiler.Runtime.Reference;
using GraphCompiler.Runtime.Weights;

namespace GraphCompiler.Tests.Weights
{
    /// <summary>
    /// The one-time repack into fragment order: checkpoint tensors made by the reference packers (written from the formats'
    /// descriptions) unpack, repack and come back exactly, scales and zeros land where the kernel reads them, and
    /// inconsistent checkpoints are refused with the fix.
    /// </summary>
    public class GemmWeightPackerTests
    {
        private static int[,] RandomCodes(Random random, int rows, int columns)
        {
            var codes = new int[rows, columns];
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < columns; c++) codes[r, c] = random.Next(16);
            return codes;
        }

        private static ushort[,] RandomScales(Random random, int groups, int n)
        {
            var scales = new ushort[groups, n];
            for (int g = 0; g < groups; g++)
                for (int c = 0; c < n; c++) scales[g, c] = Fp16.FromFloat(0.001f + 0.01f * (float)random.NextDouble());
            return scales;
        }

        [Theory]
        [InlineData(false, false)]
        [InlineData(true, false)]
        [InlineData(false, true)]
        public void Gptq_checkpoint_codes_survive_unpack_repack_and_back(bool actOrder, bool interleave)
        {
            const int k = 256, n = 192, g = 64;
            var random = new Random(7);
            var codes = RandomCodes(random, k, n);
            var zeros = RandomCodes(random, k / g, n);
            var scales = RandomScales(random, k / g, n);
            // Act-order: rows belong to groups by a permutation, as GPTQ's desc_act leaves them.
            var order = actOrder ? Enumerable.Range(0, k).OrderBy(_ => random.Next()).ToArray() : Enumerable.Range(0, k).ToArray();
            var gIdx = new int[k];
            for (int i = 0; i < k; i++) gIdx[order[i]] = i / g;
            var checkpoint = QuantizedPacking.PackGptq(codes, zeros, scales, g, gIdx);
            var plain = QuantizedPacking.UnpackGptq(checkpoint.QWeight, checkpoint.QZeros, checkpoint.Scales, k, n, k / g);

            var device = GemmWeightPacker.PackInt4(plain, checkpoint.GIdx, g, symmetric: false, actOrder, DType.F16, k, n, interleave);
            Assert.Equal(WeightFragments.Bytes(k, n, 4), device.Weight.LongLength);
            var perm = device.Perm ?? Enumerable.Range(0, k).ToArray();
            Assert.Equal(actOrder, device.Perm != null);
            var back = GemmWeightPacker.UnpackElements(device.Weight, k, n, 4, interleave);
            for (int r = 0; r < k; r++)
            {
                Assert.Equal(r / g, gIdx[perm[r]]);   // device rows run group by group
                for (int c = 0; c < n; c++) Assert.Equal(codes[perm[r], c], back[(long)c * k + r]);
            }
        }

        [Fact]
        public void Awq_checkpoint_codes_survive_unpack_repack_and_back()
        {
            const int k = 128, n = 128, g = 32;
            var random = new Random(11);
            var codes = RandomCodes(random, k, n);
            var checkpoint = QuantizedPacking.PackAwq(codes, RandomCodes(random, k / g, n), RandomScales(random, k / g, n), g);
            var plain = QuantizedPacking.UnpackAwq(checkpoint.QWeight, checkpoint.QZeros, checkpoint.Scales, k, n, k / g);
            var device = GemmWeightPacker.PackInt4(plain, null, g, symmetric: false, actOrder: false, DType.BF16, k, n, interleaveGateUp: false);
            var back = GemmWeightPacker.UnpackElements(device.Weight, k, n, 4, interleaveGateUp: false);
            for (int r = 0; r < k; r++)
                for (int c = 0; c < n; c++) Assert.Equal(codes[r, c], back[(long)c * k + r]);
        }

        [Fact]
        public void Scales_and_negated_zeros_are_in_the_activation_dtype_where_the_lane_reads_them()
        {
            const int k = 64, n = 100, g = 32;   // N padded to 128
            var random = new Random(3);
            var zeros = RandomCodes(random, k / g, n);
            var scales = RandomScales(random, k / g, n);
            var device = GemmWeightPacker.PackInt4(new Int4Unpacked(RandomCodes(random, k, n), zeros, scales), null, g, false, false, DType.BF16, k, n, false);
            Assert.Equal(k / g * 128, device.Scales!.Length);
            for (int gi = 0; gi < k / g; gi++)
                for (int c = 0; c < n; c++)
                {
                    int at = gi * 128 + WeightFragments.ScalePosition(c);
                    Assert.Equal(Bf16.FromFloat(Fp16.ToFloat(scales[gi, c])), device.Scales[at]);
                    Assert.Equal(Bf16.FromFloat(-(128 + zeros[gi, c])), device.Zeros![at]);   // bf16 magic 128
                }
            // Padding columns: zero weights, zero scales, the zero point 0.
            Assert.Equal(Bf16.FromFloat(-128), device.Zeros![WeightFragments.ScalePosition(127)]);
        }

        [Fact]
        public void Dense_and_fp8_weights_round_trip_and_fp8_scales_follow_the_device_columns()
        {
            const int k = 32, n = 128;
            var random = new Random(5);
            var dense = Enumerable.Range(0, k * n).Select(_ => (ushort)random.Next(65536)).ToArray();
            Assert.Equal(dense, GemmWeightPacker.UnpackElements(GemmWeightPacker.PackDense(dense, k, n, true).Weight, k, n, 16, true));
            var codes = Enumerable.Range(0, k * n).Select(_ => (byte)random.Next(256)).ToArray();
            var channel = Enumerable.Range(0, n).Select(c => (float)c).ToArray();
            var fp8 = GemmWeightPacker.PackFp8(codes, channel, k, n, interleaveGateUp: true);
            Assert.Equal(codes.Select(c => (ushort)c), GemmWeightPacker.UnpackElements(fp8.Weight, k, n, 8, true));
            Assert.Equal(Enumerable.Range(0, n).Select(d => (float)WeightFragments.SourceColumn(d, n, true)), fp8.WeightScale);
        }

        [Fact]
        public void A_symmetric_scheme_refuses_a_zero_point_other_than_8()
        {
            var zeros = new int[1, 64];
            zeros[0, 5] = 3;
            for (int c = 0; c < 64; c++) if (c != 5) zeros[0, c] = 8;
            var e = Assert.Throws<ArgumentException>(() => GemmWeightPacker.PackInt4(
                new Int4Unpacked(new int[32, 64], zeros, new ushort[1, 64]), null, 32, symmetric: true, actOrder: false, DType.F16, 32, 64, false));
            Assert.Contains("column 5 has 3", e.Message);
            Assert.Contains("symmetric: false", e.Message);
        }

        [Fact]
        public void A_permuted_g_idx_without_desc_act_is_refused_with_the_fix()
        {
            var gIdx = Enumerable.Range(0, 64).Select(r => (r + 1) % 64 / 32).ToArray();
            var e = Assert.Throws<ArgumentException>(() => GemmWeightPacker.RowOrder(gIdx, 32, 64, actOrder: false));
            Assert.Contains("desc_act: true", e.Message);
            var uneven = Enumerable.Range(0, 64).Select(r => r < 40 ? 0 : 1).ToArray();
            Assert.Contains("group_size", Assert.Throws<ArgumentException>(() => GemmWeightPacker.RowOrder(uneven, 32, 64, actOrder: true)).Message);
        }
    }
}
