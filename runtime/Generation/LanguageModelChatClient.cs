using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using GraphCompiler.Runtime.Sampling;
using GraphCompiler.Runtime.Text;
using Microsoft.Extensions.AI;

namespace GraphCompiler.Runtime.Generation
{
    /// <summary>
    /// A <see cref="LanguageModel"/> as Microsoft.Extensions.AI's <see cref="IChatClient"/>: the messages go through
    /// Llama-2-chat's template (system messages folded into the first user turn, each assistant message the answer to the
    /// user message before it), <see cref="ChatOptions"/> become <see cref="GenerationParams"/> (temperature — greedy when
    /// unset —, top-p, top-k, max output tokens — 256 when unset —, stop sequences, seed, frequency and presence
    /// penalties), and the answer comes back with its finish reason and token counts. The client does not own the model.
    /// </summary>
    public sealed class LanguageModelChatClient : IChatClient
    {
        public const int DefaultMaxOutputTokens = 256;

        private readonly LanguageModel _model;

        public LanguageModelChatClient(LanguageModel model) => _model = model;

        public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            var prompt = Prompt(messages);
            var text = new StringBuilder();
            int tokens = 0;
            FinishReason? finish = null;
            await foreach (var update in Answer(prompt, options, cancellationToken).ConfigureAwait(false))
            {
                text.Append(update.Text);
                tokens++;
                finish = update.Finish ?? finish;
            }
            return new ChatResponse(new ChatMessage(ChatRole.Assistant, text.ToString()))
            {
                FinishReason = Map(finish),
                ModelId = _model.Model.Spec.Name,
                Usage = new UsageDetails { InputTokenCount = prompt.Length, OutputTokenCount = tokens, TotalTokenCount = prompt.Length + tokens },
            };
        }

        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
            [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await foreach (var token in Answer(Prompt(messages), options, cancellationToken).ConfigureAwait(false))
                yield return new ChatResponseUpdate(ChatRole.Assistant, token.Text) { FinishReason = Map(token.Finish), ModelId = _model.Model.Spec.Name };
        }

        public object? GetService(Type serviceType, object? serviceKey = null) =>
            serviceKey != null ? null
            : serviceType == typeof(ChatClientMetadata) ? new ChatClientMetadata("graphcompiler", null, _model.Model.Spec.Name)
            : serviceType.IsInstanceOfType(this) ? this
            : serviceType.IsInstanceOfType(_model) ? _model
            : null;

        public void Dispose()
        {
        }

        /// <summary>The model's answer token by token; the template's space after [/INST] is not part of the answer.</summary>
        private async IAsyncEnumerable<GeneratedToken> Answer(int[] prompt, ChatOptions? options, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            bool started = false;
            await foreach (var token in _model.GenerateTokensStreamingAsync(prompt, Parameters(options), cancellationToken).ConfigureAwait(false))
            {
                string text = started ? token.Text : token.Text.TrimStart();
                started |= text.Length > 0;
                yield return token with { Text = text };
            }
        }

        /// <summary>The chat as Llama-2-chat's prompt ids.</summary>
        internal int[] Prompt(IEnumerable<ChatMessage> messages)
        {
            var system = new List<string>();
            var turns = new List<ChatTurn>();
            foreach (var message in messages)
            {
                if (message.Role == ChatRole.System) system.Add(message.Text);
                else if (message.Role == ChatRole.User) turns.Add(new ChatTurn(message.Text));
                else if (message.Role == ChatRole.Assistant)
                {
                    if (turns.Count == 0 || turns[^1].Assistant != null)
                        throw new ArgumentException("an assistant message must answer the user message before it", nameof(messages));
                    turns[^1] = turns[^1] with { Assistant = message.Text };
                }
                else throw new ArgumentException($"'{message.Role}' messages are not supported: Llama-2-chat has system, user and assistant turns (no tools)", nameof(messages));
            }
            if (turns.Count == 0 || turns[^1].Assistant != null)
                throw new ArgumentException("the last message must be the user's: the model answers it", nameof(messages));
            return LlamaChatTemplate.Encode(_model.Tokenizer, turns, system.Count == 0 ? null : string.Join("\n", system));
        }

        /// <summary>The additional ChatOptions property for speculative decoding: draft tokens a step (<see cref="GenerationParams.DraftTokens"/>).</summary>
        public const string DraftTokensProperty = "draft_tokens";

        /// <summary>ChatOptions as GenerationParams; an option out of range is an ArgumentException saying which.</summary>
        internal static GenerationParams Parameters(ChatOptions? options)
        {
            var sampling = new SamplingParams(options?.Temperature ?? 0f, options?.TopK ?? 0, options?.TopP ?? 1f,
                FrequencyPenalty: options?.FrequencyPenalty ?? 0f, PresencePenalty: options?.PresencePenalty ?? 0f, Seed: unchecked((ulong)(options?.Seed ?? 0)));
            int draftTokens = 0;
            if (options?.AdditionalProperties is { } extra && extra.ContainsKey(DraftTokensProperty) && !extra.TryGetValue(DraftTokensProperty, out draftTokens))
                throw new ArgumentException($"ChatOptions.AdditionalProperties[\"{DraftTokensProperty}\"] must be an integer, 0 to {Spec.DecodeQueries.MaxStepTokens - 1}", nameof(options));
            var parameters = new GenerationParams(options?.MaxOutputTokens ?? DefaultMaxOutputTokens, sampling, options?.StopSequences?.ToList(), DraftTokens: draftTokens);
            if (parameters.Problem() is string problem) throw new ArgumentException(problem, nameof(options));
            return parameters;
        }

        private static ChatFinishReason? Map(FinishReason? finish) => finish switch
        {
            null => null,
            FinishReason.Length => ChatFinishReason.Length,
            _ => ChatFinishReason.Stop,
        };
    }
}
