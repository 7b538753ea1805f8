using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Runtime.Execution;
using GraphCompiler.Runtime.Sampling;
using GraphCompiler.Runtime.Text;
using GraphCompiler.Spec;

namespace GraphCompiler.Runtime.Generation
{
    /// <summary>
    /// Generation on any backend, the one loop the CLI and <see cref="LanguageModel"/> share: the prompts prefilled
    /// together (one ragged step), then one decode step a token for every sequence still running — or, with draft tokens,
    /// a verification step of each sequence's last token and its drafts, whose chosen tokens are kept while each matches
    /// the draft before it (so every kept token is the one a plain decode step would have chosen). Each sequence samples with
    /// its own <see cref="Sampler"/> (prompt i with seed + i) and ends at its token budget, at limits.max_seq_len, at the
    /// end-of-sequence token or at a stop string. Tokens are yielded as they are chosen, so a caller can stream; the
    /// sequences' KV blocks go back to the backend when the enumeration ends, finished or abandoned.
    /// </summary>
    public static class GenerationLoop
    {
        /// <param name="tokenizer">Text for each token, and stop strings; without one the tokens carry no text.</param>
        /// <param name="onLogits">Called with each step's logits of a sequence (its index) before its token is chosen.</param>
        /// <param name="counts">Filled with what speculative decoding did (<see cref="GenerationParams.DraftTokens"/>).</param>
        public static IEnumerable<GeneratedToken> Run(IDecoderBackend backend, IReadOnlyList<int[]> prompts, GenerationParams parameters,
            LlamaTextTokenizer? tokenizer = null, Action<int, float[]>? onLogits = null, SpeculationCounts? counts = null)
        {
            if (parameters.Problem() is string problem) throw new ArgumentException(problem, nameof(parameters));
            if (prompts.Count == 0) throw new ArgumentException("no prompts to generate from", nameof(prompts));
            if (tokenizer is null && parameters.Stop is { Count: > 0 })
                throw new ArgumentException("stop strings are matched on the text: they need the model's tokenizer", nameof(parameters));
            return Steps(backend, prompts, parameters, tokenizer, onLogits, counts);
        }

