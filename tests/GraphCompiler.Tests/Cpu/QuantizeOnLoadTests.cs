using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using GraphCompiler.Compilation;
using GraphCompiler.Runtime.Checkpoints;
using GraphCompiler.Runtime.Cli;
using GraphCompiler.Runtime.Cpu;
using GraphCompiler.Runtime.Text;
using GraphCompiler.Tests.Text;

namespace GraphCompiler.Tests.Cpu
{
    /// <summary>The fp16 small model under quantized specs: quantized on load, and its perplexity on held-out text.</summary>
    public class QuantizeOnLoadTests
    {
        private static readonly string HeldOut = Path.Combine(LlamaTextTokenizerTests.ModelFolder, "heldout.txt");

        private static (CompiledModel Model, CheckpointTensors Tensors, CheckpointLoader.LoadReport Report) Load(string spec)
        {
            var (parse, model) = ModelCompiler.Compile(TestSpecs.PathOf(spec), TestSpecs.Text(spec));
            using var checkpoint = Checkpoint.Open(LlamaTextTokenizerTests.ModelFolder);
            var tensors = CheckpointLoader.Load(checkpoint, model!, parse.SourceMap, out var report);
            return (model!, tensors, report);
        }

        private static int[] Stream(int tokens)
        {
            var tokenizer = LlamaTextTokenizer.Open(LlamaTextTokenizerTests.ModelFolder);
            return tokenizer.EncodeParagraphs(File.ReadLines(HeldOut)).Take(tokens).ToArray();
        }

        [Theory]
        [InlineData("small-llama-int4-gptq", 42)]   // 6 layers × 7 modules
        [InlineData("small-llama-int4-awq", 42)]
        [InlineData("small-llama-fp8", 42)]
        [InlineData("small-llama-mixed", 42)]
        public void An_fp16_checkpoint_is_quantized_on_load_to_what_the_spec_asks(string spec, int modules)
        {
            var (model, tensors, report) = Load(spec);
            Assert.Equal(modules, report.QuantizedModules);
            Assert.All(model.Manifest, w => Assert.True(tensors.Contains(w.Name), w.Name));
        }

        [Fact]
        public void Quantized_specs_stay_within_a_few_percent_of_fp16_perplexity()
        {
            var stream = Stream(4 * 128 + 1);
            var (fp16Model, fp16, _) = Load("small-llama");
            double reference = Perplexity.Evaluate(new CpuModel(fp16Model, fp16), stream, 128).Perplexity;
            foreach (var (spec, bound) in new[] { ("small-llama-int4-gptq", 0.05), ("small-llama-fp8", 0.01), ("small-llama-mixed", 0.05) })
            {
                var (model, tensors, _) = Load(spec);
                double ppl = Perplexity.Evaluate(new CpuModel(model, tensors), stream, 128).Perplexity;
                Assert.True(Math.Abs(ppl / reference - 1) < bound, $"{spec}: {ppl} against fp16 {reference}");
                Assert.NotEqual(reference, ppl);   // the weights really changed
            }
        }

        [Fact]
        public void Held_out_perplexity_matches_what_pytorch_measured_after_training()
        {
            // train_small.py measured the same windows with PyTorch (fp32 weights, bf16 autocast); graphc's CPU backend runs
            // the saved fp16 weights in fp16, so a small difference remains.
            using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(LlamaTextTokenizerTests.ModelFolder, "train_report.json")));
            double pytorch = report.RootElement.GetProperty("best_held_out_perplexity").GetDouble();
            var output = new StringWriter();
            int code = GraphcCommand.Run(new[] { "eval-ppl", "small-llama", "--model", LlamaTextTokenizerTests.ModelFolder, "--text", HeldOut }, output, new StringWriter());
            Assert.Equal(ExitCodes.Ok, code);
            var match = System.Text.RegularExpressions.Regex.Match(output.ToString(), @"perplexity ([0-9.]+)");
            double ours = double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(Math.Abs(ours / pytorch - 1) < 0.02, $"graphc {ours} against PyTorch {pytorch}");
        }

        [Fact]
        public void A_static_w8a8_spec_cannot_be_quantized_on_load_and_says_why()
        {
            string yaml = TestSpecs.Text("small-llama-fp8").Replace("weight_scale: per_channel }", "weight_scale: per_channel, activation_scale: static }");
            var (parse, model) = ModelCompiler.Compile("static.yaml", yaml);
            using var checkpoint = Checkpoint.Open(LlamaTextTokenizerTests.ModelFolder);
            var e = Assert.Throws<CheckpointException>(() => CheckpointLoader.Load(checkpoint, model!, parse.SourceMap));
            Assert.Contains("calibration", e.Message);
            Assert.Contains("q_proj", e.Message);
        }
    }
}
