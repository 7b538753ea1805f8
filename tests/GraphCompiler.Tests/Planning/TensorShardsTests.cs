using System.Linq;
using GraphCompiler.Compilation;
using GraphCompiler.Planning;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests.Planning
{
    /// <summary>Megatron's cut of Llama-2-70B (64 query / 8 KV heads of 128, MLP 28672, vocabulary 32000) over 2–8 GPUs,
    /// the model one GPU runs, and its memory plan.</summary>
    public class TensorShardsTests
    {
        private static readonly ModelSpec Spec70b = TestSpecs.Compile("llama2-70b").Spec;

        private static MemoryPlan PlanOver(int ranks) => ModelCompiler.Compile(Spec70b with { Parallel = new ParallelSpec(ranks) }).Memory;

        [Fact]
        public void Column_split_modules_keep_k_and_row_split_modules_keep_n()
        {
            var m = TensorShards.RankShape(Spec70b.Model, 8);
            Assert.Equal((8192, 1024), m.LinearShape(ModuleKind.QProj));
            Assert.Equal((8192, 128), m.LinearShape(ModuleKind.KProj));
            Assert.Equal((8192, 3584), m.LinearShape(ModuleKind.GateProj));
            Assert.Equal((1024, 8192), m.LinearShape(ModuleKind.OProj));
            Assert.Equal((3584, 8192), m.LinearShape(ModuleKind.DownProj));
            Assert.Equal((8192, 32000), m.LinearShape(ModuleKind.LmHead));
        }

        [Fact]
        public void A_rank_runs_the_model_with_its_heads_and_mlp_slice_at_the_same_head_dim()
        {
            var model = ModelCompiler.Compile(Spec70b with { Parallel = new ParallelSpec(8) });
            var rank = model.Rank.Spec;
            Assert.Equal((8, 1, 3584, 128, 8192, 32000), (rank.Model.NumAttentionHeads, rank.Model.NumKeyValueHeads, rank.Model.IntermediateSize,
                rank.Model.HeadDim, rank.Model.HiddenSize, rank.Model.VocabSize));
            Assert.Equal(1, rank.Parallel.Tensor);
            Assert.Contains(model.Rank.Plan.Kernels, k => k.Name.StartsWith("decode_attention_h8_kv1_d128", System.StringComparison.Ordinal));
            var whole = TestSpecs.Compile("llama2-70b");
            Assert.Same(whole, whole.Rank);
            string Shape(CompiledModel m, string name) => string.Join("x", m.Manifest.Single(w => w.Name == name).Shape);
            Assert.Equal(Shape(whole, "model.embed_tokens.weight"), Shape(model.Rank, "model.embed_tokens.weight"));
            Assert.Equal("1024x8192", Shape(model.Rank, "model.layers.0.self_attn.q_proj.weight"));
        }

        [Theory]
        [InlineData(2)]
        [InlineData(4)]
        [InlineData(8)]
        public void A_rank_s_query_heads_read_only_its_own_kv_heads_and_its_slices_tile_each_weight(int ranks)
        {
            var m = Spec70b.Model;
            int headDim = m.HeadDim;
            Assert.Equal((0, 32000), TensorShards.Slice(m, ModuleKind.LmHead, ranks, ranks - 1));
            foreach (var module in ModuleKinds.LayerLinears)
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
        public void One_gpu_of_n_holds_an_nth_of_the_weights_and_kv_but_every_norm_embedding_and_row_split_fp8_scale(int ranks)
        {
            var whole = TestSpecs.Compile("llama2-70b").Memory;
            var one = PlanOver(ranks);
            Assert.Equal(ranks, one.TensorRanks);
            Assert.Equal(whole.KvBytesPerToken / ranks, one.KvBytesPerToken);
            long Component(MemoryPlan p, string name) => p.Weights.Single(c => c.Name == name).Bytes;
            // Column splits and INT4 row splits divide exactly; o_proj (FP8, per output channel) keeps all 8192 scales;
            // embed_tokens and lm_head are whole on every GPU.
            foreach (var name in new[] { "q_proj", "k_proj", "v_proj", "gate_proj", "up_proj", "down_proj" })
                Assert.Equal(Component(whole, name) / ranks, Component(one, name));
            foreach (var name in new[] { "embed_tokens", "lm_head", "norms" }) Assert.Equal(Component(whole, name), Component(one, name));
            Assert.Equal(80L * (8192L * 8192 / ranks + 8192 * 4), Component(one, "o_proj"));
        }

        [Fact]
        public void The_seed_recipe_fits_eight_16_GB_gpus_with_room_for_kv()
        {
            var one = PlanOver(8);
            var verdict = MemoryPlanner.Evaluate(one, (long)(0.9 * 16e9), "test");
            Assert.True(verdict.Fits);
            Assert.True(one.WeightsBytes < 6.5e9, $"{one.WeightsBytes} bytes a GPU");
            Assert.False(MemoryPlanner.Evaluate(TestSpecs.Compile("llama2-70b").Memory, (long)(0.9 * 16e9), "test").Fits);
        }
    }
}
