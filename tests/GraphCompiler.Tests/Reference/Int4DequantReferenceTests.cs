using System;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Graph;
using GraphCompiler.Runtime.Reference;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests.Reference
{
    /// <summary>
    /// The INT4 packers' bit layouts, pinned on hand-packed words, and pack → dequantize round trips that must equal the
    /// direct Store((q − z) · s) exactly, including GPTQ act-order (a shuffled g_idx).
    /// </summary>
    public class Int4DequantReferenceTests
    {
        private const int K = 64, N = 16, G = 16, Groups = K / G;

        private static WeightDequantKernel Kernel(Int4Format format, bool descAct = false, DType output = DType.F16) =>
            new WeightDequantKernel("dequant_test", K, N, new QuantScheme(QuantMethod.Int4, format, G, false, descAct), output);

        /// <summary>Random codes, zeros in [minZero, maxZero] and fp16 scales of either sign.</summary>
        private static (int[,] Q, int[,] Z, ushort[,] S) RandomInt4(int seed, int minZero, int maxZero)
        {
            var random = new Random(seed);
            var q = new int[K, N];
            var z = new int[Groups, N];
            var s = new ushort[Groups, N];
            for (int k = 0; k < K; k++) for (int n = 0; n < N; n++) q[k, n] = random.Next(16);
            for (int g = 0; g < Groups; g++)
                for (int n = 0; n < N; n++)
                {
                    z[g, n] = random.Next(minZero, maxZero + 1);
                    s[g, n] = Fp16.FromFloat((float)((random.NextDouble() - 0.3) * 0.05));
                }
            return (q, z, s);
        }

        /// <summary>out[n, k] = Store((q[k, n] − z[group(k), n]) · s[group(k), n]) in float: the formats' definition.</summary>
        private static ushort[] Direct(int[,] q, int[,] z, ushort[,] s, int[] group, ActivationCodec act)
        {
            var dense = new ushort[N * K];
            for (int n = 0; n < N; n++)
                for (int k = 0; k < K; k++)
                    dense[n * K + k] = act.Store((q[k, n] - z[group[k], n]) * Fp16.ToFloat(s[group[k], n]));
            return dense;
        }

        private static int[] ActOrder(int seed)
        {
            var random = new Random(seed);
            return QuantizedPacking.DefaultGroupIndex(K, G).OrderBy(_ => random.Next()).ToArray();
        }

        [Fact]
        public void Gptq_packs_input_rows_into_nibbles_and_stores_zero_minus_one()
        {
            var q = new int[8, 8];
            var z = new int[1, 8];
            for (int i = 0; i < 8; i++) { q[i, 0] = i; q[0, i] = i == 0 ? 0 : 15; z[0, i] = i + 1; }
            var packed = QuantizedPacking.PackGptq(q, z, new ushort[1, 8], 8);
            Assert.Equal(0x76543210u, packed.QWeight[0]);        // column 0: row j in bits 4j..4j+3
            Assert.Equal(0x0000000Fu, packed.QWeight[1]);        // column 1: only row 0 is set
            Assert.Equal(0x76543210u, packed.QZeros[0]);         // column j's zero j + 1, stored as j
            Assert.Equal(new int[8], packed.GIdx);
        }

        [Fact]
        public void Awq_packs_columns_in_the_interleaved_order()
        {
            var q = new int[1, 8];
            var z = new int[1, 8];
            for (int c = 0; c < 8; c++) { q[0, c] = c; z[0, c] = 15 - c; }
            var packed = QuantizedPacking.PackAwq(q, z, new ushort[1, 8], 1);
            Assert.Equal(0x75316420u, packed.QWeight[0]);        // nibbles 0..7 hold columns 0, 2, 4, 6, 1, 3, 5, 7
            Assert.Equal(0x8ACE9BDFu, packed.QZeros[0]);         // the zeros share the interleave
        }

        [Theory]
        [InlineData(false, DType.F16)]
        [InlineData(true, DType.F16)]
        [InlineData(true, DType.BF16)]
        public void Gptq_pack_then_dequantize_equals_q_minus_z_times_s(bool actOrder, DType output)
        {
            var (q, z, s) = RandomInt4(11, 0, 15);
            var gIdx = actOrder ? ActOrder(5) : QuantizedPacking.DefaultGroupIndex(K, G);
            var packed = QuantizedPacking.PackGptq(q, z, s, G, actOrder ? gIdx : null);
            Assert.Equal(gIdx, packed.GIdx);
            var dense = new ushort[N * K];
            ElementwiseReference.DequantGptq(Kernel(Int4Format.Gptq, actOrder, output), packed.QWeight, packed.QZeros, packed.Scales, packed.GIdx, dense);
            Assert.Equal(Direct(q, z, s, gIdx, ActivationCodec.For(output)), dense);
        }

        [Fact]
        public void Gptq_zero_point_0_is_stored_as_nibble_15_and_read_back_as_AutoGPTQ_masks_it()
        {
            var q = new int[K, N];
            var z = new int[Groups, N];
            var s = new ushort[Groups, N];
            for (int g = 0; g < Groups; g++) for (int n = 0; n < N; n++) { q[0, n] = 5; s[g, n] = Fp16.FromFloat(1.0f); }
            var packed = QuantizedPacking.PackGptq(q, z, s, G);
            Assert.All(packed.QZeros, word => Assert.Equal(0xFFFFFFFFu, word));
            var dense = new ushort[N * K];
            ElementwiseReference.DequantGptq(Kernel(Int4Format.Gptq), packed.QWeight, packed.QZeros, packed.Scales, packed.GIdx, dense);
            Assert.Equal(5.0f, Fp16.ToFloat(dense[0]));   // (5 − 0) · 1, not (5 − 16) · 1
            Assert.Equal(new int[Groups, N], QuantizedPacking.UnpackGptq(packed.QWeight, packed.QZeros, packed.Scales, K, N, Groups).Zeros);
        }

        [Fact]
        public void Gptq_zero_points_outside_a_nibble_are_rejected()
        {
            var (q, z, s) = RandomInt4(1, 1, 16);
            z[0, 0] = 16;
            Assert.Throws<ArgumentOutOfRangeException>(() => QuantizedPacking.PackGptq(q, z, s, G));
        }

        [Theory]
        [InlineData(DType.F16)]
        [InlineData(DType.BF16)]
        public void Awq_pack_then_dequantize_equals_q_minus_z_times_s(DType output)
        {
            var (q, z, s) = RandomInt4(13, 0, 15);
            var packed = QuantizedPacking.PackAwq(q, z, s, G);
            var dense = new ushort[N * K];
            ElementwiseReference.DequantAwq(Kernel(Int4Format.Awq, false, output), packed.QWeight, packed.QZeros, packed.Scales, dense);
            Assert.Equal(Direct(q, z, s, QuantizedPacking.DefaultGroupIndex(K, G), ActivationCodec.For(output)), dense);
        }

        [Fact]
        public void Unpack_inverts_pack_for_both_formats()
        {
            var (q, z, s) = RandomInt4(17, 0, 15);
            var gptq = QuantizedPacking.PackGptq(q, z, s, G, ActOrder(2));
            var back = QuantizedPacking.UnpackGptq(gptq.QWeight, gptq.QZeros, gptq.Scales, K, N, Groups);
            Assert.Equal(q, back.Codes);
            Assert.Equal(z, back.Zeros);
            Assert.Equal(s, back.Scales);

            var awq = QuantizedPacking.PackAwq(q, z, s, G);
            back = QuantizedPacking.UnpackAwq(awq.QWeight, awq.QZeros, awq.Scales, K, N, Groups);
            Assert.Equal(q, back.Codes);
            Assert.Equal(z, back.Zeros);
            Assert.Equal(s, back.Scales);
        }

        [Fact]
        public void Dequantizing_with_the_wrong_format_is_rejected()
        {
            Assert.Throws<ArgumentException>(() => ElementwiseReference.DequantAwq(Kernel(Int4Format.Gptq), new uint[0], new uint[0], new ushort[0], new ushort[0]));
        }
    }
}
