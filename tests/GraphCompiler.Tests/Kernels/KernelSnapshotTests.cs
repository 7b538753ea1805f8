using System.Linq;
using GraphCompiler.Spec;
using Snapshooter;
using Snapshooter.Xunit;

namespace GraphCompiler.Tests.Kernels
{
    /// <summary>Pins the text of every kernel emitted for llama2-70b (sm_90 tiles) and the small model (sm_80 tiles).</summary>
    public class KernelSnapshotTests
    {
        public static TheoryData<string, string, string> Kernels()
        {
            var data = new TheoryData<string, string, string>();
            foreach (var (spec, arch) in new[] { ("llama2-70b", GpuArch.Sm90), ("small-llama", GpuArch.Sm80) })
                foreach (var k in TestSpecs.Compile(spec).KernelsFor(arch).Where(k => k.IsEmitted))
                    data.Add(spec, arch.Name, k.Name);
            return data;
        }

        [Theory]
        [MemberData(nameof(Kernels))]
        public void Emitted_kernel_matches_its_snapshot(string spec, string arch, string kernel)
        {
            var source = TestSpecs.Compile(spec).KernelsFor(GpuArch.Find(arch)!).Single(k => k.Name == kernel).Source!;
            Snapshot.Match(source, SnapshotNameExtension.Create(spec, arch, kernel));
        }

        [Fact]
        public void Emission_is_deterministic()
        {
            var a = TestSpecs.Compile("llama2-70b").KernelsFor(GpuArch.Sm90).Select(k => k.Source);
            var b = TestSpecs.Compile("llama2-70b").KernelsFor(GpuArch.Sm90).Select(k => k.Source);
            Assert.Equal(a, b);
        }

        [Fact]
        public void Tile_sizes_are_baked_in_as_named_constants_that_say_where_they_come_from()
        {
            var rmsnorm = TestSpecs.Compile("llama2-70b").KernelsFor(GpuArch.Sm90).Single(k => k.Name == "rmsnorm_h8192").Source!;
            Assert.Contains("constexpr int kThreads = 256;  // tiles.sm_90.elementwise.threads", rmsnorm);
            Assert.Contains("constexpr int kHidden = 8192;", rmsnorm);
            Assert.Contains("constexpr float kEps = 9.99999975e-06f;", rmsnorm);
            Assert.DoesNotContain("#include", rmsnorm);
        }

        [Fact]
        public void Rope_inverse_frequencies_are_float32_as_transformers_computes_them()
        {
            var inv = GraphCompiler.Kernels.Elementwise.RopeEmitter.InverseFrequencies(10000.0, 128);
            Assert.Equal(64, inv.Length);
            Assert.Equal(1.0f, inv[0]);
            Assert.Equal((float)(1.0 / System.Math.Pow(10000.0, 2.0 / 128)), inv[1], 6);
            Assert.True(inv.Zip(inv.Skip(1)).All(p => p.First > p.Second));
        }

        [Fact]
        public void Attention_kernels_hold_their_place_in_the_plan_with_launch_shapes_from_the_tiles()
        {
            var kernels = TestSpecs.Compile("llama2-70b").KernelsFor(GpuArch.Sm90);
            var prefill = kernels.Single(k => k.Name.StartsWith("prefill_attention"));
            Assert.False(prefill.IsEmitted);
            Assert.Contains("#4", prefill.PendingReason);
            Assert.Equal((128 * 128 + 2 * 2 * 128 * 128) * 2, prefill.Launch.SharedMemoryBytes);
        }
    }
}
