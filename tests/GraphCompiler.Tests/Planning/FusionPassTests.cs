using System.Linq;
using GraphCompiler.Compilation;
using GraphCompiler.Graph;
using GraphCompiler.Kernels;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests.Planning
{
    public class FusionPassTests
    {
        private static readonly CompiledModel Model70b = TestSpecs.Compile("llama2-70b");

        [Fact]
        public void Projections_of_one_input_with_one_scheme_become_one_gemm_over_concatenated_weights()
        {
            var gemms = Model70b.Plan.Prefill.Layers[1].Launches.Where(l => l.Modules.Length > 0)
                .ToDictionary(l => l.Modules, l => (GemmKernel)Model70b.Plan.Kernel(l.Kernel));
            Assert.Equal(new[] { "q_proj+k_proj+v_proj", "o_proj", "gate_proj+up_proj", "down_proj" }, gemms.Keys);
            Assert.Equal((8192, 8192 + 2 * 1024), (gemms["q_proj+k_proj+v_proj"].K, gemms["q_proj+k_proj+v_proj"].N));
            Assert.Equal(2 * 28672, gemms["gate_proj+up_proj"].N);
            Assert.Equal((28672, 8192), (gemms["down_proj"].K, gemms["down_proj"].N));
        }

        [Fact]
        public void Both_phases_fuse_rope_and_the_kv_write_into_attention()
        {
            var prefill = Model70b.Plan.Prefill.Layers[1].Launches;
            Assert.Contains(prefill, l => l.Kernel.StartsWith("prefill_attention") && l.Ops.SequenceEqual(new[] { "rope", "kv_cache_write", "attention" }));
            var decode = Model70b.Plan.Decode.Layers[1].Launches;
            Assert.DoesNotContain(decode, l => l.Kernel.StartsWith("rope_"));
            var attention = Assert.Single(decode, l => l.Kernel.StartsWith("decode_attention"));
            Assert.Equal(new[] { "rope", "kv_cache_write", "attention" }, attention.Ops);
            Assert.Equal(new[] { "qkv", "positions" }, attention.Reads);
            Assert.True(((DecodeAttentionKernel)Model70b.Plan.Kernel(attention.Kernel)).WithRope);
        }

        [Fact]
        public void Without_the_emitters_rope_prologue_decode_runs_rope_as_a_kernel_of_its_own()
        {
            var plan = FusionPass.Run(Model70b.Spec, Model70b.Graph, KernelEmitters.Capabilities with { DecodeAttentionRopePrologue = false });
            var decode = plan.Decode.Layers[1].Launches;
            Assert.Contains(decode, l => l.Kernel.StartsWith("rope_") && l.Ops.SequenceEqual(new[] { "rope" }));
            Assert.Contains(decode, l => l.Kernel.StartsWith("decode_attention") && l.Ops.SequenceEqual(new[] { "kv_cache_write", "attention" }));
        }

        [Fact]
        public void Residual_adds_fuse_into_the_o_proj_and_down_proj_epilogues_so_norms_only_normalize()
        {
            var groups = Model70b.Plan.Prefill.Layers;
            // The last layer's down_proj adds the final residual (another graph op), so it groups apart; its kernels are the same.
            Assert.Equal(new[] { (0, 78), (79, 79) }, groups.Select(g => (g.FirstLayer, g.LastLayer)));
            Assert.Equal(groups[0].Launches.Select(l => l.Kernel), groups[1].Launches.Select(l => l.Kernel));
            Assert.Equal("rmsnorm_h8192", groups[0].Launches[0].Kernel);
            Assert.Equal(new[] { "o_proj", "attn_residual" }, groups[0].Launches[3].Ops);
            Assert.Equal(new[] { "gate_proj", "up_proj", "swiglu" }, groups[0].Launches[5].Ops);
            Assert.Equal(new[] { "down_proj", "mlp_residual" }, groups[0].Launches[6].Ops);
            Assert.Equal(new[] { "residual" }, groups[0].Launches[6].Writes);
            Assert.Equal(new[] { "norm" }, Model70b.Plan.Prefill.Epilogue[0].Ops);
            Assert.Equal("rmsnorm_h8192_last_rows", Model70b.Plan.Prefill.Epilogue[0].Kernel);
        }

        [Fact]
        public void A_w8a8_dynamic_gemm_makes_the_norm_before_it_write_fp8_with_per_token_scales()
        {
            string yaml = TestSpecs.Text("llama2-70b").Replace("activation_scale: none", "activation_scale: dynamic");
            var model = ModelCompiler.Compile(GraphCompiler.Spec.SpecParser.Parse("w8a8.yaml", yaml).Spec!);
            var norms = model.Plan.Kernels.OfType<RmsNormKernel>().Where(k => !k.GatherRows).ToList();
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
            var gemms = model.Plan.Decode.Layers[0].Launches.Where(l => l.Modules.Length > 0)
                .ToDictionary(l => l.Modules, l => (GemmKernel)model.Plan.Kernel(l.Kernel));
            Assert.Equal(256 + 2 * 128, gemms["q_proj"].OutputStride);
            Assert.Equal(GraphCompiler.Spec.QuantMethod.Fp8E4M3, gemms["k_proj"].Scheme.Method);
            Assert.All(model.Plan.Decode.Layers[0].Launches.Where(l => l.Kernel.StartsWith("gemm") && l.Ops[0].EndsWith("_proj") && "qkv".Contains(l.Ops[0][0])),
                l => Assert.Equal(new[] { "qkv" }, l.Writes));
        }

        [Fact]
        public void Every_launch_names_a_kernel_of_the_plan_and_lm_head_runs_on_the_decode_tiles()
        {
            foreach (var phase in new[] { Model70b.Plan.Prefill, Model70b.Plan.Decode })
                foreach (var l in phase.Prologue.Concat(phase.Layers.SelectMany(g => g.Launches)).Concat(phase.Epilogue))
                    Assert.NotNull(Model70b.Plan.Kernel(l.Kernel));
            var lmHead = (GemmKernel)Model70b.Plan.Kernel(Model70b.Plan.Prefill.Epilogue.Single(l => l.Modules == "lm_head").Kernel);
            Assert.Equal(GraphCompiler.Spec.TileFamily.GemmDenseDecode, lmHead.Tiles);
            // Per layer: 2 norms, 4 GEMMs (SwiGLU and the residual adds in their epilogues), attention (RoPE and the KV write
            // in its prologue); plus the embedding, final norm and lm_head.
            Assert.Equal(1 + 80 * 7 + 2, Model70b.Plan.Prefill.LaunchesPerStep);
            Assert.Equal(1 + 80 * 7 + 2, Model70b.Plan.Decode.LaunchesPerStep);
        }

        [Fact]
        public void Every_decode_gemm_has_a_batch_twin_in_the_plan_that_differs_only_in_its_tiles()
        {
            var decodeGemms = Model70b.Plan.Decode.InOrder().Select(x => Model70b.Plan.Kernel(x.Launch.Kernel)).OfType<GemmKernel>().Distinct().ToList();
            Assert.Equal(5, decodeGemms.Count);   // qkv, o, gate/up, down, lm_head
            foreach (var g in decodeGemms)
            {
                Assert.True(g.HasBatchTwin);
                var twin = Assert.IsType<GemmKernel>(Model70b.Plan.Kernel(g.Name + "_batch"));
                Assert.Equal(g with { Name = twin.Name, Tiles = g.Tiles.Batch() }, twin);
                Assert.False(twin.HasBatchTwin);
            }
            // No launch names a twin: the runtime swaps it in for steps with more rows than the few-row tile's block_m.
            Assert.DoesNotContain(Model70b.Plan.Decode.InOrder(), x => x.Launch.Kernel.EndsWith("_batch", System.StringComparison.Ordinal));
            Assert.All(Model70b.Plan.Kernels.OfType<GemmKernel>().Where(g => g.Tiles.Phase() == "prefill"), g => Assert.False(g.HasBatchTwin));
        }

        [Fact]
        public void Gemms_of_different_modules_with_one_scheme_and_shape_share_a_kernel()
        {
            // o_proj and down_proj are both K 256 × N 256 fp16 GEMMs adding into the residual when intermediate = hidden.
            string yaml = TestSpecs.Minimal.Replace("intermediate_size: 768", "intermediate_size: 256");
            var model = ModelCompiler.Compile(GraphCompiler.Spec.SpecParser.Parse("shared.yaml", yaml).Spec!);
            var launches = model.Plan.Decode.Layers[0].Launches;
            var o = launches.Single(l => l.Modules == "o_proj");
            var down = launches.Single(l => l.Modules == "down_proj");
            Assert.Equal(o.Kernel, down.Kernel);
            Assert.Equal(GemmEpilogue.AddResidual, ((GemmKernel)model.Plan.Kernel(o.Kernel)).Epilogue);
        }

        [Fact]
        public void Static_and_dynamic_w8a8_gemms_are_different_kernels()
        {
            string yaml = TestSpecs.Minimal.Replace("intermediate_size: 768", "intermediate_size: 256") + @"  overrides:
    - modules: [o_proj]
      scheme: fp8_e4m3
      activation_scale: dynamic
    - modules: [down_proj]
      scheme: fp8_e4m3
      activation_scale: static
";
            var model = ModelCompiler.Compile(GraphCompiler.Spec.SpecParser.Parse("w8a8.yaml", yaml).Spec!);
            var launches = model.Plan.Decode.Layers[0].Launches;
            string o = launches.Single(l => l.Modules == "o_proj").Kernel, down = launches.Single(l => l.Modules == "down_proj").Kernel;
            Assert.NotEqual(o, down);
            Assert.Contains("w8a8d", o);
            Assert.Contains("w8a8s", down);
        }

        [Fact]
        public void Fused_per_tensor_fp8_modules_become_one_gemm_with_per_channel_scales()
        {
            var model = TestSpecs.Compile("coverage-bf16");
            var qkv = (GemmKernel)model.Plan.Kernel(model.Plan.Decode.Layers[0].Launches.Single(l => l.Modules == "q_proj+k_proj+v_proj").Kernel);
            Assert.Equal(GraphCompiler.Spec.ScaleGranularity.PerChannel, qkv.Scheme.WeightScale);
            var o = (GemmKernel)model.Plan.Kernel(model.Plan.Decode.Layers[0].Launches.Single(l => l.Modules == "o_proj").Kernel);
            Assert.Equal(GraphCompiler.Spec.ScaleGranularity.PerTensor, o.Scheme.WeightScale);
        }
    }
}
