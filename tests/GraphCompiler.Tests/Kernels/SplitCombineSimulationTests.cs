using System.Linq;
using GraphCompiler.Graph;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests.Kernels
{
    /// <summary>
    /// The sm_90 decode kernel's cluster combine as emitted (an owner CTA's items over the splits' pushed partials, 1, 2 or
    /// 4 lanes an item, each serial over every lanes-th split, then shuffle rounds), run on the host by
    /// tests/reference/split_combine_sim.py (a warp at a time as 32 lane threads): for 2 to 16 splits, first, middle and last
    /// owners, a whole group's columns or fewer, maxes up to 2^60 apart, each owned item is stored once within 1e-5 of
    /// float64 and nothing else is stored. Dropping a shuffle round, the lanes' stride over the splits, the max's rounds,
    /// the one-lane store or the last owner's item count fails it.
    /// </summary>
    public class SplitCombineSimulationTests
    {
        [HostToolsFact]
        public void The_cluster_combine_gives_float64_attention_for_every_split_count_and_stores_each_owned_item_once()
        {
            var kernels = new[] { "llama2-70b", "llama2-7b", "small-llama-fp8kv" }
                .SelectMany(spec => TestSpecs.Compile(spec).KernelsFor(GpuArch.Sm90).Where(k => k.Family == KernelFamily.DecodeAttention))
                .Select(k => (k.Name, k.Source!)).ToList();
            Assert.Equal(4, kernels.Select(k => k.Name).Distinct().Count());   // GQA 8 (4 warps and the wide twin's 8), 1 and 2; d 128 and 64
            HostToolsFactAttribute.Run("split_combine_sim.py", kernels);
        }
    }
}
