using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using GraphCompiler.Runtime.Execution;
using GraphCompiler.Runtime.Sampling;
using GraphCompiler.Runtime.TensorParallel;
using GraphCompiler.Spec;

namespace GraphCompiler.Runtime.Bench
{
    /// <summary>
    /// One end-to-end figure: a prefill of one prompt, or decode steps of a batch at a context. <paramref name="BoundTokensPerSecond"/>
    /// is physics' limit where there is one: for decode, every step reads all GEMM weights and each sequence's KV cache once
    /// at the measured copy bandwidth; for prefill, null (its FLOP rate is reported against the tensor-core rate instead).
    /// </summary>
    public sealed record ModelTiming(string Phase, int Batch, int Tokens, double MillisecondsPerStep, double TokensPerSecond,
        double? BoundTokensPerSecond, double? Tflops, long BytesPerStep)
    {
        public double? FractionOfBound => BoundTokensPerSecond is double b ? TokensPerSecond / b : null;
    }

    /// <summary>One kernel's share of a profiled decode step: launches, summed device time, its fraction of the step, and for
    /// GEMMs the bytes of weights read per second.</summary>
    public sealed record KernelProfile(string Kernel, int Launches, double Microseconds, double Share, double? WeightBytesPerSecond);

    /// <summary>
    /// graphc bench --synthetic: the whole model on the GPU backend, host overhead included (inputs up, tokens down, a
    /// sync per step, as generation runs it). Prefill: one prompt of each length, chunked as the spec's
    /// max_num_batched_tokens says, FLOPs counted as 2 × GEMM weights × tokens plus causal attention. Decode: a batch
    /// of sequences given a context without computing it (<see cref="GpuModel.AssumeContext"/>), then steps that sample
    /// on the GPU (greedy, then sampled), the first few untimed (they capture the CUDA graph).
    /// </summary>
    public static class ModelBench
    {
        private const int WarmSteps = 3;

        /// <summary>
        /// What a run times: the backend (one GPU, or the ranks of a split), the weight bytes one GPU reads a decode step
        /// (all but the embedding, which is gathered), and how a sequence is given a context without computing it.
        /// Decode's bound is one GPU's: its weights and its KV heads' cache at the copy bandwidth, the ranks reading theirs at once.
        /// </summary>
        public sealed record Target(IDecoderBackend Backend, long WeightBytesPerGpu, Action<DecoderSequence, int> AssumeContext)
        {
            public static Target Of(GpuModel gpu) => new Target(gpu, GemmWeightBytes(gpu), (s, n) => gpu.AssumeContext((GpuSequence)s, n));

            public static Target Of(TensorParallelBackend split) =>
                new Target(split, GemmWeightBytes((GpuModel)split.Ranks[0]), split.AssumeContext);

            private static long GemmWeightBytes(GpuModel gpu) => gpu.Weights.Bytes - gpu.Weights.Embedding.Bytes - (gpu.Weights.EmbeddingScale?.Bytes ?? 0);
        }

