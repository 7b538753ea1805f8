using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Planning;

namespace GraphCompiler.Tests.Planning
{
    /// <summary>The llama2-70b memory plan against hand computation (hidden 8192, 80 layers, 8 KV heads of 128, vocab 32000).</summary>
    public class MemoryPlannerTests
    {
        private static readonly MemoryPlan Plan70b = TestSpecs.Compile("llama2-70b").Memory;

        private static long Component(MemoryPlan plan, string name) => plan.Weights.Single(c => c.Name == name).Bytes;

        [Fact]
        public void Fp8_per_channel_attention_weights_are_one_byte_per_weight_plus_an_fp32_scale_per_output_channel()
        {
            Assert.Equal(80L * (8192L * 8192 + 8192 * 4), Component(Plan70b, "q_proj"));
            Assert.Equal(80L * (8192L * 1024 + 1024 * 4), Component(Plan70b, "k_proj"));
            Assert.Equal(80L * (8192L * 1024 + 1024 * 4), Component(Plan70b, "v_proj"));
            Assert.Equal(80L * (8192L * 8192 + 8192 * 4), Component(Plan70b, "o_proj"));
        }

        [Fact]
        public void Int4_g128_symmetric_mlp_weights_are_half_a_byte_per_weight_plus_fp16_scales_per_group_and_no_zeros()
        {
            long gateOrUp = 8192L * 28672 / 2 + (8192 / 128) * 28672L * 2;
            long down = 28672L * 8192 / 2 + (28672 / 128) * 8192L * 2;
            Assert.Equal(80 * gateOrUp, Component(Plan70b, "gate_proj"));
            Assert.Equal(80 * gateOrUp, Component(Plan70b, "up_proj"));
            Assert.Equal(80 * down, Component(Plan70b, "down_proj"));
        }

        [Fact]
        public void Total_weights_of_the_seed_recipe_are_42_2_GB()
        {
            long embed = 32000L * 8192 * 2;
            long norms = 80L * 2 * 8192 * 2 + 8192 * 2;
            long attention = 2 * 80L * (8192L * 8192 + 8192 * 4) + 2 * 80L * (8192L * 1024 + 1024 * 4);
            long mlp = 3 * 80L * (8192L * 28672 / 2 + 64L * 28672 * 2);
            Assert.Equal(embed + embed + norms + attention + mlp, Plan70b.WeightsBytes);
            Assert.Equal(42_203_234_304L, Plan70b.WeightsBytes);
            Assert.Equal(Plan70b.WeightsBytes, Plan70b.NonLayerWeightsBytes + Plan70b.LayerBytes.Sum());
        }

        [Fact]
        public void Fp8_kv_cache_is_two_times_layers_times_kv_heads_times_head_dim_bytes_per_token()
        {
            Assert.Equal(2L * 80 * 8 * 128 * 1, Plan70b.KvBytesPerToken);
            Assert.Equal(2L * 80 * 4, Plan70b.KvScaleBytes);   // one fp32 scale per layer for K and for V
            var gptq = TestSpecs.Compile("llama2-70b-gptq").Memory;
            Assert.Equal(2L * 80 * 8 * 128 * 2, gptq.KvBytesPerToken);
            Assert.Equal(0, gptq.KvScaleBytes);
        }

        [Fact]
        public void Asymmetric_act_order_int4_adds_zeros_beside_the_scales_and_a_row_permutation()
        {
            var layout = WeightLayout.For(new GraphCompiler.Spec.QuantScheme(GraphCompiler.Spec.QuantMethod.Int4,
                GraphCompiler.Spec.Int4Format.Gptq, 128, Symmetric: false, DescAct: true));
            // Codes, then scales and zeros in the activation dtype per group and column, then the int32 row order.
            Assert.Equal(8192L * 1024 / 2 + 64 * 1024 * 2 + 64 * 1024 * 2 + 8192 * 4, layout.DeviceBytes(8192, 1024));
            // N is padded to whole 64-column tiles on the device.
            Assert.Equal(8192L * 1024 / 2 + 64 * 1024 * 2 * 2 + 8192 * 4, layout.DeviceBytes(8192, 1000));
        }

