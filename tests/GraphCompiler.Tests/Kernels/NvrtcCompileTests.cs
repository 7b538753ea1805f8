using System.Linq;
using GraphCompiler.Kernels;
using GraphCompiler.Runtime.Nvrtc;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests.Kernels
{
    /// <summary>Every kernel of every shipped spec compiles with NVRTC for every known architecture, with no GPU and no toolkit headers.</summary>
    public class NvrtcCompileTests
    {
        public static TheoryData<string, string> SpecsAndArchs()
        {
            var data = new TheoryData<string, string>();
            // The coverage specs reach the variants the shipped ones do not: bf16, FP8 outputs, AWQ, act-order, FP8 tables,
            // W8A8 GEMMs with dynamic and static activation scales.
            foreach (var spec in TestSpecs.Shipped.Append("coverage-bf16").Append("small-llama-w8a8"))
                foreach (var arch in GpuArch.All)
                    data.Add(spec, arch.Name);
            return data;
        }

        [NvrtcTheory]
        [MemberData(nameof(SpecsAndArchs))]
        public void Every_emitted_kernel_compiles_to_a_cubin(string spec, string arch)
        {
            var kernels = TestSpecs.Compile(spec).KernelsFor(GpuArch.Find(arch)!).Where(k => k.IsEmitted).ToList();
            Assert.NotEmpty(kernels);
            AssertAllCompile(kernels, arch);
        }

        /// <summary>One GPU's kernels of a split model: fewer heads (down to one KV head) and narrower GEMMs than any shipped spec.</summary>
        [NvrtcTheory]
        [InlineData("llama2-70b", 2, "sm_90")]
        [InlineData("llama2-70b", 8, "sm_90")]
        [InlineData("llama2-70b-gptq", 4, "sm_80")]
        [InlineData("small-llama", 2, "sm_89")]
        public void Every_kernel_of_one_rank_of_a_split_model_compiles(string spec, int ranks, string arch)
        {
            var rank = Compilation.ModelCompiler.Compile(TestSpecs.Compile(spec).Spec with { Parallel = new ParallelSpec(ranks) }).Rank;
            var kernels = rank.KernelsFor(GpuArch.Find(arch)!).Where(k => k.IsEmitted).ToList();
            Assert.Contains(kernels, k => k.Name.Contains($"_kv{rank.Spec.Model.NumKeyValueHeads}_", System.StringComparison.Ordinal));
            AssertAllCompile(kernels, arch);
        }

        /// <summary>A plan made without the decode-attention RoPE prologue (the capability the emitter declares) still runs:
        /// its RoPE kernel and plain decode attention compile.</summary>
        [NvrtcTheory]
        [InlineData("small-llama", "sm_80")]
        [InlineData("coverage-bf16", "sm_90")]
        public void Without_the_decode_rope_prologue_the_rope_kernel_and_plain_decode_attention_compile(string spec, string arch)
        {
            var model = TestSpecs.Compile(spec);
            var plan = Graph.FusionPass.Run(model.Spec, model.Graph, KernelEmitters.Capabilities with { DecodeAttentionRopePrologue = false });
            var tiles = model.Spec.Tiles.For(GpuArch.Find(arch)!);
            // (An FP8-output decode attention stays pending, with or without RoPE.)
            var fused = plan.Kernels.Where(k => k is Graph.RopeKernel or Graph.DecodeAttentionKernel { WithRope: false, WriteFp8: false }).ToList();
            Assert.Contains(fused, k => k is Graph.RopeKernel);
            Assert.Contains(fused, k => k is Graph.DecodeAttentionKernel);
            var kernels = fused.Select(k => KernelEmitters.Emit(k, tiles)).ToList();
            Assert.All(kernels, k => Assert.True(k.IsEmitted, k.PendingReason));
            Assert.All(kernels.Select(k => NvrtcCompiler.Compile(k, arch)), r => Assert.True(r.Succeeded, r.Log));
        }

        /// <summary>wgmma kernels (block barrier, ring, warp-specialized; both caches) are sm_90a's: asked for sm_90, the
        /// compiler takes sm_90a; and ptxas keeps their wgmmas asynchronous. Where accumulators are live across a pipeline
        /// stage in too few registers it completes each wgmma where it is issued and says so in the log (C7515, "Potential
        /// Performance Loss"): the ring with P·V beside the next S did that and ran 12–19% slower (tests/bench/NOTES.md).</summary>
        [NvrtcTheory]
        [InlineData("llama2-70b", 192, 64, 12, 2, false, false)]
        [InlineData("llama2-70b", 192, 64, 12, 4, false, false)]
        [InlineData("llama2-70b", 128, 64, 8, 3, false, false)]
        [InlineData("llama2-70b-gptq", 192, 64, 12, 4, false, false)]
        [InlineData("llama2-70b-gptq", 192, 64, 12, 4, false, true)]
        [InlineData("small-llama", 64, 64, 4, 4, false, false)]
        [InlineData("small-llama", 64, 64, 4, 2, false, true)]
        [InlineData("llama2-70b", 128, 64, 12, 4, true, false)]
        [InlineData("llama2-70b", 128, 64, 12, 4, true, true)]
        [InlineData("llama2-70b", 128, 128, 12, 2, true, false)]
        [InlineData("llama2-70b-gptq", 128, 64, 12, 2, true, false)]
        [InlineData("llama2-70b-gptq", 128, 128, 12, 3, true, false)]
        [InlineData("llama2-70b-gptq", 128, 128, 12, 2, true, true)]
        [InlineData("small-llama", 64, 64, 8, 3, true, false)]
        public void A_wgmma_prefill_kernel_is_compiled_for_sm_90a_with_its_wgmmas_asynchronous(string spec, int blockM, int blockN, int warps, int stages, bool warpSpecialized,
            bool qInRegisters)
        {
            var model = TestSpecs.Compile(spec);
            var mma = warpSpecialized ? AttentionMma.WgmmaWarpSpecialized : AttentionMma.Wgmma;
            var source = TestSpecs.EmitPrefill(model, GpuArch.Sm90, new PrefillAttentionTiles(blockM, blockN, warps, stages, mma, qInRegisters));
            Assert.True(source.ArchSpecific);
            Assert.Contains("wgmma.mma_async", source.Source);
            var result = NvrtcCompiler.Compile(source, "sm_90");
            Assert.True(result.Succeeded, result.Log);
            Assert.Equal("sm_90a", result.Arch);
            Assert.DoesNotContain("Potential Performance Loss", result.Log);
        }

        /// <summary>No prefill tiling keeps a per-thread array in local memory: every array the kernel indexes is indexed in
        /// fully unrolled loops, so it stays in registers. At 128 keys the softmax's halving loop did not unroll and its
        /// 16 partial sums went through local memory every tile (wgmma_ws 128 × 128 ran 28–64% slower on the H200). The
        /// frame allowed is sincosf's 28-byte scratch for huge angles (32 aligned) and the slots of whatever ptxas spilled.</summary>
        [NvrtcTheory]
        [InlineData("llama2-70b-gptq", 128, 128, 12, 2, AttentionMma.WgmmaWarpSpecialized)]
        [InlineData("llama2-70b", 128, 128, 12, 2, AttentionMma.WgmmaWarpSpecialized)]
        [InlineData("llama2-70b-gptq", 128, 128, 8, 2, AttentionMma.Wgmma)]
        [InlineData("llama2-70b-gptq", 192, 64, 12, 4, AttentionMma.Wgmma)]
        [InlineData("llama2-70b-gptq", 128, 128, 8, 2, AttentionMma.MmaSync)]
        [InlineData("llama2-70b-gptq", 128, 48, 4, 2, AttentionMma.MmaSync)]
        public void A_prefill_kernel_keeps_no_array_in_local_memory(string spec, int blockM, int blockN, int warps, int stages, AttentionMma mma)
        {
            var model = TestSpecs.Compile(spec);
            var result = NvrtcCompiler.Compile(TestSpecs.EmitPrefill(model, GpuArch.Sm90, new PrefillAttentionTiles(blockM, blockN, warps, stages, mma)), "sm_90", ptxasInfo: true);
            Assert.True(result.Succeeded, result.Log);
            var m = System.Text.RegularExpressions.Regex.Match(result.Log, @"(\d+) bytes stack frame, (\d+) bytes spill stores");
            Assert.True(m.Success, result.Log);
            int frame = int.Parse(m.Groups[1].Value), spilled = int.Parse(m.Groups[2].Value);
            Assert.True(frame <= 32 + (spilled + 7) / 8 * 8, $"{frame} bytes stack frame with {spilled} bytes spilled: an array went to local memory\n{result.Log}");
        }

        /// <summary>The check above can fail: each 70B spec's ring kernel with its wait for S taken out reads accumulators while the wgmma
        /// runs, and NVRTC's log carries ptxas's note that it serialized them (C7514).</summary>
        [NvrtcTheory]
        [InlineData("llama2-70b-gptq")]
        [InlineData("llama2-70b")]
        public void Serialized_wgmmas_show_in_the_compile_log(string spec)
        {
            var kernel = TestSpecs.Compile(spec).KernelsFor(GpuArch.Sm90).Single(k => k.Family == Graph.KernelFamily.PrefillAttention);
            const string wait = "        scores_wait(s);\n";
            Assert.Equal(1, kernel.Source!.Split(wait).Length - 1);
            var result = NvrtcCompiler.Compile(kernel with { Source = kernel.Source.Replace(wait, "") }, "sm_90");
            Assert.True(result.Succeeded, result.Log);
            Assert.Contains("Potential Performance Loss", result.Log);
        }

        [NvrtcTheory]
        [InlineData("sm_90")]
        public void A_compile_error_reports_the_offending_emitted_line(string arch)
        {
            var good = TestSpecs.Compile("small-llama").KernelsFor(GpuArch.Sm90).First(k => k.IsEmitted);
            var broken = good with { Source = good.Source!.Replace("const int t = blockIdx.x;", "const int t = blockIdx.x + undefined_symbol;") };
            var result = NvrtcCompiler.Compile(broken, arch);
            Assert.False(result.Succeeded);
            Assert.Contains("undefined_symbol", result.Log);
            var line = Assert.Single(result.OffendingLines);
            int number = broken.Source!.Split('\n').ToList().FindIndex(l => l.Contains("undefined_symbol")) + 1;
            Assert.StartsWith(number.ToString().PadLeft(5) + " | ", line);
        }

        [NvrtcTheory]
        [InlineData(80)]
        [InlineData(90)]
        public void Nvrtc_can_target_the_architectures_the_specs_tile_for(int cc)
        {
            Assert.Contains(cc, NvrtcCompiler.SupportedArchs());
        }

        private static void AssertAllCompile(System.Collections.Generic.IReadOnlyList<KernelSource> kernels, string arch)
        {
            var failures = kernels.AsParallel().Select(k => NvrtcCompiler.Compile(k, arch)).Where(r => !r.Succeeded)
                .Select(r => $"{r.Name}:\n{string.Join("\n", r.OffendingLines)}\n{r.Log}").ToList();
            Assert.True(failures.Count == 0, string.Join("\n\n", failures));
        }
    }
}
