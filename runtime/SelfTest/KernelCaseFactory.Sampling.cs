using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Graph;
using GraphCompiler.Runtime.Sampling;

namespace GraphCompiler.Runtime.SelfTest
{
    public sealed partial class KernelCaseFactory
    {
        /// <summary>
        /// The parameter sets the sampler's cases cycle through: greedy and sampled, each cut alone and together, penalties
        /// with and without cuts, and the edges (top_k 1 and vocab − 1, top_p just below 1).
        /// </summary>
        private static SamplingParams[] SamplingMix(int vocab) => new[]
        {
            SamplingParams.Greedy,
            new SamplingParams(Temperature: 1f),
            new SamplingParams(Temperature: 0.7f, TopK: 40),
            new SamplingParams(Temperature: 1f, TopP: 0.9f),
            new SamplingParams(Temperature: 0.8f, TopK: 50, TopP: 0.95f, MinP: 0.05f),
            new SamplingParams(Temperature: 1.2f, RepetitionPenalty: 1.3f, FrequencyPenalty: 0.4f, PresencePenalty: 0.6f),
            new SamplingParams(RepetitionPenalty: 1.2f, FrequencyPenalty: 0.5f),
            new SamplingParams(Temperature: 0.6f, TopP: 0.5f, RepetitionPenalty: 1.1f, FrequencyPenalty: 0.2f, PresencePenalty: 0.1f),
            new SamplingParams(Temperature: 1f, TopK: 1),
            new SamplingParams(Temperature: 1f, TopK: vocab - 1, MinP: 0.1f),
            new SamplingParams(Temperature: 2f, TopP: 0.999f),
        };

        /// <summary>
        /// Sampler steps of 1, 7 and max_num_seqs sequences, each row with its own parameters (<see cref="SamplingMix"/>), seed,
        /// step and history, over logits of four shapes: peaked (a few tokens far above a normal spread), coarsely rounded
        /// (many exact ties, decided by id), flat (top-p keeps thousands of tokens) and partly masked (−∞). The reference is
        /// the host <see cref="Sampler"/> resumed at the same step with the same history: the tokens must match exactly, the
        /// log-probabilities to rounding, and the penalty state after the step word for word.
        /// </summary>
        private IEnumerable<KernelTestCase> Sampling(SamplingKernel k) =>
            new[] { 1, 7, _spec.Limits.MaxNumSeqs }.Distinct().Select(rows => SamplingCase(k, rows));

        private KernelTestCase SamplingCase(SamplingKernel k, int rows)
        {
            int v = k.Vocab;
            var mix = SamplingMix(v);
            var logits = new float[(long)rows * v];
            var resumes = new List<Func<Sampler>>();
            var table = new int[rows * GraphCompiler.Kernels.Sampling.SamplingRow.Words];
            var state = new uint[(long)rows * v];
            for (int r = 0; r < rows; r++)
            {
                var row = logits.AsSpan(r * v, v);
                for (int i = 0; i < v; i++)
                {
                    double z = Normal();
                    row[i] = (r % 4) switch
                    {
                        1 => (float)Math.Round(z * 2) / 2,
                        2 => (float)z,
                        3 when _random.Next(10) == 0 => float.NegativeInfinity,
                        _ => (float)(3 * z),
                    };
                }
                if (r % 4 != 2)
                    for (int j = 0; j < 5; j++) row[_random.Next(v)] += 8f;
                // A history over the likely tokens too, so the penalties change which tokens win.
                var likely = Enumerable.Range(0, v).OrderByDescending(i => logits[r * v + i]).Take(20).ToArray();
                var seen = Enumerable.Range(0, 30).Select(_ => _random.Next(v)).Concat(likely.Where((_, i) => i % 2 == 0)).ToArray();
                var generated = likely.Where((_, i) => i % 3 == 0).Distinct().ToDictionary(t => t, _ => _random.Next(1, 4));
                var parameters = mix[(r + 7) % mix.Length] with { Seed = (ulong)_random.NextInt64() };
                ulong step = (ulong)_random.Next(1000);
                Sampler Resume() => Sampler.Resume(parameters, seen, generated, step);
                resumes.Add(Resume);
                int slot = parameters.HasPenalties ? r : -1;
                var sampler = Resume();
                SamplingTable.WriteRow(sampler, table.AsSpan(r * GraphCompiler.Kernels.Sampling.SamplingRow.Words), r, slot);
                if (slot >= 0) SamplingTable.WriteState(sampler, state.AsSpan(slot * v, v));
            }
            var c = new KernelTestCase($"S={rows}");
            c.Input("logits", logits).Input("params", table).InOut("state", state, OutputKind.Exact);
            c.Output("tokens", new int[rows], OutputKind.Exact);
            c.Output("logprobs", new float[rows], OutputKind.Float);
            c.Scalars["num_rows"] = rows;
            c.Grid["S"] = rows;
            c.Reference = a =>
            {
                var tokens = (int[])a["tokens"];
                var logprobs = (float[])a["logprobs"];
                var after = (uint[])a["state"];
                for (int r = 0; r < rows; r++)
                {
                    var sampler = resumes[r]();
                    var chosen = sampler.Next(logits.AsSpan(r * v, v));
                    tokens[r] = chosen.Token;
                    logprobs[r] = chosen.Logprob;
                    if (sampler.Parameters.HasPenalties) SamplingTable.WriteState(sampler, after.AsSpan(r * v, v));
                }
            };
            return c;
        }
    }
}
