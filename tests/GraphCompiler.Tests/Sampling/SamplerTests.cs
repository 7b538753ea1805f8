using System;
using System.Linq;
using GraphCompiler.Runtime.Sampling;

namespace GraphCompiler.Tests.Sampling
{
    /// <summary>The reference sampler: greedy at temperature 0, reproducible draws from a seed, the cuts and penalties as defined.</summary>
    public class SamplerTests
    {
        private static readonly float[] Logits = { 1.0f, 3.0f, 2.0f, 0.5f, 2.5f };

        private static double[] Softmax(float[] logits, float temperature)
        {
            double max = logits.Max() / temperature;
            var e = logits.Select(l => Math.Exp(l / temperature - max)).ToArray();
            return e.Select(x => x / e.Sum()).ToArray();
        }

        [Fact]
        public void Temperature_zero_is_greedy_with_the_log_softmax_of_the_choice()
        {
            var t = new Sampler(SamplingParams.Greedy, Array.Empty<int>()).Next(Logits);
            Assert.Equal(1, t.Token);
            Assert.Equal(Math.Log(Softmax(Logits, 1f)[1]), t.Logprob, 5);
        }

        [Fact]
        public void The_same_seed_gives_the_same_tokens_and_draws_follow_the_distribution()
        {
            var p = new SamplingParams(Temperature: 1f, Seed: 42);
            var a = Enumerable.Range(0, 20).Select(_ => 0).ToArray();
            var s1 = new Sampler(p, a);
            var s2 = new Sampler(p, a);
            Assert.Equal(Enumerable.Range(0, 50).Select(_ => s1.Next(Logits).Token), Enumerable.Range(0, 50).Select(_ => s2.Next(Logits).Token));

            var counts = new int[Logits.Length];
            for (ulong seed = 0; seed < 20000; seed++) counts[new Sampler(p with { Seed = seed }, a).Next(Logits).Token]++;
            var expected = Softmax(Logits, 1f);
            for (int i = 0; i < Logits.Length; i++) Assert.InRange(counts[i] / 20000.0, expected[i] - 0.015, expected[i] + 0.015);
        }

        [Fact]
        public void Top_k_top_p_and_min_p_keep_only_the_tokens_they_define()
        {
            // Sorted: 1 (3.0), 4 (2.5), 2 (2.0), 0 (1.0), 3 (0.5).
            Assert.All(Draws(new SamplingParams(Temperature: 1f, TopK: 2)), t => Assert.Contains(t, new[] { 1, 4 }));
            var probs = Softmax(Logits, 1f);
            double first = probs[1];
            // top-p just above the first token's probability: the first two tokens reach it.
            Assert.All(Draws(new SamplingParams(Temperature: 1f, TopP: (float)first + 0.01f)), t => Assert.Contains(t, new[] { 1, 4 }));
            Assert.All(Draws(new SamplingParams(Temperature: 1f, TopP: (float)first - 0.01f)), t => Assert.Equal(1, t));
            // min-p 0.5: token 2 has e^-1 ≈ 0.37 of the top probability, token 4 e^-0.5 ≈ 0.61.
            var kept = Draws(new SamplingParams(Temperature: 1f, MinP: 0.5f)).Distinct().OrderBy(t => t).ToArray();
            Assert.Equal(new[] { 1, 4 }, kept);
        }

        [Fact]
        public void Penalties_change_the_logits_as_defined()
        {
            // Repetition 2 on a seen token with logit 3: 1.5 < 2.5, so token 4 wins greedily.
            Assert.Equal(4, new Sampler(SamplingParams.Greedy with { RepetitionPenalty = 2f }, new[] { 1 }).Next(Logits).Token);
            // Frequency: after token 1 was generated twice, 3 − 2·0.4 = 2.2 < 2.5.
            var s = new Sampler(SamplingParams.Greedy with { FrequencyPenalty = 0.4f }, Array.Empty<int>());
            Assert.Equal(1, s.Next(Logits).Token);
            Assert.Equal(1, s.Next(Logits).Token);   // 3 − 0.4 = 2.6 still above 2.5
            Assert.Equal(4, s.Next(Logits).Token);   // 3 − 0.8 = 2.2
            // Presence: once, whatever the count.
            var q = new Sampler(SamplingParams.Greedy with { PresencePenalty = 0.6f }, Array.Empty<int>());
            Assert.Equal(1, q.Next(Logits).Token);
            Assert.Equal(4, q.Next(Logits).Token);
        }

