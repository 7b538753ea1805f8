using System.Linq;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests.Kernels
{
    /// <summary>
    /// The mma.sync prefill kernel's products step through the swizzled Q, K and V tiles by an XOR a k-step
    /// (<c>ldmatrix_lane</c>, <c>chunk_step</c>) instead of swizzling each row and chunk. tests/reference/ldmatrix_address_sim.py
    /// runs the emitted <c>flash_scores</c> and <c>flash_pv</c> on the host for every warp and lane and checks each
    /// ldmatrix's address against ldmatrix's lane contract through the swizzle: one and two 16-row tiles a warp (the
    /// k-steps fully unrolled and by two), 64 and 128 keys, head_dim 64 and 128, fp16 and an FP8 cache's widened tiles.
    /// Pairing a lane with the wrong chunk, the wrong 128-byte line past four k-steps, or V's key tiles at half their
    /// stride each fails it.
    /// </summary>
    public class LdmatrixAddressSimulationTests
    {
        [HostToolsFact]
        public void The_products_xor_stepped_ldmatrix_addresses_are_the_swizzled_rows_and_chunks()
        {
            var kernels = new[]
            {
                ("gptq-128x64", TestSpecs.Compile("llama2-70b-gptq"), GpuArch.Sm80, new PrefillAttentionTiles(128, 64, 4, 2)),
                ("gptq-128x128", TestSpecs.Compile("llama2-70b-gptq"), GpuArch.Sm80, new PrefillAttentionTiles(128, 128, 8, 2)),
                ("fp8-128x64", TestSpecs.Compile("llama2-70b"), GpuArch.Sm80, new PrefillAttentionTiles(128, 64, 4, 2)),
                ("small-d64", TestSpecs.Compile("small-llama"), GpuArch.Sm80, new PrefillAttentionTiles(128, 64, 4, 2)),
            }.Select(k => (k.Item1, TestSpecs.EmitPrefill(k.Item2, k.Item3, k.Item4).Source!)).ToList();
            Assert.All(kernels, k => Assert.Contains("chunk_step(k_lane, ks)", k.Item2));

            HostToolsFactAttribute.Run("ldmatrix_address_sim.py", kernels);   // one "… 0 failures" line a kernel
        }
    }
}
