using System;
using System.Collections.Generic;
using System.Linq;

namespace GraphCompiler.Runtime.Cpu
{
    /// <summary>Negative log-likelihood of a token stream, in the way the training script measures held-out loss.</summary>
    public readonly record struct PerplexityResult(double NegativeLogLikelihood, long Predictions, int Windows)
    {
        public double Perplexity => Math.Exp(NegativeLogLikelihood / Math.Max(1, Predictions));
    }

    public static class Perplexity
    {
        /// <summary>
        /// Cuts the stream into consecutive windows of <paramref name="window"/> tokens (the last partial one dropped, as
        /// train_small.py does) and, in each, scores every token after the first from the tokens before it. All windows
        /// advance together: one batched decode step per position.
        /// </summary>
        public static PerplexityResult Evaluate(CpuModel model, IReadOnlyList<int> stream, int window)
        {
            if (window < 2) throw new ArgumentOutOfRangeException(nameof(window), window, "a window needs at least two tokens");
            var windows = new List<int[]>();
            for (int start = 0; start + window + 1 <= stream.Count; start += window)
                windows.Add(stream.Skip(start).Take(window).ToArray());
            if (windows.Count == 0) throw new ArgumentException($"the text has {stream.Count} tokens, fewer than one window of {window} + 1");

            var sequences = windows.Select(_ => model.NewSequence()).ToList();
            var logits = model.Prefill(sequences.Select((s, i) => (s, new[] { windows[i][0] })).ToList());
            double nll = 0;
            for (int t = 1; t < window; t++)
            {
                for (int i = 0; i < windows.Count; i++) nll -= LogSoftmaxAt(logits[i], windows[i][t]);
                if (t + 1 < window) logits = model.Decode(sequences.Select((s, i) => (s, windows[i][t])).ToList());
            }
            return new PerplexityResult(nll, (long)windows.Count * (window - 1), windows.Count);
        }

        private static double LogSoftmaxAt(float[] logits, int target)
        {
            double max = logits.Max(), sum = 0;
            foreach (float l in logits) sum += Math.Exp(l - max);
            return logits[target] - max - Math.Log(sum);
        }
    }
}
