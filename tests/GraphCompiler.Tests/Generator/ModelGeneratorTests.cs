using System.Linq;
using GraphCompiler.Generator;
using Microsoft.CodeAnalysis;
using Snapshooter;
using Snapshooter.Xunit;

namespace GraphCompiler.Tests.Generator
{
    public class ModelGeneratorTests
    {
        [Fact]
        public void Every_shipped_spec_generates_a_model_class_that_compiles()
        {
            var (result, output) = GeneratorHarness.Run(TestSpecs.Shipped.Select(GeneratorHarness.Shipped).ToArray());
            Assert.Empty(result.Diagnostics);
            Assert.Equal(TestSpecs.Shipped.Length + 1, result.GeneratedTrees.Length);   // one class per spec + the catalog
            Assert.Empty(output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
            Assert.NotNull(output.GetTypeByMetadataName("GraphCompiler.Models.Llama2_70b"));
            Assert.NotNull(output.GetTypeByMetadataName("GraphCompiler.Models.SmallLlama"));
            Assert.NotNull(output.GetTypeByMetadataName("GraphCompiler.Models.SpecCatalog"));
        }

        [Theory]
        [InlineData("small-llama")]
        [InlineData("llama2-70b")]
        public void Generated_model_class_matches_its_snapshot(string name)
        {
            var (result, _) = GeneratorHarness.Run(GeneratorHarness.Shipped(name));
            var tree = result.GeneratedTrees.Single(t => t.FilePath.EndsWith(name + ".g.cs"));
            Snapshot.Match(tree.GetText().ToString(), SnapshotNameExtension.Create(name));
        }

        [Fact]
        public void Load_is_generated_only_for_a_project_that_references_the_runtime()
        {
            foreach (bool runtime in new[] { true, false })
            {
                var (result, output) = GeneratorHarness.Run(runtime, GeneratorHarness.Shipped("small-llama"));
                string source = result.GeneratedTrees.Single(t => t.FilePath.EndsWith("small-llama.g.cs")).GetText().ToString();
                Assert.Empty(output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
                if (runtime) Assert.Contains("public static global::GraphCompiler.Runtime.Generation.LanguageModel Load(string path, global::GraphCompiler.Runtime.Generation.LoadOptions? options = null)", source);
                else Assert.DoesNotContain("LanguageModel", source);
            }
        }

        [Fact]
        public void A_broken_spec_fails_the_build_with_a_diagnostic_at_its_line_in_the_yaml_file()
        {
            string yaml = TestSpecs.Minimal.Replace("num_attention_heads: 4", "num_attention_heads: 5");
            var (result, _) = GeneratorHarness.Run(new GeneratorHarness.InMemoryText("/repo/specs/broken.yaml", yaml));
            var d = Assert.Single(result.Diagnostics);
            Assert.Equal("GC0010", d.Id);
            Assert.Equal(DiagnosticSeverity.Error, d.Severity);
            var span = d.Location.GetLineSpan();
            Assert.Equal("/repo/specs/broken.yaml", span.Path);
            Assert.Equal(TestSpecs.LineOf(yaml, "num_attention_heads") - 1, span.StartLinePosition.Line);   // 0-based in Roslyn
            Assert.Equal(yaml.Split('\n')[span.StartLinePosition.Line].IndexOf('5'), span.StartLinePosition.Character);
            Assert.DoesNotContain(result.GeneratedTrees, t => t.FilePath.EndsWith("broken.g.cs"));
        }

        [Fact]
        public void Every_error_of_a_spec_is_reported_not_only_the_first()
        {
            string yaml = TestSpecs.Minimal.Replace("vocab_size: 1000", "vocab_size: 1000\n  hiden_size: 3")
                + "kv_cache:\n  dtype: fp9\nlimits:\n  max_num_seqs: -1\n";
            var (result, _) = GeneratorHarness.Run(new GeneratorHarness.InMemoryText("/repo/specs/many.yaml", yaml));
            Assert.Equal(new[] { "GC0003", "GC0006", "GC0007" }, result.Diagnostics.Select(d => d.Id).OrderBy(x => x));
        }

        [Fact]
        public void An_unrelated_edit_reruns_nothing()
        {
            var driver = GeneratorHarness.NewDriver(GeneratorHarness.Shipped("small-llama"));
            var compilation = GeneratorHarness.NewCompilation("class A { }");
            driver = driver.RunGenerators(compilation);
            driver = driver.RunGenerators(compilation.AddSyntaxTrees(Microsoft.CodeAnalysis.CSharp.CSharpSyntaxTree.ParseText("class B { }")));
            var run = driver.GetRunResult().Results.Single();
            foreach (var step in new[] { ModelGenerator.SpecStepName, ModelGenerator.CatalogStepName })
                Assert.All(run.TrackedSteps[step].SelectMany(s => s.Outputs),
                    o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{step}: {o.Reason}"));
        }

        [Fact]
        public void Editing_one_spec_regenerates_only_that_spec()
        {
            var small = GeneratorHarness.Shipped("small-llama");
            var seven = GeneratorHarness.Shipped("llama2-7b");
            var driver = GeneratorHarness.NewDriver(small, seven).RunGenerators(GeneratorHarness.NewCompilation());
            var edited = new GeneratorHarness.InMemoryText(small.Path, TestSpecs.Text("small-llama").Replace("max_num_seqs: 16", "max_num_seqs: 8"));
            driver = driver.ReplaceAdditionalText(small, edited).RunGenerators(GeneratorHarness.NewCompilation());
            var outputs = driver.GetRunResult().Results.Single().TrackedSteps[ModelGenerator.SpecStepName].SelectMany(s => s.Outputs).ToList();
            Assert.Single(outputs, o => o.Reason == IncrementalStepRunReason.Modified);
            Assert.Contains(outputs, o => o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged);
        }

        [Fact]
        public void Baked_kernels_are_the_kernels_the_compiler_emits_at_run_time()
        {
            foreach (var arch in new[] { "sm_80", "sm_89", "sm_90" })
            {
                var baked = GraphCompiler.Models.Llama2_70b.BakedKernels(arch)!;
                var emitted = TestSpecs.Compile("llama2-70b").KernelsFor(GraphCompiler.Spec.GpuArch.Find(arch)!);
                Assert.Equal(emitted, baked);
            }
            Assert.Null(GraphCompiler.Models.Llama2_70b.BakedKernels("sm_86"));
        }
    }
}
