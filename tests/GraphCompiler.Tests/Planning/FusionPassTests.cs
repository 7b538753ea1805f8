using System.Linq;
using GraphCompiler.Compilation;
using GraphCompiler.Graph;

namespace GraphCompiler.Tests.Planning
{
    public class FusionPassTests
    {
        private static readonly CompiledModel Model70b = TestSpecs.Compile("llama2-70b");

        [Fact]
        public void Projections_of_one_input_with_one_scheme_become_one_gemm_over_concatenated_weights()
        {
            var gemms = Model70b.Plan.Kernels.OfType<GemmKernel>().ToList();
            Assert.Contains(gemms, g => g.Modules == "q_proj+k_proj+v_proj" && g.N == 8192 + 2 * 1024 && g.K == 8192);
            Assert.Contains(gemms, g => g.Modules == "gate_proj+up_proj" && g.N == 2 * 28672);
            Assert.Contains(gemms, g => g.Modules == "down_proj" && g.K == 28672 && g.N == 8192);
        }

        [Fact]
        public void Prefill_fuses_rope_and_the_kv_write_into_attention_while_decode_keeps_rope_separate()
        {
            var prefill = Model70b.Plan.Prefill.Layers[1].Launches;
            Assert.Contains(prefill, l => l.Kernel.StartsWith("prefill_attention") && l.Ops.SequenceEqual(new[] { "rope", "kv_cache_write", "attention" }));
            var decode = Model70b.Plan.Decode.Layers[1].Launches;
            Assert.Contains(decode, l => l.Kernel.StartsWith("rope_") && l.Ops.SequenceEqual(new[] { "rope" }));
            Assert.Contains(decode, l => l.Kernel.StartsWith("decode_attention") && l.Ops.SequenceEqual(new[] { "kv_cache_write", "attention" }));
        }

        [Fact]
        public void Residual_add_fuses_into_the_following_rmsnorm_except_before_the_first_layer()
        {
            var groups = Model70b.Plan.Prefill.Layers;
            Assert.Equal(2, groups.Count);
            Assert.Equal((0, 0), (groups[0].FirstLayer, groups[0].LastLayer));
            Assert.Equal((1, 79), (groups[1].FirstLayer, groups[1].LastLayer));
            Assert.Equal("rmsnorm_h8192", groups[0].Launches[0].Kernel);
            Assert.Equal(new[] { "mlp_residual", "input_layernorm" }, groups[1].Launches[0].Ops);
            Assert.Equal(new[] { "final_residual", "norm" }, Model70b.Plan.Prefill.Epilogue[0].Ops);
            Assert.Equal("residual_add_rmsnorm_h8192_last_rows", Model70b.Plan.Prefill.Epilogue[0].Kernel);
        }

        [Fact]
        public void A_w8a8_dynamic_gemm_makes_the_norm_before_it_write_fp8_with_per_token_scales()
        {
            string yaml = TestSpecs.Text("llama2-70b").Replace("activation_scale: none", "activation_scale: dynamic");
            var model = ModelCompiler.Compile(GraphCompiler.Spec.SpecParser.Parse("w8a8.yaml", yaml).Spec!);
            var norms = model.Plan.Kernels.OfType<RmsNormKernel>().Where(k => k.AddResidual && !k.GatherRows).ToList();
            Assert.Contains(norms, k => k.WriteFp8 && !k.WriteDense);   // before q/k/v, all W8A8
            Assert.Contains(norms, k => !k.WriteFp8 && k.WriteDense);   // before the INT4 gate/up GEMM
            var qkv = model.Plan.Prefill.Layers[1].Launches.Single(l => l.Kernel.Contains("k8192_n10240"));
            Assert.Equal(new[] { "normed_fp8", "normed_scale" }, qkv.Reads);
            // o_proj is W8A8 too: attention quantizes its output in its epilogue.
            var attention = model.Plan.Prefill.Layers[1].Launches.Single(l => l.Kernel.StartsWith("prefill_attention"));
            Assert.Equal(new[] { "attn_out_fp8", "attn_out_scale" }, attention.Writes);
            Assert.True(((PrefillAttentionKernel)model.Plan.Kernel(attention.Kernel)).WriteFp8);
        }

        [Fact]
        public void Different_schemes_for_q_k_and_v_give_separate_gemms_writing_into_the_qkv_buffer()
        {
            string yaml = TestSpecs.Minimal + @"  overrides:
    - modules: [k_proj]
      scheme: fp8_e4m3
";
            var model = ModelCompiler.Compile(GraphCompiler.Spec.SpecParser.Parse("mixed.yaml", yaml).Spec!);
            var gemms = model.Plan.Kernels.OfType<GemmKernel>().Where(g => g.Tiles.ToString().EndsWith("Decode")).ToList();
            Assert.Contains(gemms, g => g.Modules == "q_proj" && g.OutputStride == 256 + 2 * 128);
            Assert.Contains(gemms, g => g.Modules == "k_proj" && g.Scheme.Method == GraphCompiler.Spec.QuantMethod.Fp8E4M3);
            Assert.All(model.Plan.Decode.Layers[0].Launches.Where(l => l.Kernel.StartsWith("gemm") && l.Ops[0].EndsWith("_proj") && "qkv".Contains(l.Ops[0][0])),
                l => Assert.Equal(new[] { "qkv" }, l.Writes));
        }

        [Fact]
        public void Every_launch_names_a_kernel_of_the_plan_and_lm_head_runs_on_the_decode_tiles()
        {
            foreach (var phase in new[] { Model70b.Plan.Prefill, Model70b.Plan.Decode })
                foreach (var l in phase.Prologue.Concat(phase.Layers.SelectMany(g => g.Launches)).Concat(phase.Epilogue))
                    Assert.NotNull(Model70b.Plan.Kernel(l.Kernel));
            var lmHead = Model70b.Plan.Kernels.OfType<GemmKernel>().Single(g => g.Modules == "lm_head");
            Assert.Equal(GraphCompiler.Spec.TileFamily.GemmDenseDecode, lmHead.Tiles);
            // Per layer: 2 norms, 3 GEMMs, SwiGLU, attention (and RoPE in decode); plus the embedding, final norm and lm_head.
            Assert.Equal(1 + 80 * 8 + 2, Model70b.Plan.Prefill.LaunchesPerStep);
            Assert.Equal(1 + 80 * 9 + 2, Model70b.Plan.Decode.LaunchesPerStep);
        }
    }
}
