using System;
using System.Linq;
using GraphCompiler.Runtime.Generation;
using GraphCompiler.Runtime.Sampling;
using GraphCompiler.Runtime.Text;
using GraphCompiler.Tests.Text;

namespace GraphCompiler.Tests.Generation
{
    /// <summary>The generation loop's stopping rules, text release and batching, on a scripted backend with the small model's tokenizer.</summary>
    public class GenerationLoopTests
    {
        private static readonly LlamaTextTokenizer Tokenizer = LlamaTextTokenizer.Open(LlamaTextTokenizerTests.ModelFolder);
        private static readonly Compilation.CompiledModel Small = TestSpecs.Compile("small-llama");
        private static readonly int[] Prompt = Tokenizer.Encode("Once upon a time");
        private const string Story = "there was a cat. It sat on the mat and slept all day.";   // the tokenizer adds the leading "▁"
        private static readonly int[] StoryTokens = Tokenizer.EncodeWithoutBos(Story);

        private static int[] Then(params int[] more) => StoryTokens.Concat(more).ToArray();

        [Fact]
        public void The_released_pieces_add_up_to_the_text_the_tokens_decode_to()
        {
            var backend = new ScriptedBackend(Small, Then(Small.Spec.Model.EosTokenId));
            var tokens = GenerationLoop.Run(backend, new[] { Prompt }, new GenerationParams(MaxTokens: 100), Tokenizer).ToList();
            Assert.Equal(Then(Small.Spec.Model.EosTokenId), tokens.Select(t => t.Id));
            Assert.Equal(Tokenizer.Decode(Prompt.Concat(StoryTokens)), Tokenizer.Decode(Prompt) + string.Concat(tokens.Select(t => t.Text)));
            Assert.All(tokens.SkipLast(1), t => Assert.Null(t.Finish));
            Assert.Equal(FinishReason.EndOfSequence, tokens[^1].Finish);
            Assert.Equal(1, backend.Released);
        }

        [Fact]
        public void A_stop_string_ends_the_text_just_before_it_and_is_never_released()
        {
            var backend = new ScriptedBackend(Small, Then(Small.Spec.Model.EosTokenId));
            var tokens = GenerationLoop.Run(backend, new[] { Prompt }, new GenerationParams(MaxTokens: 100, Stop: new[] { "on the", "never" }), Tokenizer).ToList();
            Assert.Equal(" there was a cat. It sat ", string.Concat(tokens.Select(t => t.Text)));
            Assert.Equal(FinishReason.Stop, tokens[^1].Finish);
            Assert.True(tokens.Count < StoryTokens.Length);
            Assert.Equal(1, backend.Released);
        }

        [Fact]
        public void The_token_budget_ends_generation_and_the_held_back_text_is_released_at_the_end()
        {
            var backend = new ScriptedBackend(Small, StoryTokens);
            var tokens = GenerationLoop.Run(backend, new[] { Prompt }, new GenerationParams(MaxTokens: 5, Stop: new[] { "a very long stop string" }), Tokenizer).ToList();
            Assert.Equal(5, tokens.Count);
            Assert.Equal(FinishReason.Length, tokens[^1].Finish);
            Assert.Equal(Tokenizer.Decode(Prompt.Concat(StoryTokens.Take(5))), Tokenizer.Decode(Prompt) + string.Concat(tokens.Select(t => t.Text)));
            Assert.Equal("", tokens[0].Text);   // held back: it could begin the stop string
        }

        [Fact]
        public void Without_a_tokenizer_the_end_of_sequence_token_is_kept_going_when_asked_and_the_model_length_ends_it()
        {
            int eos = Small.Spec.Model.EosTokenId;
            var script = Enumerable.Repeat(eos, Small.Spec.Limits.MaxSeqLen).ToArray();
            var backend = new ScriptedBackend(Small, script);
            var tokens = GenerationLoop.Run(backend, new[] { Prompt }, new GenerationParams(MaxTokens: 100_000, IgnoreEos: true)).ToList();
            // The last chosen token needs a cache position: prompt + generated − 1 ≤ max_seq_len.
            Assert.Equal(Small.Spec.Limits.MaxSeqLen - Prompt.Length + 1, tokens.Count);
            Assert.Equal(FinishReason.Length, tokens[^1].Finish);
            Assert.All(tokens, t => Assert.Equal("", t.Text));
        }

