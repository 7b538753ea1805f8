using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Runtime.Execution;

namespace GraphCompiler.Tests.Cpu
{
    /// <summary>Decode steps of several tokens a sequence (speculative verification) on the CPU backend.</summary>
    [Collection("Cpu")]
    public class VerifyStepTests
    {
        private readonly CpuModels _models;

        public VerifyStepTests(CpuModels models) => _models = models;

        /// <summary>Each token of a verification step sees its sequence up to itself: its logits are what decoding the
        /// tokens one at a time gives, bit for bit (the same rows, the same arithmetic), ragged over sequences.</summary>
        [Theory]
        [InlineData("small-llama")]
        [InlineData("cpu-mixed")]
        public void A_verification_step_gives_every_token_the_logits_of_decoding_them_one_by_one(string spec)
        {
            var m = _models.Get(spec);
            IDecoderBackend cpu = m.Cpu;
            var prompts = new[] { CpuModels.Prompt(m.Compiled, 6, seed: 3), CpuModels.Prompt(m.Compiled, 9, seed: 4) };
            var steps = new[] { new[] { 11, 12, 13, 14, 15, 16, 17, 18 }, new[] { 21, 22 } };
            var verified = prompts.Select(_ => cpu.NewSequence()).ToList();
            cpu.Prefill(verified.Select((s, i) => (s, prompts[i])).ToList());
            var logits = cpu.Verify(verified.Select((s, i) => (s, steps[i])).ToList());

            for (int i = 0; i < prompts.Length; i++)
            {
                Assert.Equal(prompts[i].Length + steps[i].Length, verified[i].Length);
                var one = cpu.NewSequence();
                cpu.Prefill(new[] { (one, prompts[i]) });
                Assert.Equal(steps[i].Length, logits[i].Length);
                for (int t = 0; t < steps[i].Length; t++) Assert.Equal(cpu.Decode(new[] { (one, steps[i][t]) })[0], logits[i][t]);
            }
        }

        [Fact]
        public void A_rewound_sequence_continues_as_if_the_dropped_tokens_had_never_run()
        {
            var m = _models.Get("small-llama");
            IDecoderBackend cpu = m.Cpu;
            var prompt = CpuModels.Prompt(m.Compiled, 7, seed: 5);
            var (rewound, straight) = (cpu.NewSequence(), cpu.NewSequence());
            cpu.Prefill(new[] { (rewound, prompt), (straight, prompt) });
            cpu.Verify(new[] { (rewound, new[] { 40, 41, 42, 43 }) });
            cpu.Rewind(rewound, prompt.Length + 2);   // keeps 40 and 41
            Assert.Equal(prompt.Length + 2, rewound.Length);
            cpu.Decode(new[] { (straight, 40) });
            cpu.Decode(new[] { (straight, 41) });
            Assert.Equal(cpu.Decode(new[] { (straight, 99) })[0], cpu.Decode(new[] { (rewound, 99) })[0]);
        }

        [Fact]
        public void A_verification_step_past_its_limits_is_refused_naming_them()
        {
            var m = _models.Get("small-llama");
            IDecoderBackend cpu = m.Cpu;
            var sequence = cpu.NewSequence();
            cpu.Prefill(new[] { (sequence, CpuModels.Prompt(m.Compiled, 4)) });
            var tooMany = Assert.Throws<ArgumentException>(() => cpu.Verify(new[] { (sequence, Enumerable.Repeat(5, 9).ToArray()) }));
            Assert.Contains("at most 8", tooMany.Message);
            int rows = m.Compiled.Spec.Limits.MaxNumSeqs;
            var batch = Enumerable.Range(0, rows / 8 + 1).Select(_ => cpu.NewSequence()).ToList();
            var overRows = Assert.Throws<ArgumentException>(() => cpu.Verify(batch.Select(s => (s, Enumerable.Repeat(5, 8).ToArray())).ToList()));
            Assert.Contains("limits.max_num_seqs", overRows.Message);
            Assert.Equal(4, sequence.Length);   // nothing ran
            Assert.Throws<ArgumentOutOfRangeException>(() => cpu.Rewind(sequence, 5));
        }
    }
}
