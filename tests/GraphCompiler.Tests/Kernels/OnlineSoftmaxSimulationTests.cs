using System.Linq;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests.Kernels
{
    /// <summary>
    /// The prefill kernel's online softmax with its lazy rescale, as emitted, run on the host by
    /// tests/reference/online_softmax_sim.py (a warp of 32 lane threads, the harness standing in for the tensor cores): its
    /// attention matches float64 within 2e-5 whether a row's reference max stays put, moves mid-row or jumps by 2^100 in the
    /// last tile, p never exceeds 2^kLazyRescale, and only spread scores move references. Both forms: the softmax that
    /// rescales O itself (mma.sync, the ring) and the one whose caller rescales once P·V has landed (warp specialization),
    /// with one and two 16-row tiles a warp and 64 and 128 keys a tile. Dropping the sum's factor, skipping O's branch or
    /// doubling the bound fails it.
    /// </summary>
    public class OnlineSoftmaxSimulationTests
    {
        [HostToolsFact]
        public void The_lazily_rescaled_softmax_gives_float64_attention_and_keeps_p_below_its_bound()
        {
            var model = TestSpecs.Compile("llama2-70b-gptq");
            var tilings = new[]
            {
                (GpuArch.Sm80, new PrefillAttentionTiles(128, 64, 4, 2)),
                (GpuArch.Sm80, new PrefillAttentionTiles(128, 128, 8, 2)),
                (GpuArch.Sm90, new PrefillAttentionTiles(192, 64, 12, 4, AttentionMma.Wgmma)),
                (GpuArch.Sm90, new PrefillAttentionTiles(128, 128, 12, 3, AttentionMma.WgmmaWarpSpecialized)),
            };
            var kernels = tilings.Select((t, i) =>
                ($"prefill-{i}-{t.Item2.Mma}-{t.Item2.BlockM}x{t.Item2.BlockN}", TestSpecs.EmitPrefill(model, t.Item1, t.Item2).Source!)).ToList();

            string output = HostToolsFactAttribute.Run("online_softmax_sim.py", kernels);
            Assert.Equal(3, output.Split('\n').Count(line => line.Contains("(flash_softmax) wide:") && !line.Contains("references moved 0")));
            Assert.Single(output.Split('\n'), line => line.Contains("(softmax_scores) wide:") && !line.Contains("references moved 0"));
        }
    }
}
