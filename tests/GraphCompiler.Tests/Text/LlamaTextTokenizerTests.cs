using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using GraphCompiler.Runtime.Cli;
using GraphCompiler.Runtime.Text;

namespace GraphCompiler.Tests.Text
{
    /// <summary>The shipped small model's tokenizer, and text generation with it on the CPU backend.</summary>
    public class LlamaTextTokenizerTests
    {
        public static readonly string ModelFolder = Path.Combine(AppContext.BaseDirectory, "fixtures", "small-llama");

        [Fact]
        public void Encoding_starts_with_bos_and_uses_the_trained_pieces()
        {
            var tokenizer = LlamaTextTokenizer.Open(ModelFolder);
            Assert.Equal(4096, tokenizer.VocabularySize);
            var ids = tokenizer.Encode("The Debian project");
            Assert.Equal(1, ids[0]);
            Assert.Equal(new[] { 1, 331, 401, 845 }, ids);   // ▁The ▁Debian ▁project, as tokenizer.vocab lists them
        }

        [Theory]
        [InlineData("The Debian project has been installed.")]
        [InlineData("naïve café — Grüße, 東京 🙂")]                // byte fallback for pieces the corpus never had
        [InlineData("tabs\tand\nnewlines, and  two  spaces")]
        [InlineData("digits 1234567 split one by one")]
        public void Decoding_the_encoding_gives_the_text_back(string text)
        {
            var tokenizer = LlamaTextTokenizer.Open(ModelFolder);
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text)));
        }

        [Fact]
        public void A_folder_without_tokenizer_model_is_a_clear_error()
        {
            var e = Assert.Throws<FileNotFoundException>(() => LlamaTextTokenizer.Open(Path.GetTempPath()));
            Assert.Contains("tokenizer.model", e.Message);
        }

        [Fact]
        public void The_cpu_backend_continues_a_prompt_as_transformers_did_after_training()
        {
            // train_small.py's greedy sample from Hugging Face transformers on the GPU (with a mild repetition penalty,
            // so only the start is compared): the same words must come out of graphc's CPU backend.
            using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(ModelFolder, "train_report.json")));
            string sample = report.RootElement.GetProperty("greedy_samples")[0].GetString()!;
            string expected = string.Join(" ", sample.Split(' ').Take(12));
            Assert.StartsWith("The Debian project", expected);

            var output = new StringWriter();
            int code = GraphcCommand.Run(new[] { "run", TestSpecs.PathOf("small-llama"), "--model", ModelFolder, "--prompt", "The Debian project", "--steps", "24" },
                output, new StringWriter());
            Assert.Equal(ExitCodes.Ok, code);
            Assert.Contains(expected, output.ToString().Replace("\n", " ").Replace("  ", " "));
        }
    }
}
