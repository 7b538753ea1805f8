using System.Linq;
using GraphCompiler.Runtime.Generation;
using GraphCompiler.Runtime.Sampling;
using GraphCompiler.Tests.Cpu;

namespace GraphCompiler.Tests.Generation
{
    /// <summary>Speculative decoding with prompt-lookup drafts: the same tokens as plain decoding, in fewer steps where the text repeats.</summary>
    [Collection("Cpu")]
    public class SpeculativeGenerationTests
    {
        private static readonly Compilation.CompiledModel Small = TestSpecs.Compile("small-llama");
        private readonly CpuModels _models;

        public SpeculativeGenerationTests(CpuModels models) => _models = models;

        [Fact]
        public void Drafts_looked_up_in_the_text_are_kept_while_they_match_and_the_rest_is_rewound()
        {
            // The prompt repeats 5 6 7 8; the script follows it twice, then leaves the pattern (9) and comes back.
            int[] prompt = { 1, 5, 6, 7, 8, 5, 6, 7, 8 };
            int[] script = { 5, 6, 7, 8, 5, 6, 9, 5, 6, 7, 8, 5, 6, 7 };
            var plain = new ScriptedBackend(Small, script);
            var expected = GenerationLoop.Run(plain, new[] { prompt }, new GenerationParams(MaxTokens: script.Length, IgnoreEos: true)).Select(t => t.Id).ToList();
            Assert.Equal(script, expected);

            var backend = new ScriptedBackend(Small, script);
            var counts = new SpeculationCounts();
            var tokens = GenerationLoop.Run(backend, new[] { prompt }, new GenerationParams(MaxTokens: script.Length, IgnoreEos: true, DraftTokens: 3), counts: counts).ToList();
            Assert.Equal(script, tokens.Select(t => t.Id));
            Assert.Equal(FinishReason.Length, tokens[^1].Finish);
            Assert.True(counts.Steps < script.Length - 1, $"{counts.Steps} verification steps for {script.Length - 1} decoded tokens");
            Assert.True(counts.Accepted > 0 && counts.Accepted < counts.Drafted);
            Assert.NotEmpty(backend.Rewound);   // the draft after 6 (7) met 9
            Assert.All(backend.Verified.SelectMany(v => v), t => Assert.InRange(t.Length, 2, 4));
            Assert.Equal(1, backend.Released);
        }

        [Fact]
        public void Greedy_text_of_the_small_model_is_the_same_with_and_without_drafts()
        {
            var m = _models.Get("small-llama");
            int[] prompt = CpuModels.Prompt(m.Compiled, 6, seed: 9);
            prompt = prompt.Concat(prompt.Skip(1)).Concat(prompt.Skip(1)).ToArray();   // repeats itself: drafts to find
            var parameters = new GenerationParams(MaxTokens: 24, IgnoreEos: true);
            var plain = GenerationLoop.Run(m.Cpu, new[] { prompt, prompt.Take(8).ToArray() }, parameters).Select(t => (t.Sequence, t.Id)).ToList();
            var counts = new SpeculationCounts();
            var drafted = GenerationLoop.Run(m.Cpu, new[] { prompt, prompt.Take(8).ToArray() }, parameters with { DraftTokens = 5 }, counts: counts)
                .Select(t => (t.Sequence, t.Id)).ToList();
            Assert.Equal(plain.OrderBy(t => t.Sequence), drafted.OrderBy(t => t.Sequence));
            Assert.True(counts.Steps > 0);
        }

        [Fact]
        public void Sampled_text_is_the_same_with_and_without_drafts()
        {
            var m = _models.Get("small-llama");
            int[] prompt = CpuModels.Prompt(m.Compiled, 5, seed: 10);
            prompt = prompt.Concat(prompt.Skip(1)).ToArray();
            var sampling = new SamplingParams(Temperature: 0.9f, TopP: 0.95f, RepetitionPenalty: 1.1f, Seed: 3);
            var parameters = new GenerationParams(MaxTokens: 20, Sampling: sampling, IgnoreEos: true);
            var plain = GenerationLoop.Run(m.Cpu, new[] { prompt }, parameters).Select(t => (t.Id, t.Logprob)).ToList();
            var drafted = GenerationLoop.Run(m.Cpu, new[] { prompt }, parameters with { DraftTokens = 4 }).Select(t => (t.Id, t.Logprob)).ToList();
            Assert.Equal(plain, drafted);
        }

        [Fact]
        public void A_verification_ends_at_the_end_of_sequence_token_and_hands_on_one_logits_row_a_token()
        {
            int eos = Small.Spec.Model.EosTokenId;
            int[] prompt = { 1, 5, 6, 7, 8, eos, 9, 5, 6 };
            int[] script = { 7, 8, eos, 9, 9, 9 };   // the draft after "5 6" is 7 8 eos 9: eos is chosen and matches, 9 must not follow
            var backend = new ScriptedBackend(Small, script);
            int rows = 0;
            var tokens = GenerationLoop.Run(backend, new[] { prompt }, new GenerationParams(MaxTokens: 6, DraftTokens: 4), onLogits: (_, _) => rows++).ToList();
            Assert.Equal(new[] { 7, 8, eos }, tokens.Select(t => t.Id));
            Assert.Equal(FinishReason.EndOfSequence, tokens[^1].Finish);
            Assert.Equal(tokens.Count, rows);
        }

        [Theory]
        [InlineData(-1)]
        [InlineData(8)]
        public void Draft_tokens_outside_0_to_7_are_a_parameter_problem(int draft) =>
            Assert.Contains("draft_tokens", new GenerationParams(DraftTokens: draft).Problem());

        [Fact]
        public void Prompt_lookup_drafts_what_followed_the_latest_longest_match()
        {
            Assert.Equal(new[] { 4, 9 }, PromptLookupDraft.Next(new[] { 1, 2, 3, 4, 5, 2, 3, 4, 9, 7, 2, 3 }, 2));   // "2 3" last seen before 4 9
            Assert.Equal(new[] { 5 }, PromptLookupDraft.Next(new[] { 7, 3, 4, 5, 8, 4, 6, 3, 4 }, 1));               // "3 4" beats the later "4"
            Assert.Empty(PromptLookupDraft.Next(new[] { 1, 2, 3 }, 4));
            Assert.Empty(PromptLookupDraft.Next(new[] { 1, 2, 1 }, 0));
        }
    }
}