        [Fact]
        public void The_rank_order_is_most_likely_first_and_ties_by_id_as_a_stable_sort_gives_it()
        {
            var random = new Random(5);
            for (int trial = 0; trial < 200; trial++)
            {
                // Coarse values make ties; zeros of both signs, infinities and NaN are in the mix.
                var logits = Enumerable.Range(0, 1 + random.Next(3000)).Select(_ => random.Next(12) switch
                {
                    0 => -0f,
                    1 => 0f,
                    2 => float.NegativeInfinity,
                    3 => trial % 7 == 0 ? float.NaN : float.PositiveInfinity,
                    _ => (float)Math.Round(random.NextDouble() * 8 - 4, 1),
                }).ToArray();
                var expected = Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).ThenBy(i => i);
                Assert.Equal(expected, Sampler.RankOrder(logits));
            }
        }

        [Fact]
        public void Greedy_takes_the_lowest_id_among_equal_tops_and_ranks_nan_lowest()
        {
            Assert.Equal(2, new Sampler(SamplingParams.Greedy, Array.Empty<int>()).Next(new[] { float.NaN, 1f, 3f, 3f }).Token);
            Assert.Equal(0, new Sampler(SamplingParams.Greedy, Array.Empty<int>()).Next(new[] { -0f, 0f, -1f }).Token);
        }

        [Fact]
        public void A_sampler_that_records_tokens_chosen_elsewhere_continues_as_if_it_had_drawn_them()
        {
            // What the GPU path relies on: the device draws, the host sampler records; or a sampler resumes from a history.
            var p = new SamplingParams(Temperature: 0.9f, TopP: 0.95f, RepetitionPenalty: 1.3f, FrequencyPenalty: 0.3f, PresencePenalty: 0.2f, Seed: 7);
            var random = new Random(3);
            var logits = Enumerable.Range(0, 200).Select(_ => (float)(random.NextDouble() * 6)).ToArray();
            var drawing = new Sampler(p, new[] { 4, 9 });
            var recording = new Sampler(p, new[] { 4, 9 });
            for (int i = 0; i < 30; i++) recording.Record(drawing.Next(logits).Token);
            var resumed = Sampler.Resume(p, new[] { 4, 9 }, drawing.Generated, drawing.Step);   // generated tokens count as seen
            Assert.Equal(30ul, recording.Step);
            for (int i = 0; i < 30; i++)
            {
                var expected = drawing.Next(logits);
                Assert.Equal(expected, recording.Next(logits));
                Assert.Equal(expected, resumed.Next(logits));
            }
        }

        [Fact]
        public void Parameters_out_of_range_are_refused_with_the_range()
        {
            Assert.Contains("must be in (0, 1]", Assert.Throws<ArgumentException>(() => new Sampler(new SamplingParams(TopP: 0f), Array.Empty<int>())).Message);
            Assert.Contains("0 (greedy) or more", new SamplingParams(Temperature: -1f).Problem());
            Assert.Null(new SamplingParams(Temperature: 0.7f, TopK: 40, TopP: 0.9f, MinP: 0.05f).Problem());
        }

        private static int[] Draws(SamplingParams p) =>
            Enumerable.Range(0, 400).Select(seed => new Sampler(p with { Seed = (ulong)seed }, Array.Empty<int>()).Next(Logits).Token).ToArray();
    }
}
