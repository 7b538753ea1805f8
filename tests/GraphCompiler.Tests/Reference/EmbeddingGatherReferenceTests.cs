using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Graph;
using GraphCompiler.Runtime.Reference;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests.Reference
{
    /// <summary>Embedding gather with a 4 × 8 table: row copies, FP8 dequantization, out-of-range ids. Comparisons exact.</summary>
    public class EmbeddingGatherReferenceTests
    {
        private const int Hidden = 8, Vocab = 4;

        private static readonly ushort[] Table = TestBits.F16(Enumerable.Range(0, Vocab * Hidden).Select(i => (float)(i + 1)).ToArray());

        private static EmbeddingGatherKernel Kernel(QuantScheme table) => new EmbeddingGatherKernel("embed_test", Hidden, Vocab, DType.F16, table);

        private static ushort[] Filled(int tokens) => Enumerable.Repeat((ushort)0x5555, tokens * Hidden).ToArray();

        [Fact]
        public void Out_of_range_ids_write_zeros_and_flag_the_last_failing_token_plus_one()
        {
            var residual = Filled(5);
            int flag = ElementwiseReference.EmbeddingGather(Kernel(QuantScheme.Fp16), new[] { 2, 7, 0, -1, 3 }, Table, null, null, residual, 5);

            Assert.Equal(4, flag);                                               // tokens 1 and 3 fail: max(1, 3) + 1
            Assert.Equal(Table.Skip(2 * Hidden).Take(Hidden), residual.Take(Hidden));
            Assert.All(residual.Skip(Hidden).Take(Hidden), b => Assert.Equal(0, b));
            Assert.Equal(Table.Take(Hidden), residual.Skip(2 * Hidden).Take(Hidden));
            Assert.All(residual.Skip(3 * Hidden).Take(Hidden), b => Assert.Equal(0, b));
            Assert.Equal(Table.Skip(3 * Hidden).Take(Hidden), residual.Skip(4 * Hidden));
        }

        [Fact]
        public void In_range_ids_leave_the_flag_at_zero_and_rows_past_tokens_untouched()
        {
            var residual = Filled(3);
            int flag = ElementwiseReference.EmbeddingGather(Kernel(QuantScheme.Fp16), new[] { 3, 0, 1 }, Table, null, null, residual, 2);
            Assert.Equal(0, flag);
            Assert.Equal(Table.Skip(3 * Hidden).Take(Hidden), residual.Take(Hidden));
            Assert.All(residual.Skip(2 * Hidden), b => Assert.Equal(0x5555, b));   // only `tokens` rows are written
        }

        [Fact]
        public void The_vocabulary_boundary_id_is_out_of_range()
        {
            var residual = Filled(2);
            Assert.Equal(2, ElementwiseReference.EmbeddingGather(Kernel(QuantScheme.Fp16), new[] { Vocab - 1, Vocab }, Table, null, null, residual, 2));
        }

        [Fact]
        public void Fp8_table_rows_are_code_times_the_row_scale_rounded_to_the_activation()
        {
            var codes = new byte[Vocab * Hidden];
            codes[Hidden + 0] = 0x38;                                            // 1.0
            codes[Hidden + 1] = 0x71;                                            // 144
            codes[Hidden + 2] = 0xB8;                                            // −1.0
            codes[Hidden + 3] = 0x7E;                                            // 448
            var scales = new float[] { 9, 0.01f, 9, 9 };
            var residual = new ushort[Hidden];
            var perChannel = new QuantScheme(QuantMethod.Fp8E4M3, WeightScale: ScaleGranularity.PerChannel);
            Assert.Equal(0, ElementwiseReference.EmbeddingGather(Kernel(perChannel), new[] { 1 }, null, codes, scales, residual, 1));
            // 144 · float(0.01) = 1.43999994 → fp16 2^-10 grid: 1474.56 → 1475/1024 = 1.4404296875 (0x3DC3);
            // 448 · 0.01 = 4.48 → 2^-8 grid: 1146.88 → 1147/256 = 4.48046875 (0x447B).
            Assert.Equal(new ushort[] { 0x211F, 0x3DC3, 0xA11F, 0x447B, 0, 0, 0, 0 }, residual);

            var perTensor = new QuantScheme(QuantMethod.Fp8E4M3, WeightScale: ScaleGranularity.PerTensor);
            ElementwiseReference.EmbeddingGather(Kernel(perTensor), new[] { 1 }, null, codes, new[] { 0.5f }, residual, 1);
            Assert.Equal(new[] { 0.5f, 72, -0.5f, 224, 0, 0, 0, 0 }, TestBits.Load(ActivationCodec.F16, residual));
        }
    }
}
