using System;
using GraphCompiler.Kernels.Sampling;

namespace GraphCompiler.Runtime.Sampling
{
    /// <summary>What the GPU sampler reads of a <see cref="Sampler"/>: its parameter row and its penalty-state words.</summary>
    public static class SamplingTable
    {
        /// <summary>The sampler's row (<see cref="SamplingRow"/>): the logits row it reads, its penalty-state slot (−1 for none), its parameters and its step.</summary>
        public static void WriteRow(Sampler sampler, Span<int> row, int logitsRow, int stateSlot)
        {
            var p = sampler.Parameters;
            row.Slice(0, SamplingRow.Words).Clear();
            row[SamplingRow.LogitsRow] = logitsRow;
            row[SamplingRow.StateSlot] = stateSlot;
            row[SamplingRow.Temperature] = BitConverter.SingleToInt32Bits(p.Temperature);
            row[SamplingRow.TopK] = p.TopK;
            row[SamplingRow.TopP] = BitConverter.SingleToInt32Bits(p.TopP);
            row[SamplingRow.MinP] = BitConverter.SingleToInt32Bits(p.MinP);
            row[SamplingRow.Repetition] = BitConverter.SingleToInt32Bits(p.RepetitionPenalty);
            row[SamplingRow.Frequency] = BitConverter.SingleToInt32Bits(p.FrequencyPenalty);
            row[SamplingRow.Presence] = BitConverter.SingleToInt32Bits(p.PresencePenalty);
            row[SamplingRow.SeedLow] = unchecked((int)p.Seed);
            row[SamplingRow.SeedHigh] = unchecked((int)(p.Seed >> 32));
            row[SamplingRow.StepLow] = unchecked((int)sampler.Step);
            row[SamplingRow.StepHigh] = unchecked((int)(sampler.Step >> 32));
        }

        /// <summary>The sampler's history as penalty-state words, one a token: <see cref="SamplingRow.SeenBit"/> once seen, below it the times generated.</summary>
        public static void WriteState(Sampler sampler, Span<uint> words)
        {
            words.Clear();
            foreach (int token in sampler.Seen)
                if ((uint)token < (uint)words.Length) words[token] |= SamplingRow.SeenBit;
            foreach (var (token, count) in sampler.Generated)
                if ((uint)token < (uint)words.Length) words[token] = SamplingRow.SeenBit | (uint)count;
        }
    }
}