        [Fact]
        public void The_embedding_table_is_counted_as_stored_while_lm_head_pads_to_whole_gemm_tiles()
        {
            var plan = GraphCompiler.Compilation.ModelCompiler.Compile("minimal.yaml", TestSpecs.Minimal).Model!.Memory;   // hidden 256, vocab 1000, untied
            var bytes = plan.Weights.ToDictionary(c => c.Name, c => c.Bytes);
            Assert.Equal(2L * 256 * 1000, bytes["embed_tokens"]);   // the gather reads the checkpoint's rows
            Assert.Equal(2L * 256 * 1024, bytes["lm_head"]);        // the GEMM's fragment order: N padded to 64
        }

        [Fact]
        public void Sixteen_GiB_cannot_hold_70b_so_the_plan_streams_the_layers_that_do_not_fit()
        {
            var budget = MemoryPlanner.Budget(TestSpecs.Compile("llama2-70b").Spec.Limits, 16L << 30)!.Value;
            Assert.Equal((long)((16L << 30) * 0.90), budget.Bytes);
            var v = MemoryPlanner.Evaluate(Plan70b, budget.Bytes, budget.Source);
            Assert.False(v.Fits);
            Assert.False(v.Infeasible);
            long layer = Plan70b.LayerBytes[0];
            Assert.Equal(2 * layer, v.StagingBytes);
            long room = budget.Bytes - Plan70b.NonLayerWeightsBytes - Plan70b.WorkspaceBytes - Plan70b.KvScaleBytes - 2 * layer - 4096L * Plan70b.KvBytesPerToken;
            Assert.Equal((int)(room / layer), v.ResidentLayers);
            Assert.Equal((80 - v.ResidentLayers) * layer, v.StreamBytes);
            Assert.True(v.MaxKvTokens >= 4096);
            Assert.Equal(0, v.MaxKvTokens % 16);
        }

        [Fact]
        public void Eighty_GiB_holds_70b_with_the_rest_of_the_budget_as_kv_tokens_in_whole_pages()
        {
            var budget = MemoryPlanner.Budget(TestSpecs.Compile("llama2-70b").Spec.Limits, 80L << 30)!.Value;
            var v = MemoryPlanner.Evaluate(Plan70b, budget.Bytes, budget.Source);
            Assert.True(v.Fits);
            long free = budget.Bytes - Plan70b.WeightsBytes - Plan70b.WorkspaceBytes - Plan70b.KvScaleBytes;
            Assert.Equal(free / Plan70b.KvBytesPerToken / 16 * 16, v.MaxKvTokens);
            Assert.Equal(v.MaxKvTokens / 4096, v.MaxConcurrentSequences);
            Assert.Equal(0, v.StreamBytes);
        }

        [Fact]
        public void A_budget_below_the_non_layer_weights_is_infeasible_and_says_by_how_much()
        {
            var v = MemoryPlanner.Evaluate(Plan70b, 1L << 30, "test");
            Assert.True(v.Infeasible);
            long need = Plan70b.NonLayerWeightsBytes + Plan70b.WorkspaceBytes + Plan70b.KvScaleBytes + 2 * Plan70b.LayerBytes.Max() + 4096L * Plan70b.KvBytesPerToken;
            Assert.Equal(need - (1L << 30), v.ShortfallBytes);
        }

        [Fact]
        public void The_specs_gpu_memory_budget_wins_over_utilization_unless_the_device_is_smaller()
        {
            var limits = TestSpecs.Compile("llama2-70b").Spec.Limits with { GpuMemoryBudget = 16L << 30 };
            Assert.Equal(16L << 30, MemoryPlanner.Budget(limits, 80L << 30)!.Value.Bytes);
            Assert.Equal(8L << 30, MemoryPlanner.Budget(limits, 8L << 30)!.Value.Bytes);
            Assert.Null(MemoryPlanner.Budget(limits with { GpuMemoryBudget = null }, null));
        }

        [Fact]
        public void Byte_sizes_parse_binary_and_decimal_units()
        {
            Assert.True(ByteSize.TryParse("16GiB", out long a));
            Assert.Equal(16L << 30, a);
            Assert.True(ByteSize.TryParse("16 GB", out long b));
            Assert.Equal(16_000_000_000L, b);
            Assert.True(ByteSize.TryParse("512MiB", out long c));
            Assert.Equal(512L << 20, c);
            Assert.False(ByteSize.TryParse("lots", out _));
            Assert.False(ByteSize.TryParse("-3GB", out _));
        }
    }
}
