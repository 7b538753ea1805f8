using System;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Runtime.Cpu;
using GraphCompiler.Runtime.Reference;

namespace GraphCompiler.Tests.Cpu
{
    public class CpuKernelTests
    {
        [Theory]
        [InlineData(DType.F16)]
        [InlineData(DType.BF16)]
        public void Vector_widening_gives_the_codec_s_float_for_every_bit_pattern(DType dtype)
        {
            var act = ActivationCodec.For(dtype);
            // One element more than all patterns, so the scalar tail runs too.
            var bits = Enumerable.Range(0, 65537).Select(i => (ushort)i).ToArray();
            var widened = new float[bits.Length];
            Widening.Load(dtype, bits, widened);
            for (int i = 0; i < bits.Length; i++)
            {
                float expected = act.Load(bits[i]);
                if (float.IsNaN(expected)) Assert.True(float.IsNaN(widened[i]), $"0x{bits[i]:X4}");
                else Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(widened[i]), $"0x{bits[i]:X4}: {widened[i]} instead of {expected}");
            }
        }

        [Theory]
        [InlineData(1, 8, 4)]
        [InlineData(3, 13, 7)]       // tails everywhere: K not a multiple of the vector width, N of 4, M of 2
        [InlineData(70, 64, 300)]    // several row blocks and parallel tasks
        public void Gemm_matches_a_float64_product(int m, int k, int n)
        {
            var rng = new Random(m * 1000 + k * 10 + n);
            var x = Enumerable.Range(0, m * k).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
            var w = Enumerable.Range(0, n * k).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
            var y = new float[m * n];
            CpuGemm.Multiply(x, m, k, w, n, y);
            for (int r = 0; r < m; r++)
                for (int c = 0; c < n; c++)
                {
                    double expected = 0;
                    for (int i = 0; i < k; i++) expected += (double)x[r * k + i] * w[c * k + i];
                    Assert.True(Math.Abs(y[r * n + c] - expected) < 1e-5, $"y[{r}, {c}] = {y[r * n + c]}, expected {expected}");
                    Assert.Equal(CpuGemm.Dot(x.AsSpan(r * k, k), w.AsSpan(c * k, k)), y[r * n + c]);   // one summation order everywhere
                }
        }
    }
}
