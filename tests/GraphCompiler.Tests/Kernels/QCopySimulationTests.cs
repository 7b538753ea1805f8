using System.Collections.Generic;
using GraphCompiler.Spec;
using Xunit;

namespace GraphCompiler.Tests.Kernels
{
    /// <summary>
    /// The prefill kernel's copied Q prologue (the block-barrier loop over an fp16/bf16 cache) as emitted, run on the host by
    /// tests/reference/q_copy_sim.py (g++, a CTA of host threads): each warp's Q rows copied into their swizzled places and
    /// rotated once with their own row's angles of their own pair, rows past the tile zeros, every copy read inside the step's
    /// buffers and landed by the cp.async waits as the hardware orders them, and the angles staged in the K/V stage the first
    /// tiles leave free, no two warps' in the same bytes, in one round or several.
    /// </summary>
    public class QCopySimulationTests
    {
        [HostToolsFact]
        public void Each_warp_rotates_its_own_q_rows_with_their_angles_staged_in_the_free_stage()
        {
            var gptq = TestSpecs.Compile("llama2-70b-gptq");
            var kernels = new List<(string Name, string Source)>
            {
                ("llama2-70b-gptq-sm_80", TestSpecs.EmitPrefill(gptq, GpuArch.Sm80).Source!),                                          // the 70B specs' mma.sync tiles
                ("mma-256", TestSpecs.EmitPrefill(gptq, GpuArch.Sm80, new PrefillAttentionTiles(256, 64, 8, 2)).Source!),              // the angles in two rounds
                ("mma-3-stages", TestSpecs.EmitPrefill(gptq, GpuArch.Sm80, new PrefillAttentionTiles(128, 64, 4, 3)).Source!),          // two tile groups after Q's
                ("wgmma-128", TestSpecs.EmitPrefill(gptq, GpuArch.Sm90, new PrefillAttentionTiles(128, 64, 8, 2, AttentionMma.Wgmma)).Source!),  // wgmma's swizzle
                ("small-llama-sm_80", TestSpecs.EmitPrefill(TestSpecs.Compile("small-llama"), GpuArch.Sm80).Source!),                 // head_dim 64
            };
            Assert.All(kernels, k => Assert.Contains("copy_q(J, warp_row0);", k.Source));

            string output = HostToolsFactAttribute.Run("q_copy_sim.py", kernels);
            Assert.Contains("8 warps of 32 rows, 16-row rounds", output);
            Assert.Contains("4 warps of 32 rows, 32-row rounds", output);
            Assert.Contains("3 stages", output);
        }
    }
}
