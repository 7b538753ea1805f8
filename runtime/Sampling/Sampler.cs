using System;
using System.Collections.Generic;
using System.Linq;

namespace GraphCompiler.Runtime.Sampling
{
    /// <summary>
    /// How the next token is chosen. Temperature 0 is greedy. Penalties follow vLLM's definitions: repetition divides a
    /// positive logit (multiplies a negative one) of every token seen in the prompt or output; frequency subtracts
    /// f · (times the token was generated); presence subtracts p once a token was generated. Then top-k, top-p (the
    /// smallest set of most likely tokens whose probability reaches p) and min-p (drop tokens below min_p × the top
    /// probability) on the tempered distribution.
    /// </summary>
    public sealed record SamplingParams(
        float Temperature = 0f, int TopK = 0, float TopP = 1f, float MinP = 0f,
        float RepetitionPenalty = 1f, float FrequencyPenalty = 0f, float PresencePenalty = 0f, ulong Seed = 0)
    {
        public static readonly SamplingParams Greedy = new SamplingParams();

        /// <summary>What is wrong with these parameters, or null.</summary>
        public string? Problem() =>
            Temperature < 0 || float.IsNaN(Temperature) ? $"temperature {Temperature} must be 0 (greedy) or more"
            : TopK < 0 ? $"top_k {TopK} must be 0 (off) or more"
            : !(TopP > 0 && TopP <= 1) ? $"top_p {TopP} must be in (0, 1]"
            : !(MinP >= 0 && MinP < 1) ? $"min_p {MinP} must be in [0, 1)"
            : !(RepetitionPenalty > 0) ? $"repetition_penalty {RepetitionPenalty} must be above 0 (1 is off)"
            : null;

        public bool IsGreedy => Temperature == 0f;

        /// <summary>Whether any penalty is on: only then does a sampler's history change its choices.</summary>
        public bool HasPenalties => RepetitionPenalty != 1f || FrequencyPenalty != 0f || PresencePenalty != 0f;
    }

    /// <summary>The chosen token and its log-probability under the distribution it was drawn from (after penalties, temperature and cuts).</summary>
    public readonly record struct SampledToken(int Token, float Logprob);

    /// <summary>
    /// The sampler of one sequence, a reference that a GPU sampler must reproduce: step n draws u from SplitMix64(seed, n)
    /// (a counter-based generator, so any backend gets the same u for the same step without sharing state), sorts the
    /// surviving tokens by probability (ties by id), and takes the first whose cumulative probability exceeds u.
    /// </summary>
    public sealed class Sampler
    {
        private readonly SamplingParams _params;
        private readonly HashSet<int> _seen;
        private readonly Dictionary<int, int> _generated = new Dictionary<int, int>();
        private ulong _step;

        public Sampler(SamplingParams parameters, IEnumerable<int> prompt)
        {
            if (parameters.Problem() is string problem) throw new ArgumentException(problem, nameof(parameters));
            _params = parameters;
            _seen = new HashSet<int>(prompt);
        }

        /// <summary>A sampler part way through a sequence: tokens seen (prompt and output; a generated token is seen too), how
        /// often each was generated, and the step it is at.</summary>
        internal static Sampler Resume(SamplingParams parameters, IEnumerable<int> seen, IReadOnlyDictionary<int, int> generated, ulong step)
        {
            var sampler = new Sampler(parameters, seen.Concat(generated.Keys)) { _step = step };
            foreach (var (token, count) in generated) sampler._generated[token] = count;
            return sampler;
        }

        public SamplingParams Parameters => _params;

        /// <summary>How many tokens this sampler has chosen: the step whose u the next draw takes.</summary>
        public ulong Step => _step;

        /// <summary>Tokens of the prompt and the output so far (the repetition penalty's set).</summary>
        public IReadOnlyCollection<int> Seen => _seen;

        /// <summary>How often each token was generated (frequency and presence penalties).</summary>
        public IReadOnlyDictionary<int, int> Generated => _generated;

        /// <summary>The most likely token (the lowest id among ties): greedy decoding without penalties.</summary>
        public static int Argmax(ReadOnlySpan<float> logits)
        {
            int best = 0;
            for (int i = 1; i < logits.Length; i++)
                if (logits[i] > logits[best]) best = i;
            return best;
        }

