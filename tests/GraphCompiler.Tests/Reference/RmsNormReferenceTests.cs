using System;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Graph;
using GraphCompiler.Runtime.Reference;

namespace GraphCompiler.Tests.Reference
{
    /// <summary>
    /// RMSNorm on an 8-wide fp16 row, computed by hand. x = [1, −1, 1, −1, 3, −3, 1, 1]: Σx² = 24, mean 3,
    /// inv_rms = float(1/√(3 + 1e-5)) = 0.577349305; 1·inv_rms rounds on fp16's 2^-11 grid (1182.41) to 1182/2048 =
    /// 0.5771484375 and 3·inv_rms on the 2^-10 grid (1773.62) to 1774/1024 = 1.732421875; then y = Round(w · that).
    /// All comparisons exact (bits).
    /// </summary>
    public class RmsNormReferenceTests
    {
        private static readonly float[] Row = { 1, -1, 1, -1, 3, -3, 1, 1 };

        private static RmsNormKernel Kernel(bool add = false, bool gather = false, bool dense = true, bool fp8 = false) =>
            new RmsNormKernel("rmsnorm_test", 8, 1e-5, DType.F16, add, gather, dense, fp8);

        [Fact]
        public void Normalises_rounds_then_multiplies_by_the_weight_and_rounds_again()
        {
            var residual = TestBits.F16(Row);
            var weight = TestBits.F16(1, 1.5f, -0.5f, 2, 1.5f, -0.5f, 2, 1);
            var output = new ushort[8];
            ElementwiseReference.RmsNorm(Kernel(), residual, null, null, weight, output, null, null, 1);

            // 1.5 · 1.732421875 = 2.5986328125 is exactly halfway on fp16's 2^-9 grid (1330.5): ties to the even 1330.
            var expected = new ushort[] { 0x389E, 0xBAED, 0xB49E, 0xBC9E, 0x4132, 0x3AEE, 0x3C9E, 0x389E };
            Assert.Equal(expected, output);
            Assert.Equal(2.59765625f, Fp16.ToFloat(output[4]));
            Assert.Equal(TestBits.F16(Row), residual);   // no AddResidual: the residual is only read
        }

        [Fact]
        public void Fp8_output_has_scale_amax_over_448_and_codes_of_y_over_scale()
        {
            var residual = TestBits.F16(Row);
            var weight = TestBits.F16(1, 1, 1, 1, 1, 1, 1, 1);
            var dense = new ushort[8];
            var codes = new byte[8];
            var scale = new float[1];
            ElementwiseReference.RmsNorm(Kernel(fp8: true), residual, null, null, weight, dense, codes, scale, 1);

            // amax = 1.732421875 → scale = float(1.732421875 / 448) = 0.00386701315; 1.732421875 / scale = 448 → 0x7E;
            // 0.5771484375 / scale = 149.249 → e4m3 grid of 16 in [128, 256): 144 = 1.125·2^7 → 0x71.
            Assert.Equal(1.732421875f / 448.0f, scale[0]);
            Assert.Equal(new byte[] { 0x71, 0xF1, 0x71, 0xF1, 0x7E, 0xFE, 0x71, 0x71 }, codes);
            Assert.Equal(new ushort[] { 0x389E, 0xB89E, 0x389E, 0xB89E, 0x3EEE, 0xBEEE, 0x389E, 0x389E }, dense);
        }

        [Fact]
        public void Fp8_output_of_an_all_zero_row_has_scale_one()
        {
            var codes = new byte[8];
            var scale = new float[1];
            ElementwiseReference.RmsNorm(Kernel(dense: false, fp8: true), new ushort[8], null, null, TestBits.F16(1, 1, 1, 1, 1, 1, 1, 1),
                null, codes, scale, 1);
            Assert.Equal(1.0f, scale[0]);
            Assert.All(codes, c => Assert.Equal(0, c));
        }

        [Fact]
        public void Residual_add_rounds_each_sum_to_fp16_in_place_before_normalising()
        {
            // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: to the even 1.0. −(1 + 2^-10) − 2^-11 is halfway between
            // −(1 + 2^-10) (odd mantissa) and −(1 + 2^-9): to the even −(1 + 2^-9) = 0xBC02.
            var residual = TestBits.F16(1, -1 - 1.0f / 1024, 1, -1, 3, -3, 1, 1);
            var delta = TestBits.F16(1.0f / 2048, -1.0f / 2048, 0, 0, 0, 0, 0, 0);
            var weight = TestBits.F16(1, 1, 1, 1, 1, 1, 1, 1);
            var output = new ushort[8];
            ElementwiseReference.RmsNorm(Kernel(add: true), residual, delta, null, weight, output, null, null, 1);
            Assert.Equal(0x3C00, residual[0]);
            Assert.Equal(0xBC02, residual[1]);

            // The output is the norm of the updated residual.
            var again = new ushort[8];
            ElementwiseReference.RmsNorm(Kernel(), (ushort[])residual.Clone(), null, null, weight, again, null, null, 1);
            Assert.Equal(again, output);
        }

        [Fact]
        public void Gathered_rows_read_residual_rows_listed_and_write_output_rows_in_order()
        {
            var residual = TestBits.F16(Row.Select(v => v * 2).Concat(Row).Concat(Row.Select(v => -v)).ToArray());
            var weight = TestBits.F16(1, 1, 1, 1, 1, 1, 1, 1);
            var output = new ushort[16];
            ElementwiseReference.RmsNorm(Kernel(gather: true), residual, null, new[] { 1, 2 }, weight, output, null, null, 2);
            var row1 = new ushort[8];
            ElementwiseReference.RmsNorm(Kernel(), TestBits.F16(Row), null, null, weight, row1, null, null, 1);
            Assert.Equal(row1, output.Take(8));
            Assert.Equal(row1.Select(b => (ushort)(b ^ 0x8000)), output.Skip(8));   // the negated row: sign flips only
        }

        [Fact]
        public void A_missing_argument_the_descriptor_needs_is_rejected()
        {
            Assert.Throws<ArgumentNullException>(() =>
                ElementwiseReference.RmsNorm(Kernel(add: true), new ushort[8], null, null, new ushort[8], new ushort[8], null, null, 1));
        }
    }
}
