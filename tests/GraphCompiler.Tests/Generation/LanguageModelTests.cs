using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GraphCompiler.Models;
using GraphCompiler.Runtime.Execution;
using GraphCompiler.Runtime.Generation;
using GraphCompiler.Runtime.Sampling;
using GraphCompiler.Tests.Text;

namespace GraphCompiler.Tests.Generation
{
    /// <summary>The library API: a generated model class's Load, Generate for one or many prompts, and streaming (CPU backend).</summary>
    public class LanguageModelTests : IClassFixture<LanguageModelTests.Loaded>
    {
        public sealed class Loaded : IDisposable
        {
            public List<string> Log { get; } = new List<string>();
            public LanguageModel Model { get; }
            public Loaded() => Model = SmallLlama.Load(LlamaTextTokenizerTests.ModelFolder, new LoadOptions(BackendKind.Cpu, Log: Log.Add));
            public void Dispose() => Model.Dispose();
        }

        private readonly LanguageModel _model;
        private readonly List<string> _log;

        public LanguageModelTests(Loaded loaded)
        {
            _model = loaded.Model;
            _log = loaded.Log;
        }

        [Fact]
        public void The_generated_class_loads_the_checkpoint_and_generates_the_text_graphc_generate_prints()
        {
            Assert.False(_model.OnGpu);
            Assert.Contains(_log, line => line.StartsWith("small-llama: weights read from", StringComparison.Ordinal));
            var result = _model.Generate("A RAID volume", new GenerationParams(MaxTokens: 12));
            Assert.StartsWith(" can be used", result.Text);   // GenerateCommandTests: "A RAID volume can be used"
            Assert.Equal(result.Tokens.Count, result.Logprobs.Count);
            Assert.All(result.Logprobs, p => Assert.True(p <= 0));
            Assert.Equal(result.Tokens.Count == 12 ? FinishReason.Length : FinishReason.EndOfSequence, result.Finish);
            Assert.Equal(_model.Tokenizer.Encode("A RAID volume"), result.PromptTokens);
        }

        [Fact]
        public async Task Streaming_gives_the_tokens_and_text_of_a_whole_generation()
        {
            var parameters = new GenerationParams(MaxTokens: 10, Sampling: new SamplingParams(Temperature: 0.8f, TopP: 0.9f, Seed: 3));
            var whole = _model.Generate("The Debian project", parameters);
            var streamed = new List<GeneratedToken>();
            await foreach (var token in _model.GenerateStreamingAsync("The Debian project", parameters)) streamed.Add(token);
            Assert.Equal(whole.Tokens, streamed.Select(t => t.Id));
            Assert.Equal(whole.Text, string.Concat(streamed.Select(t => t.Text)));
            Assert.Equal(whole.Finish, streamed[^1].Finish);
        }

        [Fact]
        public void A_batch_gives_each_prompt_what_it_gets_alone_with_its_seed()
        {
            var sampling = new SamplingParams(Temperature: 0.9f, TopK: 40, Seed: 11);
            var prompts = new[] { "A RAID volume", "The Debian project", "Once upon a time" };
            var batch = _model.Generate(prompts, sampling, maxTokens: 8);
            for (int i = 0; i < prompts.Length; i++)
            {
                var alone = _model.Generate(prompts[i], sampling with { Seed = 11 + (ulong)i }, maxTokens: 8);
                Assert.Equal(alone.Tokens, batch[i].Tokens);
                Assert.Equal(alone.Text, batch[i].Text);
            }
        }

        [Fact]
        public async Task A_cancelled_stream_stops_between_tokens_and_the_model_serves_the_next_request()
        {
            using var cancel = new CancellationTokenSource();
            int seen = 0;
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            {
                await foreach (var _ in _model.GenerateStreamingAsync("Once upon a time", new GenerationParams(MaxTokens: 40), cancel.Token))
                    if (++seen == 2) cancel.Cancel();
            });
            Assert.Equal(2, seen);
            Assert.NotEmpty(_model.Generate("Once upon a time", new GenerationParams(MaxTokens: 3)).Tokens);
        }
    }
}
