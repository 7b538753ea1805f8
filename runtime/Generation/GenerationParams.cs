using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Runtime.Sampling;

namespace GraphCompiler.Runtime.Generation
{
    /// <summary>Why a sequence stopped: its token budget or the model's length, the end-of-sequence token, or a stop string.</summary>
    public enum FinishReason
    {
        Length,
        EndOfSequence,
        Stop,
    }

    /// <summary>
    /// What to generate for each prompt: at most <paramref name="MaxTokens"/> tokens chosen as <paramref name="Sampling"/> says
    /// (greedy when null). Generation ends early at the model's end-of-sequence token unless <paramref name="IgnoreEos"/>, and
    /// when the text contains one of <paramref name="Stop"/> (the text ends just before it). In a batch, prompt i samples
    /// with seed Sampling.Seed + i, so the first prompt of a batch draws as it would alone. With <paramref name="DraftTokens"/>
    /// above 0, each decode step also verifies up to that many draft tokens a sequence, looked up in its own text
    /// (<see cref="PromptLookupDraft"/>): the same tokens as without, in fewer steps where the text repeats itself.
    /// </summary>
    public sealed record GenerationParams(int MaxTokens = 64, SamplingParams? Sampling = null, IReadOnlyList<string>? Stop = null, bool IgnoreEos = false,
        int DraftTokens = 0)
    {
        public SamplingParams SamplingOrGreedy => Sampling ?? SamplingParams.Greedy;

        /// <summary>What is wrong with these parameters, or null.</summary>
        public string? Problem() =>
            MaxTokens < 1 ? $"max_tokens {MaxTokens} must be at least 1"
            : DraftTokens < 0 || DraftTokens >= Spec.DecodeQueries.MaxStepTokens
                ? $"draft_tokens {DraftTokens} must be 0 (no speculation) to {Spec.DecodeQueries.MaxStepTokens - 1}: a decode step takes at most {Spec.DecodeQueries.MaxStepTokens} tokens a sequence"
            : Stop != null && Stop.Any(string.IsNullOrEmpty) ? "a stop string is empty; give the text generation should end at"
            : SamplingOrGreedy.Problem();
    }

    /// <summary>
    /// One chosen token of sequence <paramref name="Sequence"/> (the prompt's index): its id, the text it adds (held back
    /// while it might begin a stop string, and never including one), its log-probability under the distribution it was
    /// drawn from, and the reason the sequence ended with it, if it did.
    /// </summary>
    public readonly record struct GeneratedToken(int Sequence, int Id, string Text, float Logprob, FinishReason? Finish);

    /// <summary>A finished sequence: its text (without the prompt), token ids and their log-probabilities, and why it ended.</summary>
    public sealed record GenerationResult(string Text, IReadOnlyList<int> PromptTokens, IReadOnlyList<int> Tokens, IReadOnlyList<float> Logprobs,
        FinishReason Finish, TimeSpan Elapsed);
}
