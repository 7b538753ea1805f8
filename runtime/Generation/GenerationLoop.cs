using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Runtime.Execution;
using GraphCompiler.Runtime.Sampling;
using GraphCompiler.Runtime.Text;

namespace GraphCompiler.Runtime.Generation
{
    /// <summary>
    /// Generation on any backend, the one loop the CLI and <see cref="LanguageModel"/> share: the prompts prefilled
    /// together (one ragged step), then one decode step a token for every sequence still running. Each sequence samples with
    /// its own <see cref="Sampler"/> (prompt i with seed + i) and ends at its token budget, at limits.max_seq_len, at the
    /// end-of-sequence token or at a stop string. Tokens are yielded as they are chosen, so a caller can stream; the
    /// sequences' KV blocks go back to the backend when the enumeration ends, finished or abandoned.
    /// </summary>
    public static class GenerationLoop
    {
        /// <param name="tokenizer">Text for each token, and stop strings; without one the tokens carry no text.</param>
        /// <param name="onLogits">Called with each step's logits of a sequence (its index) before its token is chosen.</param>
        public static IEnumerable<GeneratedToken> Run(IDecoderBackend backend, IReadOnlyList<int[]> prompts, GenerationParams parameters,
            LlamaTextTokenizer? tokenizer = null, Action<int, float[]>? onLogits = null)
        {
            if (parameters.Problem() is string problem) throw new ArgumentException(problem, nameof(parameters));
            if (prompts.Count == 0) throw new ArgumentException("no prompts to generate from", nameof(prompts));
            if (tokenizer is null && parameters.Stop is { Count: > 0 })
                throw new ArgumentException("stop strings are matched on the text: they need the model's tokenizer", nameof(parameters));
            return Steps(backend, prompts, parameters, tokenizer, onLogits);
        }

        private static IEnumerable<GeneratedToken> Steps(IDecoderBackend backend, IReadOnlyList<int[]> prompts, GenerationParams parameters,
            LlamaTextTokenizer? tokenizer, Action<int, float[]>? onLogits)
        {
            var spec = backend.Model.Spec;
            var sampling = parameters.SamplingOrGreedy;
            var sequences = new List<Running>();
            try
            {
                for (int i = 0; i < prompts.Count; i++)
                    sequences.Add(new Running(i, prompts[i], backend.NewSequence(), new Sampler(sampling with { Seed = sampling.Seed + (ulong)i }, prompts[i]),
                        tokenizer is null ? null : new CompletionText(tokenizer, prompts[i], parameters.Stop)));
                var active = sequences;
                // The backend samples where the logits are (a GPU sends back 8 bytes a sequence), unless someone watches the
                // logits: then they come to the host and the samplers run there.
                SampledToken[] Sample(float[][] logits)
                {
                    for (int j = 0; j < active.Count; j++) onLogits!(active[j].Index, logits[j]);
                    return HostSampling.Sample(logits, active.Select(r => r.Sampler).ToList());
                }
                var prefill = active.Select(r => (r.Sequence, r.Prompt)).ToList();
                var picks = onLogits is null ? backend.PrefillAndSample(prefill, active.Select(r => r.Sampler).ToList()) : Sample(backend.Prefill(prefill));
                while (true)
                {
                    var next = new List<Running>();
                    for (int j = 0; j < active.Count; j++)
                    {
                        var r = active[j];
                        var chosen = picks[j];
                        r.Tokens.Add(chosen.Token);
                        FinishReason? finish = null;
                        string text = "";
                        if (!parameters.IgnoreEos && chosen.Token == spec.Model.EosTokenId)
                            finish = FinishReason.EndOfSequence;
                        else if (r.Text != null)
                        {
                            var (released, stopped) = r.Text.Add(chosen.Token);
                            text = released;
                            if (stopped) finish = FinishReason.Stop;
                        }
                        // The chosen token is fed back next step: it needs a cache position within max_seq_len.
                        if (finish is null && (r.Tokens.Count == parameters.MaxTokens || r.Sequence.Length + 1 > spec.Limits.MaxSeqLen))
                            finish = FinishReason.Length;
                        if (finish != null && finish != FinishReason.Stop && r.Text != null) text += r.Text.Finish();
                        yield return new GeneratedToken(r.Index, chosen.Token, text, chosen.Logprob, finish);
                        if (finish is null) next.Add(r);
                    }
                    if (next.Count == 0) yield break;
                    active = next;
                    var decode = active.Select(r => (r.Sequence, r.Tokens[r.Tokens.Count - 1])).ToList();
                    picks = onLogits is null ? backend.DecodeAndSample(decode, active.Select(r => r.Sampler).ToList()) : Sample(backend.Decode(decode));
                }
            }
            finally
            {
                foreach (var r in sequences) r.Sequence.Dispose();
            }
        }

        private sealed record Running(int Index, int[] Prompt, DecoderSequence Sequence, Sampler Sampler, CompletionText? Text)
        {
            public List<int> Tokens { get; } = new List<int>();
        }
    }
}
