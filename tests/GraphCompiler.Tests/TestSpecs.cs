using System;
using System.IO;
using System.Linq;
using GraphCompiler.Compilation;
using GraphCompiler.Graph;
using GraphCompiler.Kernels;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests
{
    /// <summary>The shipped specs and small helpers for writing spec variations in tests.</summary>
    public static class TestSpecs
    {
        public static readonly string[] Shipped = { "llama2-70b", "llama2-70b-gptq", "llama2-7b", "llama2-13b", "small-llama" };

        public static string PathOf(string name) => Path.Combine(AppContext.BaseDirectory, "specs", name + ".yaml");

        public static string Text(string name) => File.ReadAllText(PathOf(name));

        /// <summary>A checkpoint or file under tests/fixtures, as copied beside the test assembly.</summary>
        public static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", name);

        public static CompiledModel Compile(string name)
        {
            var (parse, model) = ModelCompiler.Compile(PathOf(name), Text(name));
            Assert.True(model != null, string.Join("\n", parse.Diagnostics));
            return model!;
        }

        /// <summary>The model's prefill-attention kernel emitted for <paramref name="arch"/>, with its tiles there or
        /// <paramref name="tiles"/>.</summary>
        public static KernelSource EmitPrefill(CompiledModel model, GpuArch arch, PrefillAttentionTiles? tiles = null)
        {
            var kernel = model.Plan.Kernels.OfType<PrefillAttentionKernel>().First();
            var archTiles = model.Spec.Tiles.For(arch);
            return KernelEmitters.Emit(kernel, tiles is null ? archTiles : archTiles with { PrefillAttention = tiles });
        }

        /// <summary>A minimal valid spec (small shape) for rule tests; sections can be appended or replaced.</summary>
        public const string Minimal = @"name: test-model
model:
  hidden_size: 256
  intermediate_size: 768
  num_hidden_layers: 4
  num_attention_heads: 4
  num_key_value_heads: 2
  vocab_size: 1000
  max_position_embeddings: 512
quantization:
  default: fp16
";

        public static SpecParseResult Parse(string yaml) => SpecParser.Parse("test.yaml", yaml);

        /// <summary>Parses and returns the diagnostics with the given ID, asserting there is at least one.</summary>
        public static SpecDiagnostic[] Expect(string yaml, string id)
        {
            var result = Parse(yaml);
            var matching = result.Diagnostics.Where(d => d.Id == id).ToArray();
            Assert.True(matching.Length > 0, $"expected {id}, got:\n" + string.Join("\n", result.Diagnostics));
            return matching;
        }

        /// <summary>Line (1-based) of the first line of <paramref name="yaml"/> containing <paramref name="text"/>.</summary>
        public static int LineOf(string yaml, string text)
        {
            var lines = yaml.Replace("\r\n", "\n").Split('\n');
            int index = Array.FindIndex(lines, l => l.Contains(text, StringComparison.Ordinal));
            Assert.True(index >= 0, $"'{text}' not in the spec");
            return index + 1;
        }
    }
}
