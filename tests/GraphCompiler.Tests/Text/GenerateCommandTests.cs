using System;
using System.IO;
using System.Linq;
using GraphCompiler.Runtime.Cli;
using static GraphCompiler.Tests.Cli.GraphcInvocation;

namespace GraphCompiler.Tests.Text
{
    public class GenerateCommandTests
    {
        [Fact]
        public void Generate_finds_the_built_in_spec_a_checkpoint_matches_and_writes_text()
        {
            var (code, output, error) = Run("generate", "--model", LlamaTextTokenizerTests.ModelFolder, "--prompt", "A RAID volume", "--max-tokens", "12");
            Assert.True(code == ExitCodes.Ok, output + error);
            Assert.Contains("small-llama", output);
            Assert.Contains("A RAID volume can be used", output.Replace("\n", " "));
        }

        [Fact]
        public void A_stop_string_ends_the_text_before_it()
        {
            var (code, output, error) = Run("generate", "--model", LlamaTextTokenizerTests.ModelFolder, "--prompt", "A RAID volume", "--max-tokens", "12",
                "--stop", "be used", "--backend", "cpu");
            Assert.True(code == ExitCodes.Ok, output + error);
            string flat = output.Replace("\n", " ");
            Assert.Contains("A RAID volume can ", flat);
            Assert.DoesNotContain("be used", flat);
            var noText = Run("run", "small-llama", "--random-weights", "--stop", ".");
            Assert.Equal(ExitCodes.Usage, noText.Code);
            Assert.Contains("--stop ends generation at a string of the text; it needs --prompt TEXT", noText.Err);
        }

        [Fact]
        public void A_quantized_checkpoint_runs_under_the_spec_given_with_it()
        {
            string gptq = Path.Combine(Path.GetDirectoryName(LlamaTextTokenizerTests.ModelFolder)!, "small-llama-gptq");
            var (code, output, error) = Run("generate", "--model", gptq, "--spec", TestSpecs.PathOf("small-llama-int4-gptq"), "--prompt", "The Debian project", "--max-tokens", "8");
            Assert.True(code == ExitCodes.Ok, output + error);
            var unmatched = Run("generate", "--model", gptq, "--prompt", "The Debian project");
            Assert.Equal(ExitCodes.Usage, unmatched.Code);
            Assert.Contains("matches none of the built-in specs", unmatched.Err);
        }

        [Fact]
        public void Generate_split_over_two_ranks_writes_the_same_text_and_refuses_a_split_the_model_cannot_take()
        {
            string[] Args(params string[] more) => new[] { "generate", "--model", LlamaTextTokenizerTests.ModelFolder, "--prompt", "A RAID volume", "--max-tokens", "12", "--backend", "cpu" }
                .Concat(more).ToArray();
            string Generated(string output) => output.Split('\n').First(l => l.StartsWith("generated (", StringComparison.Ordinal));
            var whole = Run(Args());
            var split = Run(Args("--tp", "2"));
            Assert.True(split.Code == ExitCodes.Ok, split.Out + split.Err);
            Assert.Contains("tensor parallel over 2 ranks (all-reduce in host memory)", split.Out.Replace("\n", " "));
            Assert.Equal(Generated(whole.Out), Generated(split.Out));
            var four = Run(Args("--tp", "4"));
            Assert.Equal(ExitCodes.Usage, four.Code);
            Assert.Contains("--tp 4 does not split small-llama: num_key_value_heads 2 does not divide by 4", four.Err);
            Assert.Contains("(use 1, 2)", four.Err);
            Assert.Contains("--tp 3: allowed 1, 2, 4, 8", Run(Args("--tp", "3")).Err);
        }

        [Fact]
        public void Sampling_with_a_seed_gives_the_same_text_again_and_another_seed_other_text()
        {
            string[] Args(string seed) => new[] { "generate", "--model", LlamaTextTokenizerTests.ModelFolder, "--prompt", "The Debian project",
                "--max-tokens", "16", "--temperature", "1.0", "--top-p", "0.95", "--seed", seed };
            string Generated(string output) => output.Split('\n').First(l => l.StartsWith("generated (", System.StringComparison.Ordinal));
            var a = Run(Args("1"));
            var b = Run(Args("1"));
            var c = Run(Args("2"));
            Assert.True(a.Code == ExitCodes.Ok, a.Out + a.Err);
            Assert.Contains("sampled: temperature 1, top-k 0, top-p 0.95", a.Out);
            Assert.Equal(Generated(a.Out), Generated(b.Out));
            Assert.NotEqual(Generated(a.Out), Generated(c.Out));
            Assert.Equal(ExitCodes.Usage, Run("generate", "--model", LlamaTextTokenizerTests.ModelFolder, "--prompt", "x", "--min-p", "1").Code);
        }

