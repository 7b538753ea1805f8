using GraphCompiler.Runtime.Cli;
using static GraphCompiler.Tests.Cli.GraphcInvocation;

namespace GraphCompiler.Tests.Cpu
{
    [Collection("Cpu")]
    public class RunCommandTests
    {
        [Fact]
        public void Run_with_random_weights_generates_and_prints_tokens_per_second()
        {
            var (code, output, error) = Run("run", "small-llama", "--random-weights", "--steps", "4");
            Assert.True(code == ExitCodes.Ok, error);
            Assert.Contains("CPU backend", output);
            Assert.Contains("generated (4 tokens, greedy):", output);
            Assert.Matches(@"CPU backend: prompt 16 tokens at [0-9.]+ tokens/s, generated 4 tokens at [0-9.]+ tokens/s", output);
        }

        [Fact]
        public void Run_rejects_missing_weights_and_bad_tokens_as_usage_errors()
        {
            Assert.Equal(ExitCodes.Usage, Run("run", "small-llama").Code);
            var bad = Run("run", "small-llama", "--random-weights", "--prompt-tokens", "1,99999", "--steps", "2");
            Assert.Equal(ExitCodes.Usage, bad.Code);
            Assert.Contains("token id 99999 is outside the vocabulary: vocab_size is 4096", bad.Err);
            Assert.DoesNotContain("Parameter", bad.Err);
            var tooLong = Run("run", "small-llama", "--random-weights", "--prompt-tokens", "1,2", "--steps", "1024");
            Assert.Equal(ExitCodes.Usage, tooLong.Code);
            Assert.Contains("limits.max_seq_len (1024)", tooLong.Err);
        }
    }
}