        /// <param name="stepTokens">Tokens a sequence brings to a decode step: 1 is plain decode; above, verification steps
        /// (<see cref="IDecoderBackend.Verify"/>, rewound after each: speculative decoding's cost of checking drafts),
        /// phase "verify N", tokens/s counting every token checked.</param>
        public static IEnumerable<ModelTiming> Run(Target target, IReadOnlyList<int> prompts, IReadOnlyList<int> batches, int context, int steps,
            double copyBytesPerSecond, int seed, IReadOnlyList<int>? stepTokens = null)
        {
            var model = target.Backend;
            var spec = model.Model.Spec;
            var m = spec.Model;
            var random = new Random(seed);
            int[] Tokens(int n) => Enumerable.Range(0, n).Select(i => i == 0 ? m.BosTokenId : random.Next(3, m.VocabSize)).ToArray();
            long gemmParameters = GemmParameters(spec);
            long kvPerToken = model.Model.Memory.KvBytesPerToken;
            long weightBytes = target.WeightBytesPerGpu;

            // One untimed prefill first: the first use of each kernel pays for module loading and caches.
            using (var warm = model.NewSequence()) model.Prefill(new[] { (warm, Tokens(Math.Min(prompts.Min(), spec.Limits.MaxNumBatchedTokens))) });
            foreach (int p in prompts)
            {
                var times = new List<double>();
                for (int rep = 0; rep < (p <= 1024 ? 3 : 1); rep++)
                {
                    using var sequence = model.NewSequence();
                    var prompt = Tokens(p);
                    var clock = Stopwatch.StartNew();
                    model.Prefill(new[] { (sequence, prompt) });
                    times.Add(clock.Elapsed.TotalMilliseconds);
                }
                double ms = Median(times);
                double flops = 2.0 * gemmParameters * p + 4.0 * m.HeadDim * m.NumAttentionHeads * m.NumHiddenLayers * (p * (p + 1.0) / 2);
                yield return new ModelTiming("prefill", 1, p, ms, p / (ms / 1e3), null, flops / (ms / 1e3) / 1e12, 0);
            }

            foreach (var (phase, sampling) in DecodeSampling)
                foreach (int b in batches)
                {
                    var sequences = Enumerable.Range(0, b).Select(_ => model.NewSequence()).ToList();
                    try
                    {
                        foreach (var s in sequences) target.AssumeContext(s, context);
                        var samplers = sequences.Select((_, i) => new Sampler(sampling with { Seed = (ulong)i }, Array.Empty<int>())).ToList();
                        var next = sequences.Select(_ => random.Next(3, m.VocabSize)).ToArray();
                        var clock = new Stopwatch();
                        for (int step = 0; step < WarmSteps + steps; step++)
                        {
                            if (step == WarmSteps) clock.Start();
                            var picks = model.DecodeAndSample(sequences.Select((s, i) => (s, next[i])).ToList(), samplers);
                            for (int i = 0; i < b; i++) next[i] = picks[i].Token;
                        }
                        double ms = clock.Elapsed.TotalMilliseconds / steps;
                        // The KV read grows by a token a step: the middle step's context stands for all.
                        long bytes = weightBytes + (long)b * (context + WarmSteps + steps / 2) * kvPerToken;
                        double bound = b / (bytes / copyBytesPerSecond);
                        yield return new ModelTiming(phase, b, context, ms, b / (ms / 1e3), bound, 2.0 * gemmParameters * b / (ms / 1e3) / 1e12, bytes);
                    }
                    finally
                    {
                        foreach (var s in sequences) s.Dispose();
                    }
                }

            foreach (int n in (stepTokens ?? new[] { 1 }).Where(n => n > 1))
                foreach (int b in batches.Where(b => b * n <= spec.Limits.MaxNumSeqs))
                {
                    var sequences = Enumerable.Range(0, b).Select(_ => model.NewSequence()).ToList();
                    try
                    {
                        foreach (var s in sequences) target.AssumeContext(s, context);
                        var clock = new Stopwatch();
                        for (int step = 0; step < WarmSteps + steps; step++)
                        {
                            if (step == WarmSteps) clock.Start();
                            model.Verify(sequences.Select(s => (s, Tokens(n + 1).Skip(1).ToArray())).ToList());
                            foreach (var s in sequences) model.Rewind(s, context);
                        }
                        double ms = clock.Elapsed.TotalMilliseconds / steps;
                        long bytes = weightBytes + (long)b * (context + n) * kvPerToken;
                        yield return new ModelTiming("verify " + n, b, context, ms, b * n / (ms / 1e3), b * n / (bytes / copyBytesPerSecond),
                            2.0 * gemmParameters * b * n / (ms / 1e3) / 1e12, bytes);
                    }
                    finally
                    {
                        foreach (var s in sequences) s.Dispose();
                    }
                }
        }

        /// <summary>Decode is timed as generation runs it, the tokens sampled on the GPU: greedy, and sampled with a chat
        /// server's usual cuts and a repetition penalty (the costliest path: three selections and the penalty state).</summary>
        private static readonly (string Phase, SamplingParams Sampling)[] DecodeSampling =
        {
            ("decode", SamplingParams.Greedy),
            ("decode sampled", new SamplingParams(Temperature: 0.8f, TopK: 50, TopP: 0.9f, RepetitionPenalty: 1.1f)),
        };

        /// <summary>
        /// Where one decode step's device time goes: a batch at a context, one step launched kernel by kernel between timing
        /// events (<see cref="GpuModel.ProfileDecode"/>), summed per kernel over the layers, longest first; GEMMs with the
        /// rate they read their weights at.
        /// </summary>
        public static IReadOnlyList<KernelProfile> ProfileDecode(GpuModel model, int batch, int context, int seed)
        {
            var random = new Random(seed);
            int vocab = model.Model.Spec.Model.VocabSize;
            var sequences = Enumerable.Range(0, batch).Select(_ => model.NewSequence()).ToList();
            try
            {
                foreach (var s in sequences) model.AssumeContext(s, context);
                // One untimed step first: its launches load what the profiled one would otherwise pay for.
                model.Decode(sequences.Select(s => ((DecoderSequence)s, random.Next(3, vocab))).ToList());
                var launches = model.ProfileDecode(sequences.Select(s => ((DecoderSequence)s, random.Next(3, vocab))).ToList());
                double total = launches.Sum(l => l.Microseconds);
                return launches.GroupBy(l => l.Kernel)
                    .Select(g =>
                    {
                        double us = g.Sum(l => l.Microseconds);
                        long bytes = g.Sum(l => l.WeightBytes);
                        return new KernelProfile(g.Key, g.Count(), us, us / total, bytes > 0 ? bytes / (us * 1e-6) : null);
                    })
                    .OrderByDescending(k => k.Microseconds).ToList();
            }
            finally
            {
                foreach (var s in sequences) s.Dispose();
            }
        }

        /// <summary>Weights the GEMMs multiply, per token: every layer's projections and lm_head.</summary>
        public static long GemmParameters(ModelSpec spec)
        {
            var m = spec.Model;
            long layer = ModuleKinds.LayerLinears.Sum(x => (long)m.LinearShape(x).K * m.LinearShape(x).N);
            var (k, n) = m.LinearShape(ModuleKind.LmHead);
            return layer * m.NumHiddenLayers + (long)k * n;
        }

        private static double Median(List<double> values)
        {
            var sorted = values.OrderBy(x => x).ToList();
            return sorted[sorted.Count / 2];
        }
    }
}