        [Fact]
        public void Logits_out_writes_every_steps_logits_and_the_tokens_the_run_printed()
        {
            string path = Path.Combine(Path.GetTempPath(), "graphc-logits-" + System.Guid.NewGuid().ToString("N") + ".f32");
            try
            {
                var (code, output, error) = Run("run", "small-llama", "--model", LlamaTextTokenizerTests.ModelFolder, "--prompt-tokens", "1,331,401,845",
                    "--steps", "6", "--backend", "cpu", "--logits-out", path);
                Assert.True(code == ExitCodes.Ok, output + error);
                Assert.DoesNotContain("not on the GPU", output);   // --backend cpu never looks for one
                // The first token comes from the prefill's logits, each further one from a decode step: 6 rows of 4096.
                Assert.Equal(6L * 4096 * 4, new FileInfo(path).Length);
                using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path + ".json"));
                var generated = json.RootElement.GetProperty("generated").EnumerateArray().Select(e => e.GetInt32()).ToArray();
                Assert.Equal(new[] { 1, 331, 401, 845 }, json.RootElement.GetProperty("prompt").EnumerateArray().Select(e => e.GetInt32()));
                Assert.Contains($"generated (6 tokens, greedy): {string.Join(" ", generated)}", output);
                // Greedy: each generated token is the argmax of its step's logits.
                var logits = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(path)).ToArray();
                for (int step = 0; step < 6; step++)
                    Assert.Equal(generated[step], GraphCompiler.Runtime.Sampling.Sampler.Argmax(logits.AsSpan(step * 4096, 4096)));
            }
            finally
            {
                File.Delete(path);
                File.Delete(path + ".json");
            }
        }

        [Fact]
        public void Logprobs_are_each_tokens_log_softmax_under_the_logits_it_was_chosen_from()
        {
            string path = Path.Combine(Path.GetTempPath(), "graphc-logprobs-" + System.Guid.NewGuid().ToString("N") + ".f32");
            try
            {
                // Sampled at temperature 1 without cuts: the distribution a token is drawn from is the softmax of its step's logits.
                var (code, output, error) = Run("run", "small-llama", "--model", LlamaTextTokenizerTests.ModelFolder, "--prompt-tokens", "1,331,401,845",
                    "--steps", "5", "--backend", "cpu", "--temperature", "1", "--seed", "3", "--logprobs", "--logits-out", path);
                Assert.True(code == ExitCodes.Ok, output + error);
                string Line(string prefix) => output.Split('\n').First(l => l.StartsWith(prefix, System.StringComparison.Ordinal));
                var generated = Line("generated (").Split(": ")[^1].Split(' ').Select(int.Parse).ToArray();
                var logprobs = Line("logprobs: ").Split(": ")[^1].Split(' ', StringSplitOptions.RemoveEmptyEntries)
                    .Select(x => double.Parse(x, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
                Assert.Equal(generated.Length, logprobs.Length);
                var logits = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(path)).ToArray();
                for (int step = 0; step < generated.Length; step++)
                {
                    var row = logits.AsSpan(step * 4096, 4096).ToArray();
                    double max = row.Max(), sum = row.Sum(l => Math.Exp(l - max));
                    Assert.Equal(row[generated[step]] - max - Math.Log(sum), logprobs[step], 5);
                }
            }
            finally
            {
                File.Delete(path);
                File.Delete(path + ".json");
            }
        }

        [Fact]
        public void Backend_stream_and_tiles_options_are_checked_before_anything_loads()
        {
            var bogus = Run("generate", "--model", LlamaTextTokenizerTests.ModelFolder, "--prompt", "x", "--backend", "tpu");
            Assert.Equal(ExitCodes.Usage, bogus.Code);
            Assert.Contains("--backend 'tpu' is not one of auto, gpu, cpu", bogus.Err);
            var stream = Run("run", "small-llama", "--random-weights", "--stream");
            Assert.Equal(ExitCodes.Usage, stream.Code);
            Assert.Contains("--stream prints text as it is generated; it needs --prompt TEXT", stream.Err);
            var tiles = Run("run", "small-llama", "--random-weights", "--tiles", "fastest");
            Assert.Equal(ExitCodes.Usage, tiles.Code);
            Assert.Contains("--tiles 'fastest' is not one of auto", tiles.Err);
        }

        [Fact]
        public void Streaming_prints_the_same_text_as_a_whole_run()
        {
            string[] Args(params string[] extra) => new[] { "generate", "--model", LlamaTextTokenizerTests.ModelFolder, "--prompt", "A RAID volume",
                "--max-tokens", "12", "--backend", "cpu" }.Concat(extra).ToArray();
            var whole = Run(Args());
            var streamed = Run(Args("--stream"));
            Assert.True(streamed.Code == ExitCodes.Ok, streamed.Out + streamed.Err);
            string Text(string output) => output.Split('\n').First(l => l.StartsWith("A RAID volume", System.StringComparison.Ordinal));
            Assert.Equal(Text(whole.Out), Text(streamed.Out));
        }
    }
}
