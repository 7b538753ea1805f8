using System;
using System.Linq;
using GraphCompiler.Graph;
using GraphCompiler.Kernels.Sampling;
using GraphCompiler.Runtime.Sampling;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests.Sampling
{
    /// <summary>What the GPU sampler reads: the parameter rows and penalty-state words the runtime writes, and the kernel's constants for them.</summary>
    public class SamplingTableTests
    {
        [Fact]
        public void A_row_carries_the_parameters_as_fp32_bits_and_the_seed_and_step_in_halves()
        {
            var sampler = Sampler.Resume(new SamplingParams(0.7f, 40, 0.9f, 0.05f, 1.2f, 0.3f, 0.1f, Seed: 0x1234_5678_9ABC_DEF0ul),
                new[] { 1, 2 }, new System.Collections.Generic.Dictionary<int, int>(), 0x1_0000_0002ul);
            var row = new int[SamplingRow.Words + 3];
            row.AsSpan().Fill(-7);
            SamplingTable.WriteRow(sampler, row, logitsRow: 5, stateSlot: 3);
            Assert.Equal(5, row[SamplingRow.LogitsRow]);
            Assert.Equal(3, row[SamplingRow.StateSlot]);
            Assert.Equal(0.7f, BitConverter.Int32BitsToSingle(row[SamplingRow.Temperature]));
            Assert.Equal(40, row[SamplingRow.TopK]);
            Assert.Equal(0.9f, BitConverter.Int32BitsToSingle(row[SamplingRow.TopP]));
            Assert.Equal(0.05f, BitConverter.Int32BitsToSingle(row[SamplingRow.MinP]));
            Assert.Equal(1.2f, BitConverter.Int32BitsToSingle(row[SamplingRow.Repetition]));
            Assert.Equal(0.3f, BitConverter.Int32BitsToSingle(row[SamplingRow.Frequency]));
            Assert.Equal(0.1f, BitConverter.Int32BitsToSingle(row[SamplingRow.Presence]));
            Assert.Equal(unchecked((int)0x9ABC_DEF0u), row[SamplingRow.SeedLow]);
            Assert.Equal(0x1234_5678, row[SamplingRow.SeedHigh]);
            Assert.Equal(2, row[SamplingRow.StepLow]);
            Assert.Equal(1, row[SamplingRow.StepHigh]);
            Assert.All(row.Skip(SamplingRow.StepHigh + 1).Take(SamplingRow.Words - SamplingRow.StepHigh - 1), w => Assert.Equal(0, w));
            Assert.Equal(-7, row[SamplingRow.Words]);   // nothing past the row
        }

        [Fact]
        public void State_words_mark_every_seen_token_and_count_the_generated_ones()
        {
            var sampler = new Sampler(new SamplingParams(RepetitionPenalty: 1.1f), new[] { 3, 8, 3 });
            sampler.Record(8);
            sampler.Record(5);
            sampler.Record(5);
            var words = Enumerable.Repeat(0xDEADu, 10).ToArray();
            SamplingTable.WriteState(sampler, words);
            Assert.Equal(new uint[] { 0, 0, 0, SamplingRow.SeenBit, 0, SamplingRow.SeenBit | 2, 0, 0, SamplingRow.SeenBit | 1, 0 }, words);
        }

        [Theory]
        [InlineData(32000, 15, 48, 6)]
        [InlineData(128256, 17, 46, 7)]
        [InlineData(32768, 15, 48, 6)]
        public void The_kernel_sizes_ranks_and_masses_from_the_vocabulary(int vocab, int idBits, int massBits, int digits)
        {
            var source = SamplingEmitter.Emit(new SamplingKernel("sample", vocab), TestSpecs.Compile("small-llama").Spec.Tiles.For(GpuArch.Sm90)).Source!;
            Assert.Contains($"constexpr int kVocab = {vocab};", source);
            Assert.Contains($"constexpr int kIdBits = {idBits};", source);
            Assert.Contains($"constexpr int kMassBits = {massBits};", source);
            Assert.Contains($"constexpr int kRankDigits = {digits};", source);
            // A row's total mass (every token at most the top's 2^massBits) fits 64 bits with room to spare.
            Assert.True(Math.Log2(vocab) + massBits <= 63);
            Assert.Contains($"constexpr int kRowWords = {SamplingRow.Words};", source);
            Assert.Contains($"constexpr int kRowSeedHigh = {SamplingRow.SeedHigh};", source);
        }
    }
}
