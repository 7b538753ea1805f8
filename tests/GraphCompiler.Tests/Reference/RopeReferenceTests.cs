using System;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Graph;
using GraphCompiler.Runtime.Reference;

namespace GraphCompiler.Tests.Reference
{
    /// <summary>
    /// RoPE, rotate-half, on rows of [q (1 head) | k (1 head) | v (1 head)] with head_dim 4 and θ = 10000: inv_freq =
    /// [1, float(1/100)]. Values hand-computed in the comments; comparisons exact (bits).
    /// </summary>
    public class RopeReferenceTests
    {
        private static readonly RopeKernel Kernel = new RopeKernel("rope_test", 1, 1, 4, 10000, DType.F16, 12);

        [Fact]
        public void Position_zero_is_the_identity()
        {
            var random = new Random(3);
            var values = Enumerable.Range(0, 24).Select(_ => (float)Half.CreateTruncating((random.NextDouble() - 0.5) * 8 + 0.01)).ToArray();
            Assert.DoesNotContain(0.0f, values);                         // −0 + +0 would be +0: keep zeros out
            var qkv = TestBits.F16(values);
            var before = (ushort[])qkv.Clone();
            ElementwiseReference.Rope(Kernel, qkv, new[] { 0, 0 }, 2);
            Assert.Equal(before, qkv);
        }

        [Fact]
        public void Position_one_rotates_by_hand_computed_angles()
        {
            // Pair 0, angle 1 rad: cos 0.540302277 → fp16 1107/2048 = 0.54052734375; sin 0.841470957 → 1723/2048.
            //   (x1, x2) = (1, 0.5): x1' = c + Round(−0.5·s) = 2214/4096 − 1723/4096 = 491/4096 = 0.119873046875 (0x2FAC);
            //   x2' = Round(0.5·c) + s = 1107/4096 + 3446/4096 = 4553/4096 = 1.111572… → 2^-10 grid: 1138/1024 (0x3C72).
            // Pair 1, angle float(0.01): cos 0.99995 → 1.0; sin 0.00999983 → 2^-17 grid: 1311/131072 = 0.0100021362 (0x211F).
            //   (x1, x2) = (0.25, −2): x1' = 0.25 + Round(2·0.0100021362) = 0.2700042724… → 0.27001953125 (0x3452);
            //   x2' = −2 + Round(0.25·0.0100021362) = −1.99749… → 2^-10 grid: −1.9970703125 (0xBFFD).
            var q = new float[] { 1, 0.25f, 0.5f, -2 };
            var k = new float[] { -3, 4, 1.5f, 8 };
            var v = new float[] { 5, 6, 7, 9 };
            var qkv = TestBits.F16(q.Concat(k).Concat(v).ToArray());
            ElementwiseReference.Rope(Kernel, qkv, new[] { 1 }, 1);

            Assert.Equal(new ushort[] { 0x2FAC, 0x3452, 0x3C72, 0xBFFD }, qkv.Take(4));
            // The key head gets the same rotation: (−3, 1.5) → (−2.8828125, −1.712890625), (4, 8) → (3.919921875, 8.0390625).
            Assert.Equal(new[] { -2.8828125f, 3.919921875f, -1.712890625f, 8.0390625f }, TestBits.Load(ActivationCodec.F16, qkv.Skip(4).Take(4).ToArray()));
            Assert.Equal(TestBits.F16(v), qkv.Skip(8));                  // values are not rotated
        }

        [Fact]
        public void Each_token_uses_its_own_position()
        {
            var one = TestBits.F16(1, 0.25f, 0.5f, -2, -3, 4, 1.5f, 8, 5, 6, 7, 9);
            var rows = one.Concat(one).ToArray();
            ElementwiseReference.Rope(Kernel, rows, new[] { 0, 1 }, 2);
            Assert.Equal(one, rows.Take(12));
            var alone = (ushort[])one.Clone();
            ElementwiseReference.Rope(Kernel, alone, new[] { 1 }, 1);
            Assert.Equal(alone, rows.Skip(12));
        }

        [Fact]
        public void Cos_and_sin_are_rounded_to_bf16_for_a_bf16_model()
        {
            // angle 1: cos 0.540302277 → bf16 (2^-8 grid in [0.5, 1)) 138/256 = 0.5390625; sin 0.841470957 → 215/256.
            // (x1, x2) = (1, 0): x1' = Round(c) = 0.5390625, x2' = Round(x1·s) = 0.83984375.
            var kernel = Kernel with { Activation = DType.BF16 };
            var qkv = TestBits.Exact(ActivationCodec.BF16, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0);
            ElementwiseReference.Rope(kernel, qkv, new[] { 1 }, 1);
            Assert.Equal(0.5390625f, Bf16.ToFloat(qkv[0]));
            Assert.Equal(0.83984375f, Bf16.ToFloat(qkv[2]));
        }
    }
}
