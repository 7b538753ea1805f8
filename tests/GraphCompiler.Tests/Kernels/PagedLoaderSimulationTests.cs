using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Compilation;
using GraphCompiler.Graph;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests.Kernels
{
    /// <summary>
    /// The attention kernels' paged K/V loader (<c>load_kv</c>, <c>load_kv_ids</c>) as emitted, run on the host by
    /// tests/reference/loader_sim.py (g++, a thread per loader, a warp's shuffles as barriers): every (row, chunk) of a tile's
    /// K and V copied once, to its swizzled slot, from the row's block, and nothing from past the context. The decode
    /// kernels' warps also run their whole schedule (<c>WarpTiles</c>: split z's tiles z, z + splits, …, block ids read into
    /// the lanes before the context length, 32 tiles' worth a round): every position of a context copied once over the
    /// splits, for several split counts and lengths past one and two rounds, and no table entry past the context used.
    /// </summary>
    public class PagedLoaderSimulationTests
    {
        [HostToolsFact]
        public void The_paged_loader_copies_every_row_of_a_tile_once_from_its_block_and_the_decode_splits_every_position_once()
        {
            var kernels = new List<(string Name, string Source)>();
            void Emit(CompiledModel model, GpuArch arch, string label) =>
                kernels.AddRange(model.KernelsFor(arch).Where(k => k.IsEmitted && k.Family is KernelFamily.PrefillAttention or KernelFamily.DecodeAttention)
                    .Select(k => ($"{label}-{arch.Name}-{k.Name}", k.Source!)));
            Emit(TestSpecs.Compile("llama2-70b"), GpuArch.Sm90, "shipped");        // FP8 cache: the ring's 384 loaders, code tiles; decode's wide twin 8 warps
            Emit(TestSpecs.Compile("llama2-70b-gptq"), GpuArch.Sm80, "shipped");   // fp16 cache: mma.sync's 128 loaders (fixed passes, two a page), decode's 32
            // A tile of 48 keys over blocks of 32 starts mid-block every other tile and spans up to three blocks.
            string straddling = TestSpecs.Text("llama2-70b-gptq").Replace("  block_size: 16", "  block_size: 32")
                .Replace("prefill_attention: { block_m: 192, block_n: 64,", "prefill_attention: { block_m: 192, block_n: 48,")
                .Replace("decode_attention: { block_n: 64, warps: 4, stages: 3, splits: 0 }", "decode_attention: { block_n: 96, warps: 2, stages: 2, splits: 0 }");
            var (parse, model) = ModelCompiler.Compile("straddling.yaml", straddling);
            Assert.True(model != null, string.Join("\n", parse.Diagnostics));
            Emit(model!, GpuArch.Sm90, "straddling");
            // Pages of 128 tokens: mma.sync's 64-key tiles lie inside one page, from its start or its middle.
            string onePage = TestSpecs.Text("llama2-70b-gptq").Replace("  block_size: 16", "  block_size: 128");
            var (onePageParse, onePageModel) = ModelCompiler.Compile("one-page.yaml", onePage);
            Assert.True(onePageModel != null, string.Join("\n", onePageParse.Diagnostics));
            Emit(onePageModel!, GpuArch.Sm80, "one-page");
            Assert.Equal(10, kernels.Count);   // the two sm_90 specs' wide decode twins too
            Assert.Contains(kernels, k => k.Source.Contains("constexpr int kWarpKeys = 48;"));

            int decoders = kernels.Count(k => k.Source.Contains("struct WarpTiles {"));
            Assert.Equal(6, decoders);
            HostToolsFactAttribute.Run("loader_sim.py", kernels, kernels.Count + decoders);   // a decode kernel's schedule is a second check
        }
    }
}