        private static IEnumerable<GeneratedToken> Steps(IDecoderBackend backend, IReadOnlyList<int[]> prompts, GenerationParams parameters,
            LlamaTextTokenizer? tokenizer, Action<int, float[]>? onLogits, SpeculationCounts? counts)
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
                var firsts = onLogits is null ? backend.PrefillAndSample(prefill, active.Select(r => r.Sampler).ToList()) : Sample(backend.Prefill(prefill));
                var picks = firsts.Select(p => new[] { p }).ToArray();
                foreach (var r in active) r.Valid = r.Sequence.Length - 1;   // the step's tokens stand up to its last
                while (true)
                {
                    var next = new List<Running>();
                    for (int j = 0; j < active.Count; j++)
                    {
                        var r = active[j];
                        // A verification's picks run up to the first that differs from its draft token: each stands.
                        int kept = 0;
                        FinishReason? finish = null;
                        for (; kept < picks[j].Length && finish is null; kept++)
                        {
                            var chosen = picks[j][kept];
                            if (r.PickLogits != null) onLogits?.Invoke(r.Index, r.PickLogits[kept]);   // a verification's rows, as they are kept
                            if (kept > 0) counts?.Accept();
                            r.Tokens.Add(chosen.Token);
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
                            if (finish is null && (r.Tokens.Count == parameters.MaxTokens || r.Valid + kept + 2 > spec.Limits.MaxSeqLen))
                                finish = FinishReason.Length;
                            if (finish != null && finish != FinishReason.Stop && r.Text != null) text += r.Text.Finish();
                            yield return new GeneratedToken(r.Index, chosen.Token, text, chosen.Logprob, finish);
                        }
                        // The cache holds the step's tokens up to the last kept pick's input; the rejected drafts go.
                        if (r.Sequence.Length > r.Valid + kept) backend.Rewind(r.Sequence, r.Valid + kept);
                        if (finish is null) next.Add(r);
                    }
                    if (next.Count == 0) yield break;
                    active = next;
                    foreach (var r in active) r.Valid = r.Sequence.Length;
                    var drafts = Drafts(active, parameters, spec.Limits);
                    var verify = drafts.Any(d => d.Length > 0)
                        ? active.Select((r, j) => (r.Sequence, new[] { r.Tokens[^1] }.Concat(drafts[j]).ToArray())).ToList()
                        : null;
                    if (verify != null && !HasRoom(backend, verify)) verify = null;
                    for (int j = 0; j < active.Count; j++)
                    {
                        active[j].Draft = verify is null ? Array.Empty<int>() : drafts[j];
                        active[j].PickLogits = null;
                    }
                    if (verify is null)
                    {
                        var decode = active.Select(r => (r.Sequence, r.Tokens[r.Tokens.Count - 1])).ToList();
                        var one = onLogits is null ? backend.DecodeAndSample(decode, active.Select(r => r.Sampler).ToList()) : Sample(backend.Decode(decode));
                        picks = one.Select(p => new[] { p }).ToArray();
                        continue;
                    }
                    // ---- A verification step: each sequence's last token and its drafts; each position's token is chosen
                    // by the sequence's sampler from the logits after the tokens before it, as a decode step would ----
                    foreach (var r in active) counts?.Draft(r.Draft.Length);
                    var logits = backend.Verify(verify);
                    picks = new SampledToken[active.Count][];
                    for (int j = 0; j < active.Count; j++)
                    {
                        var r = active[j];
                        var chosen = new List<SampledToken>();
                        for (int i = 0; i < logits[j].Length; i++)
                        {
                            chosen.Add(r.Sampler.Next(logits[j][i]));
                            bool ends = !parameters.IgnoreEos && chosen[i].Token == spec.Model.EosTokenId;
                            if (ends || (i < r.Draft.Length && chosen[i].Token != r.Draft[i])) break;
                        }
                        picks[j] = chosen.ToArray();
                        r.PickLogits = logits[j];
                    }
                    counts?.Step();
                }
            }
            finally
            {
                foreach (var r in sequences) r.Sequence.Dispose();
            }
        }

        /// <summary>Whether the backend has KV room for a verification step: near a full pool the step decodes without drafts,
        /// as plain decoding would go on.</summary>
        private static bool HasRoom(IDecoderBackend backend, List<(DecoderSequence Sequence, int[] Tokens)> verify)
        {
            try
            {
                backend.CheckRoom(verify, null);
                return true;
            }
            catch (Kv.KvCacheExhaustedException)
            {
                return false;
            }
        }

        /// <summary>Draft tokens for each running sequence, looked up in its prompt and tokens so far: at most
        /// <see cref="GenerationParams.DraftTokens"/>, none past its token budget or max_seq_len, and within max_num_seqs
        /// tokens for the whole step (earlier sequences first).</summary>
        private static int[][] Drafts(List<Running> active, GenerationParams parameters, LimitsSpec limits)
        {
            int room = limits.MaxNumSeqs - active.Count;
            var drafts = new int[active.Count][];
            for (int j = 0; j < active.Count; j++)
            {
                var r = active[j];
                int most = Math.Min(Math.Min(parameters.DraftTokens, room), Math.Min(parameters.MaxTokens - r.Tokens.Count - 1, limits.MaxSeqLen - r.Valid - 1));
                drafts[j] = most > 0 ? PromptLookupDraft.Next(r.History, most) : Array.Empty<int>();
                room -= drafts[j].Length;
            }
            return drafts;
        }

        private sealed record Running(int Index, int[] Prompt, DecoderSequence Sequence, Sampler Sampler, CompletionText? Text)
        {
            public List<int> Tokens { get; } = new List<int>();

            /// <summary>The draft tokens the current step verifies.</summary>
            public int[] Draft { get; set; } = Array.Empty<int>();

            /// <summary>A verification step's logits rows, handed to onLogits as its picks are kept (null after a plain step).</summary>
            public float[][]? PickLogits { get; set; }

            /// <summary>The cache's tokens before the step's last (a decode step's input, a verification's first): the step's
            /// picks stand on those and its tokens up to the pick's input.</summary>
            public int Valid { get; set; }

            /// <summary>The prompt, then the tokens chosen.</summary>
            public IReadOnlyList<int> History => new ConcatenatedList(Prompt, Tokens);
        }

        /// <summary>Two lists read as one, without a copy (the draft lookup scans the history each step).</summary>
        private sealed class ConcatenatedList : IReadOnlyList<int>
        {
            private readonly int[] _first;
            private readonly List<int> _second;

            public ConcatenatedList(int[] first, List<int> second) => (_first, _second) = (first, second);

            public int this[int index] => index < _first.Length ? _first[index] : _second[index - _first.Length];
            public int Count => _first.Length + _second.Count;

            public IEnumerator<int> GetEnumerator() => _first.Concat(_second).GetEnumerator();
            System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
        }
    }

    /// <summary>What speculative decoding did: verification steps, draft tokens verified, and how many were accepted.</summary>
    public sealed class SpeculationCounts
    {
        public int Steps { get; private set; }
        public int Drafted { get; private set; }
        public int Accepted { get; private set; }

        internal void Step() => Steps++;
        internal void Draft(int tokens) => Drafted += tokens;
        internal void Accept() => Accepted++;
    }
}