        [Fact]
        public void A_batch_decodes_its_unfinished_sequences_together_and_releases_all_of_them()
        {
            int eos = Small.Spec.Model.EosTokenId;
            var backend = new ScriptedBackend(Small, new[] { 5, 6, eos }, new[] { 7, eos }, new[] { 8, 9, 10, 11 });
            var tokens = GenerationLoop.Run(backend, new[] { Prompt, Prompt, Prompt }, new GenerationParams(MaxTokens: 4)).ToList();
            Assert.Equal(new[] { 5, 6, eos }, tokens.Where(t => t.Sequence == 0).Select(t => t.Id));
            Assert.Equal(new[] { 7, eos }, tokens.Where(t => t.Sequence == 1).Select(t => t.Id));
            Assert.Equal(new[] { 8, 9, 10, 11 }, tokens.Where(t => t.Sequence == 2).Select(t => t.Id));
            Assert.Equal(new[] { 3, 2, 1 }, backend.DecodeBatchSizes);
            Assert.Equal(3, backend.Released);
        }

        [Fact]
        public void The_backend_samples_its_own_logits_unless_someone_watches_them()
        {
            int eos = Small.Spec.Model.EosTokenId;
            var unwatched = new ScriptedBackend(Small, new[] { 5, 6, eos });
            Assert.Equal(new[] { 5, 6, eos }, GenerationLoop.Run(unwatched, new[] { Prompt }, new GenerationParams(MaxTokens: 8)).Select(t => t.Id));
            Assert.Equal(new[] { "prefill", "decode", "decode" }, unwatched.SampledSteps);

            var watched = new ScriptedBackend(Small, new[] { 5, 6, eos });
            int seen = 0;
            Assert.Equal(new[] { 5, 6, eos }, GenerationLoop.Run(watched, new[] { Prompt }, new GenerationParams(MaxTokens: 8), onLogits: (_, _) => seen++).Select(t => t.Id));
            Assert.Empty(watched.SampledSteps);
            Assert.Equal(3, seen);
        }

        [Fact]
        public void Leaving_a_stream_early_releases_its_sequence()
        {
            var backend = new ScriptedBackend(Small, StoryTokens);
            var first = GenerationLoop.Run(backend, new[] { Prompt }, new GenerationParams(MaxTokens: 50), Tokenizer).Take(2).ToList();
            Assert.Equal(2, first.Count);
            Assert.Equal(1, backend.Released);
        }

        [Fact]
        public void Bad_parameters_are_refused_before_any_step()
        {
            var backend = new ScriptedBackend(Small, StoryTokens);
            Assert.Contains("max_tokens 0 must be at least 1",
                Assert.Throws<ArgumentException>(() => GenerationLoop.Run(backend, new[] { Prompt }, new GenerationParams(MaxTokens: 0))).Message);
            Assert.Contains("a stop string is empty",
                Assert.Throws<ArgumentException>(() => GenerationLoop.Run(backend, new[] { Prompt }, new GenerationParams(Stop: new[] { "" }), Tokenizer)).Message);
            Assert.Contains("need the model's tokenizer",
                Assert.Throws<ArgumentException>(() => GenerationLoop.Run(backend, new[] { Prompt }, new GenerationParams(Stop: new[] { "." }))).Message);
            Assert.Contains("top_p 0 must be in (0, 1]",
                Assert.Throws<ArgumentException>(() => GenerationLoop.Run(backend, new[] { Prompt }, new GenerationParams(Sampling: new SamplingParams(Temperature: 1, TopP: 0)))).Message);
            Assert.Equal(0, backend.Released);
        }
    }
}
