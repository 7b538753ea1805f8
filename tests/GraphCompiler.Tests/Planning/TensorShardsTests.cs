using System.Linq;
using GraphCompiler.Compilation;
using GraphCompiler.Planning;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests.Planning
{
    /// <summary>Megatron's cut of Llama-2-70B (64 query / 8 KV heads of 128, MLP 28672, vocabulary 32000) over 2–8 GPUs,
    /// and the memory plan of one GPU of them.</summary>
    public class TensorShardsTests
    {
        private static readonly ModelSpec Spec70b = TestSpecs.Compile("llama2-70b").Spec;

        private static MemoryPlan PlanOver(int ranks) => ModelCompiler.Compile(Spec70b with { Parallel = new ParallelSpec(ranks) }).Memory;

        [Fact]
        public void Column_split_modules_keep_k_and_row_split_modules_keep_n()
        {
            var m = Spec70b.Model;
            Assert.Equal((8192, 1024), TensorShards.Shape(m, ModuleKind.QProj, 8));
            Assert.Equal((8192, 128), TensorShards.Shape(m, ModuleKind.KProj, 8));
            Assert.Equal((8192, 3584), TensorShards.Shape(m, ModuleKind.GateProj, 8));
            Assert.Equal((1024, 8192), TensorShards.Shape(m, ModuleKind.OProj, 8));
            Assert.Equal((3584, 8192), TensorShards.Shape(m, ModuleKind.DownProj, 8));
            Assert.Equal((8192, 4000), TensorShards.Shape(m, ModuleKind.LmHead, 8));
        }

        [Theory]
        [InlineData(2)]
        [InlineData(4)]
        [InlineData(8)]
        public void A_rank_s_query_heads_read_only_its_own_kv_heads_and_its_slices_tile_each_weight(int ranks)
        {
            var m = Spec70b.Model;
            int headDim = m.HeadDim;
            foreach (var module in ModuleKinds.LayerLinears.Append(ModuleKind.LmHead))
            {
                var slices = Enumerable.Range(0, ranks).Select(r => TensorShards.Slice(m, module, ranks, r)).ToList();
                var (k, n) = m.LinearShape(module);
                Assert.Equal(module.TensorSplit() == TensorSplit.Rows ? k : n, slices.Sum(s => s.Count));
                for (int r = 1; r < ranks; r++) Assert.Equal(slices[r - 1].Start + slices[r - 1].Count, slices[r].Start);
            }
            for (int r = 0; r < ranks; r++)
            {
                var q = TensorShards.Slice(m, ModuleKind.QProj, ranks, r);
                var kv = TensorShards.Slice(m, ModuleKind.KProj, ranks, r);
                int firstHead = q.Start / headDim, lastHead = (q.Start + q.Count) / headDim - 1;
                Assert.Equal(kv.Start / headDim, firstHead / m.QueryHeadsPerKvHead);
                Assert.Equal((kv.Start + kv.Count) / headDim - 1, lastHead / m.QueryHeadsPerKvHead);
                Assert.Equal(q, TensorShards.Slice(m, ModuleKind.OProj, ranks, r));   // o_proj's input rows are the rank's heads' outputs
            }
        }

        [Theory]
        [InlineData(2)]
        [InlineData(4)]
        [InlineData(8)]
        public void One_gpu_of_n_holds_an_nth_of_the_weights_and_kv_but_every_norm_and_row_split_fp8_scale(int ranks)
        {
            var whole = TestSpecs.Compile("llama2-70b").Memory;
            var one = PlanOver(ranks);
            Assert.Equal(ranks, one.TensorRanks);
            Assert.Equal(whole.KvBytesPerToken / ranks, one.KvBytesPerToken);
            long Component(MemoryPlan p, string name) => p.Weights.Single(c => c.Name == name).Bytes;
            // Column splits and INT4 row splits divide exactly; o_proj (FP8, per output channel) keeps all 8192 scales; lm_head's
            // vocabulary slice is laid out in fragments of 64 columns (4000 a GPU at 8 pads to 4032).
            foreach (var name in new[] { "embed_tokens", "q_proj", "k_proj", "v_proj", "gate_proj", "up_proj", "down_proj" })
                Assert.Equal(Component(whole, name) / ranks, Component(one, name));
            Assert.Equal(WeightLayout.For(QuantScheme.Fp16).DeviceBytes(8192, 32000 / ranks), Component(one, "lm_head"));
            Assert.Equal(80L * (8192L * 8192 / ranks + 8192 * 4), Component(one, "o_proj"));
            Assert.Equal(Component(whole, "norms"), Component(one, "norms"));
        }

        [Fact]
        public void The_seed_recipe_fits_eight_16_GB_gpus_with_room_for_kv()
        {
            var one = PlanOver(8);
            var verdict = MemoryPlanner.Evaluate(one, (long)(0.9 * 16e9), "test");
            Assert.True(verdict.Fits);
            Assert.True(one.WeightsBytes < 5.5e9, $"{one.WeightsBytes} bytes a GPU");
            Assert.False(MemoryPlanner.Evaluate(TestSpecs.Compile("llama2-70b").Memory, (long)(0.9 * 16e9), "test").Fits);
        }
    }
}
