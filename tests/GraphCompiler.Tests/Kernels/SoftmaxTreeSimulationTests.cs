using System.Linq;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests.Kernels
{
    /// <summary>
    /// The prefill kernel's softmax tree (<c>fold_parts</c>) as emitted, run on the host by tests/reference/part_tree_sim.py:
    /// a row's block_n / 8 parts all reach its max and its sum, whether or not their count is a power of two (the halving
    /// loop it replaces dropped a part at block_n 48, 80, 96 and 112).
    /// </summary>
    public class SoftmaxTreeSimulationTests
    {
        [HostToolsFact]
        public void The_softmax_folds_every_part_of_a_row_at_every_block_n()
        {
            var model = TestSpecs.Compile("llama2-70b-gptq");
            var tilings = new[]
            {
                new PrefillAttentionTiles(128, 16, 4, 2), new PrefillAttentionTiles(128, 48, 4, 2), new PrefillAttentionTiles(128, 80, 4, 2),
                new PrefillAttentionTiles(192, 64, 12, 4, AttentionMma.Wgmma),
                new PrefillAttentionTiles(128, 96, 12, 2, AttentionMma.WgmmaWarpSpecialized),
                new PrefillAttentionTiles(128, 128, 12, 2, AttentionMma.WgmmaWarpSpecialized),
            };
            var kernels = tilings.Select((t, i) =>
                ($"prefill-{i}-block_n-{t.BlockN}", TestSpecs.EmitPrefill(model, GpuArch.Sm90, t).Source!)).ToList();

            string output = HostToolsFactAttribute.Run("part_tree_sim.py", kernels);
            Assert.Contains(": 6 parts, 0 failures", output);
            Assert.Contains(": 16 parts, 0 failures", output);
        }
    }
}
