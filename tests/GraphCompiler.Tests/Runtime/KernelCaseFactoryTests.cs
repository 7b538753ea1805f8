using System;
using System.Linq;
using GraphCompiler.Runtime.SelfTest;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests.Runtime
{
    /// <summary>The selftest's cases, checked on the CPU so a device run cannot fail on a binding mistake.</summary>
    public class KernelCaseFactoryTests
    {
        [Theory]
        [InlineData("small-llama")]
        [InlineData("small-llama-fp8kv")]
        [InlineData("coverage-bf16")]
        public void Every_case_binds_exactly_the_kernels_parameters(string spec)
        {
            var model = TestSpecs.Compile(spec);
            var factory = new KernelCaseFactory(model.Spec, 1);
            foreach (var source in model.KernelsFor(GpuArch.Sm90).Where(k => k.IsEmitted))
            {
                var cases = factory.For(model.Kernel(source.Name)).ToList();
                Assert.NotEmpty(cases);
                foreach (var c in cases)
                    Assert.Equal(source.Parameters.Select(p => p.Name).OrderBy(n => n), c.Arrays.Keys.Concat(c.Scalars.Keys).OrderBy(n => n));
            }
        }

        [Fact]
        public void The_ragged_verification_step_gives_every_sequence_a_context_that_holds_its_step_tokens()
        {
            // `selftest --kernels prefill_attention,decode_attention --seed 9352` drew a context of 3 for a sequence bringing
            // 5 tokens when contexts and step counts were paired in opposite orders (the case stopped on a negative position).
            var model = TestSpecs.Compile("small-llama-fp8kv");
            var factory = new KernelCaseFactory(model.Spec, 9352);
            var labels = model.KernelsFor(GpuArch.Sm90)
                .Where(k => k.IsEmitted && k.Family is GraphCompiler.Graph.KernelFamily.PrefillAttention or GraphCompiler.Graph.KernelFamily.DecodeAttention)
                .SelectMany(k => factory.For(model.Kernel(k.Name)).Select(c => c.Label)).ToList();
            Assert.Contains(labels, l => l.Contains("step tokens 1..5"));
        }

        [Fact]
        public void Decode_attention_tuning_adds_the_benchmarks_uniform_steps_with_the_candidates_splits()
        {
            // small-llama: max_seq_len 1024, max_num_seqs 16, so 1 × 1024, 4 × 512 and 16 × 256 after the selftest's four.
            var model = TestSpecs.Compile("small-llama");
            var kernel = model.Plan.Kernels.OfType<GraphCompiler.Graph.DecodeAttentionKernel>().Single();
            var factory = new KernelCaseFactory(model.Spec, 1);
            var fixedSplits = new DecodeAttentionTiles(64, 4, 2, 3);
            var labels = factory.DecodeAttentionTuning(kernel, fixedSplits).Select(c => c.Label).ToList();
            Assert.Equal(factory.DecodeAttention(kernel, fixedSplits).Count() + 3, labels.Count);
            Assert.Equal(new[] { "S=1 context 1024..1024 splits=3", "S=4 context 512..512 splits=3", "S=16 context 256..256 splits=3" }, labels.TakeLast(3));
        }

        [Fact]
        public void The_bench_times_each_decode_point_on_the_kernel_the_step_launches_and_tunes_the_wide_twin_on_its_own_points()
        {
            // llama2-70b on an H200's 132 SMs: its wide twin (2 CTAs an SM) takes steps of up to 33 sequences (8 KV heads).
            var model = TestSpecs.Compile("llama2-70b");
            var kernels = model.Plan.Kernels.OfType<GraphCompiler.Graph.DecodeAttentionKernel>().ToList();
            var (narrow, wide) = (kernels.Single(k => !k.Wide), kernels.Single(k => k.Wide));
            var factory = new KernelCaseFactory(model.Spec, 1);
            Assert.Equal(new[] { false, false, true }, new[] { 1, 16, 64 }.Select(b => factory.LaunchedFor(narrow, b)));
            Assert.Equal(new[] { true, true, false }, new[] { 1, 16, 64 }.Select(b => factory.LaunchedFor(wide, b)));
            // Tuning the twin adds 1 × 4096 and 16 × 2048, not 64 × 1024, which it never serves.
            var tiles = model.Spec.Tiles.For(GpuArch.Sm90).DecodeAttentionWide!;
            var labels = factory.DecodeAttentionTuning(wide, tiles).Select(c => c.Label).ToList();
            Assert.Equal(factory.DecodeAttention(wide, tiles).Count() + 2, labels.Count);
            Assert.DoesNotContain(labels, l => l.StartsWith("S=64 context 1024..1024", StringComparison.Ordinal));
        }

        [Fact]
        public void Row_counts_cover_one_odd_sizes_and_the_specs_decode_and_prefill_steps()
        {
            var factory = new KernelCaseFactory(TestSpecs.Compile("llama2-70b").Spec, 1);
            Assert.Equal(new[] { 1, 7, 64, 77, 1000, 2048 }, factory.RowCounts);
        }

        [Fact]
        public void References_fill_every_output_of_every_case()
        {
            var model = TestSpecs.Compile("coverage-bf16");
            var factory = new KernelCaseFactory(model.Spec, 2);
            foreach (var source in model.KernelsFor(GpuArch.Sm90).Where(k => k.IsEmitted))
                foreach (var c in factory.For(model.Kernel(source.Name)).Take(2))
                {
                    var arrays = c.Arrays.ToDictionary(p => p.Key, p => (Array)p.Value.Clone());
                    foreach (var name in c.WriteOnly)   // poison, as the GPU run does
                        if (arrays[name] is ushort[] u) Array.Fill(u, (ushort)0xFFFF);
                    c.Reference(arrays);
                    foreach (var output in c.Outputs.Where(o => o.Kind == OutputKind.Activation))
                    {
                        var values = (ushort[])arrays[output.Parameter];
                        // A large GEMM's reference fills only the rows it checks.
                        var rows = output.CheckedRows ?? Enumerable.Range(0, values.Length / Math.Max(1, output.RowWidth)).ToArray();
                        if (output.CheckedRows is null) Assert.DoesNotContain((ushort)0xFFFF, values);
                        else Assert.All(rows, r => Assert.DoesNotContain((ushort)0xFFFF, values.Skip(r * output.RowWidth).Take(output.RowWidth)));
                    }
                }
        }

        [Fact]
        public void An_embedding_case_counts_only_the_rows_it_gathers()
        {
            var model = TestSpecs.Compile("small-llama");
            var embed = model.Plan.Kernels.OfType<GraphCompiler.Graph.EmbeddingGatherKernel>().Single();
            var c = new KernelCaseFactory(model.Spec, 3).For(embed).First(x => x.Label == "T=7");
            Assert.Equal(7 * (4L + 256 * 4), c.MinimumBytes);
        }

        [Fact]
        public void A_gemm_case_sizes_its_stream_k_launch_for_the_gpu_and_checks_sampled_rows_of_a_large_step()
        {
            var model = TestSpecs.Compile("small-llama");
            var down = model.Plan.Kernels.OfType<GraphCompiler.Graph.GemmKernel>().First(k => k.K == 768 && k.Tiles.SpecName().EndsWith("_prefill"));
            var cases = new KernelCaseFactory(model.Spec, 4, GpuArch.Sm80, multiprocessors: 108).For(down).ToList();
            Assert.Equal(new[] { "M=77", "M=256", "M=1024" }, cases.Select(c => c.Label.Split(' ')[0]));
            var large = cases[2];
            var output = large.Outputs.First(o => o.Kind == OutputKind.Activation);
            Assert.Equal(64, output.CheckedRows!.Length);
            Assert.Contains(0, output.CheckedRows);
            Assert.Contains(1023, output.CheckedRows);
            Assert.Equal(2.0 * 1024 * 768 * 256, large.Flops);
            Assert.True(large.Grid["gemm_ctas"] >= 1);
            Assert.Equal(0, ((int[])large.Arrays["tile_counters"]).Sum());
        }
    }
}