        public SampledToken Next(ReadOnlySpan<float> logits)
        {
            var adjusted = logits.ToArray();
            var p = _params;
            foreach (int t in _seen)
                if (p.RepetitionPenalty != 1f && t < adjusted.Length)
                    adjusted[t] = adjusted[t] > 0 ? adjusted[t] / p.RepetitionPenalty : adjusted[t] * p.RepetitionPenalty;
            foreach (var (t, count) in _generated)
                adjusted[t] -= p.FrequencyPenalty * count + (count > 0 ? p.PresencePenalty : 0f);

            SampledToken chosen = p.IsGreedy ? Greedy(adjusted) : Draw(adjusted, Uniform(p.Seed, _step));
            Record(chosen.Token);
            return chosen;
        }

        /// <summary>Takes a token chosen elsewhere (a GPU sampler drawing for this one) into the history, as <see cref="Next"/> does its own.</summary>
        public void Record(int token)
        {
            _step++;
            _seen.Add(token);
            _generated[token] = _generated.TryGetValue(token, out int c) ? c + 1 : 1;
        }

        /// <summary>The first token in the sampling order (largest logit, NaN lowest, ties by the lowest id).</summary>
        private static SampledToken Greedy(float[] logits)
        {
            int best = 0;
            for (int i = 1; i < logits.Length; i++) if (Orderable(logits[i]) > Orderable(logits[best])) best = i;
            return new SampledToken(best, TopLogprob(logits, best));
        }

        private SampledToken Draw(float[] logits, double u)
        {
            var p = _params;
            var order = RankOrder(logits);
            int keep = p.TopK > 0 ? Math.Min(p.TopK, order.Length) : order.Length;
            double max = logits[order[0]] / p.Temperature;
            var probs = new double[keep];
            double sum = 0;
            for (int i = 0; i < keep; i++) sum += probs[i] = Math.Exp(logits[order[i]] / p.Temperature - max);
            for (int i = 0; i < keep; i++) probs[i] /= sum;
            // top-p: the shortest prefix reaching p; min-p: tokens at least min_p × the top probability.
            int cut = 0;
            for (double cumulative = 0; cut < keep && (cut == 0 || cumulative < p.TopP); cut++) cumulative += probs[cut];
            while (cut > 1 && probs[cut - 1] < p.MinP * probs[0]) cut--;
            double kept = 0;
            for (int i = 0; i < cut; i++) kept += probs[i];
            double target = u * kept, running = 0;
            int index = cut - 1;
            for (int i = 0; i < cut; i++)
            {
                running += probs[i];
                if (running > target) { index = i; break; }
            }
            return new SampledToken(order[index], (float)Math.Log(probs[index] / kept));
        }

        /// <summary>
        /// Token ids most likely first, ties by id, so the order (and the draw) is the same on any backend. A stable LSD
        /// radix sort (three 11-bit digits) of the logits' order-preserving bits, inverted so the largest comes first, over
        /// the ids in increasing order: O(vocabulary), where a comparison sort of 32000 logits cost milliseconds a token.
        /// </summary>
        internal static int[] RankOrder(float[] logits)
        {
            const int DigitBits = 11, Buckets = 1 << DigitBits;
            int n = logits.Length;
            var key = new uint[n];
            var order = new int[n];
            for (int i = 0; i < n; i++)
            {
                key[i] = ~Orderable(logits[i]);
                order[i] = i;
            }
            var next = new int[n];
            var start = new int[Buckets];
            for (int shift = 0; shift < 32; shift += DigitBits)
            {
                Array.Clear(start);
                foreach (int i in order) start[(key[i] >> shift) & (Buckets - 1)]++;
                for (int b = 0, at = 0; b < Buckets; b++) (start[b], at) = (at, at + start[b]);
                foreach (int i in order) next[start[(key[i] >> shift) & (Buckets - 1)]++] = i;
                (order, next) = (next, order);
            }
            return order;
        }

        /// <summary>A float's bits as an unsigned integer in the float's order: negatives flipped, positives above them.</summary>
        private static uint Orderable(float f)
        {
            if (float.IsNaN(f)) return 0;
            uint bits = BitConverter.SingleToUInt32Bits(f == 0 ? 0f : f);
            return (bits & 0x8000_0000u) != 0 ? ~bits : bits | 0x8000_0000u;
        }

        /// <summary>log softmax of the top token: −log Σ e^(l − top).</summary>
        private static float TopLogprob(float[] logits, int top)
        {
            double max = logits[top], sum = 0;
            foreach (float l in logits) sum += Math.Exp(l - max);
            return (float)-Math.Log(sum);
        }

        /// <summary>u in [0, 1) from SplitMix64 of (seed, step): 53 random bits.</summary>
        public static double Uniform(ulong seed, ulong step)
        {
            ulong z = seed + (step + 1) * 0x9E3779B97F4A7C15ul;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ul;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBul;
            z ^= z >> 31;
            return (z >> 11) * (1.0 / (1ul << 53));
        }
    }
}
