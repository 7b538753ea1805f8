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
    }
}
