using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Graph;
using GraphCompiler.Runtime.Reference;

namespace GraphCompiler.Tests.Reference
{
    /// <summary>
    /// SwiGLU on one row [gate (8) | up (8)], hand-computed: silu(g) = g / (1 + e^-g) in float, rounded to fp16, times
    /// up, rounded again. Comparisons exact (bits).
    /// </summary>
    public class SwiGluReferenceTests
    {
        private static readonly float[] Gate = { 1, -1, 0, -20, 2, 4, -4, 0.5f };
        private static readonly float[] Up = { 2, 3, 5, 1, 1, 1, 1, 1 };

        private static readonly float[] Row = Gate.Concat(Up).ToArray();

        private static ushort[] GateUp() => TestBits.F16(Row);

        [Fact]
        public void Silu_is_rounded_before_the_product()
        {
            var output = new ushort[8];
            ElementwiseReference.SwiGlu(new SwiGluKernel("swiglu_test", 8, DType.F16, false), GateUp(), output, null, null, 1);
            // silu(1) = 0.731058598 → 2^-11 grid: 1497/2048 = 0.73095703125, ·2 = 1.4619140625 (0x3DD9).
            // silu(−1) = −0.268941432 → 2^-12 grid: −1102/4096, ·3 = −0.80712890625 (0xBA75), exact; unrounded, −0.806824
            //   would give −0.80664 (0xBA74): this element tells the two orders apart.
            // silu(−20) = −4.12e-8 → fp16's smallest subnormal 2^-24 (0x8001): rounding to 0.69 steps goes up to one.
            var expected = new ushort[] { 0x3DD9, 0xBA75, 0x0000, 0x8001, 0x3F0C, 0x43DB, 0xAC9B, 0x34FB };
            Assert.Equal(expected, output);
        }

        [Fact]
        public void Fp8_output_quantizes_the_rounded_products_per_row()
        {
            var codes = new byte[8];
            var scale = new float[1];
            ElementwiseReference.SwiGlu(new SwiGluKernel("swiglu_test", 8, DType.F16, true), GateUp(), null, codes, scale, 1);
            // amax = silu(4) rounded = 3.927734375; scale = float(3.927734375 / 448); y/scale: 166.75 → 160 (0x72),
            // −92.06 → −96 (0xEC), 0 → 0x00, −6.8e-6 → −0 (0x80), 200.94 → 208 (0x75), 448 → 0x7E, −8.21 → −8 (0xD0),
            // 35.50 → 36 (0x61).
            Assert.Equal(3.927734375f / 448.0f, scale[0]);
            Assert.Equal(new byte[] { 0x72, 0xEC, 0x00, 0x80, 0x75, 0x7E, 0xD0, 0x61 }, codes);
        }

        [Fact]
        public void Bf16_rounds_silu_on_the_bf16_grid()
        {
            var act = ActivationCodec.BF16;
            var output = new ushort[8];
            ElementwiseReference.SwiGlu(new SwiGluKernel("swiglu_test", 8, DType.BF16, false),
                TestBits.Exact(act, Row), output, null, null, 1);
            // silu(1) = 0.731058598 → 2^-8 grid: 187/256 = 0.73046875, ·2 = 1.4609375.
            // silu(−1) = −0.268941432 → 2^-9 grid: −138/512 = −0.26953125, ·3 = −0.80859375 (exact).
            Assert.Equal(1.4609375f, act.Load(output[0]));
            Assert.Equal(-0.80859375f, act.Load(output[1]));
        }
    }
}
