using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using GraphCompiler.Runtime.Generation;
using GraphCompiler.Runtime.Text;
using Microsoft.Extensions.AI;

namespace GraphCompiler.Tests.Generation
{
    /// <summary>The model as an IChatClient: Llama-2-chat's template, ChatOptions as generation parameters, finish reasons and usage.</summary>
    public class LanguageModelChatClientTests : IClassFixture<LanguageModelTests.Loaded>
    {
        private readonly LanguageModel _model;
        private readonly IChatClient _client;

        public LanguageModelChatClientTests(LanguageModelTests.Loaded loaded)
        {
            _model = loaded.Model;
            _client = _model.AsChatClient();
        }

        private static readonly ChatMessage[] Chat =
        {
            new ChatMessage(ChatRole.System, "You answer briefly."),
            new ChatMessage(ChatRole.User, "What is Debian?"),
        };

        [Fact]
        public async Task The_answer_is_what_the_model_generates_from_the_chat_template_with_its_usage_and_finish_reason()
        {
            var response = await _client.GetResponseAsync(Chat, new ChatOptions { MaxOutputTokens = 12 });
            var prompt = LlamaChatTemplate.Encode(_model.Tokenizer, new[] { new ChatTurn("What is Debian?") }, "You answer briefly.");
            var direct = _model.GenerateTokens(new[] { prompt }, new GenerationParams(MaxTokens: 12))[0];
            Assert.Equal(direct.Text.TrimStart(), response.Text);
            Assert.Equal(ChatRole.Assistant, response.Messages.Single().Role);
            Assert.Equal(prompt.Length, response.Usage!.InputTokenCount);
            Assert.Equal(direct.Tokens.Count, response.Usage.OutputTokenCount);
            Assert.Equal(direct.Finish == FinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop, response.FinishReason);
            Assert.Equal("small-llama", response.ModelId);
        }

        [Fact]
        public async Task Streaming_updates_add_up_to_the_response_and_options_are_honoured()
        {
            var options = new ChatOptions { MaxOutputTokens = 20, Temperature = 0.7f, TopP = 0.9f, Seed = 5, StopSequences = new[] { "." } };
            var whole = await _client.GetResponseAsync(Chat, options);
            var updates = new List<ChatResponseUpdate>();
            await foreach (var update in _client.GetStreamingResponseAsync(Chat, options)) updates.Add(update);
            Assert.Equal(whole.Text, string.Concat(updates.Select(u => u.Text)));
            Assert.Equal(whole.FinishReason, updates[^1].FinishReason);
            Assert.DoesNotContain(".", whole.Text);
            Assert.True(updates.Count <= 20);

            var three = await _client.GetResponseAsync(Chat, new ChatOptions { MaxOutputTokens = 3 });
            Assert.Equal(3, three.Usage!.OutputTokenCount);
            Assert.Equal(ChatFinishReason.Length, three.FinishReason);
        }

        [Fact]
        public async Task Draft_tokens_in_the_additional_properties_give_the_same_answer_and_bad_values_are_refused()
        {
            var plain = await _client.GetResponseAsync(Chat, new ChatOptions { MaxOutputTokens = 24 });
            var drafted = await _client.GetResponseAsync(Chat, new ChatOptions { MaxOutputTokens = 24, AdditionalProperties = new() { ["draft_tokens"] = 4 } });
            Assert.Equal(plain.Text, drafted.Text);
            Assert.Contains("draft_tokens",
                (await Assert.ThrowsAsync<ArgumentException>(() => _client.GetResponseAsync(Chat, new ChatOptions { AdditionalProperties = new() { ["draft_tokens"] = "many" } }))).Message);
            Assert.Contains("draft_tokens 9 must be 0",
                (await Assert.ThrowsAsync<ArgumentException>(() => _client.GetResponseAsync(Chat, new ChatOptions { AdditionalProperties = new() { ["draft_tokens"] = 9 } }))).Message);
        }

        [Fact]
        public async Task A_chat_the_template_cannot_express_is_refused_with_the_reason()
        {
            var answerFirst = new[] { new ChatMessage(ChatRole.Assistant, "Hello."), new ChatMessage(ChatRole.User, "Hi") };
            Assert.Contains("must answer the user message before it", (await Assert.ThrowsAsync<ArgumentException>(() => _client.GetResponseAsync(answerFirst))).Message);
            var answered = new[] { new ChatMessage(ChatRole.User, "Hi"), new ChatMessage(ChatRole.Assistant, "Hello.") };
            Assert.Contains("the last message must be the user's", (await Assert.ThrowsAsync<ArgumentException>(() => _client.GetResponseAsync(answered))).Message);
            var tool = new[] { new ChatMessage(ChatRole.User, "Hi"), new ChatMessage(ChatRole.Tool, "42") };
            Assert.Contains("'tool' messages are not supported", (await Assert.ThrowsAsync<ArgumentException>(() => _client.GetResponseAsync(tool))).Message);
            Assert.Contains("top_p 0 must be in (0, 1]",
                (await Assert.ThrowsAsync<ArgumentException>(() => _client.GetResponseAsync(Chat, new ChatOptions { Temperature = 1, TopP = 0 }))).Message);
        }

        [Fact]
        public void The_client_names_its_model_and_hands_out_the_model_itself()
        {
            Assert.Equal("small-llama", _client.GetService<ChatClientMetadata>()!.DefaultModelId);
            Assert.Same(_model, _client.GetService<LanguageModel>());
            Assert.Same(_client, _client.GetService<IChatClient>());
        }
    }
}
