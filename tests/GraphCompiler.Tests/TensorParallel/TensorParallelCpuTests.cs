using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using GraphCompiler.Compilation;
using GraphCompiler.Graph;
using GraphCompiler.Runtime.Checkpoints;
using GraphCompiler.Runtime.Cpu;
using GraphCompiler.Runtime.Execution;
using GraphCompiler.Runtime.Reference;
using GraphCompiler.Runtime.Sampling;
using GraphCompiler.Runtime.TensorParallel;
using GraphCompiler.Spec;
using GraphCompiler.Tests.Cpu;
using GraphCompiler.Tests.Text;

namespace GraphCompiler.Tests.TensorParallel
{
    /// <summary>
    /// A model split over two ranks on the CPU backend (each its heads and MLP slice, all-reducing after o_proj and
    /// down_proj) against the same model whole: the same greedy tokens, logits within fp16 rounding of the order the
    /// partial sums are added in.
    /// </summary>
    [Collection("Cpu")]
    public class TensorParallelCpuTests
    {
        /// <summary>‖split − whole‖ / ‖whole‖ of a step's logits where activations stay fp16: the split adds each layer's o_proj
        /// and down_proj products in another order and rounds in between (observed 0.8–1.2e-3 on small-llama and cpu-mixed-w8a16).</summary>
        private const double LogitsTolerance = 5e-3;

        /// <summary>cpu-mixed quantizes o_proj's input to FP8 with a scale per row, which a rank takes over its half of the
        /// row: the split rounds those activations differently (observed 2.9–4.2e-2; W8A8 itself moves the whole model's
        /// logits 5.3e-2 from its W8A16 twin).</summary>
        private const double W8A8LogitsTolerance = 8e-2;

        /// <summary>The CPU backend's ranks of a split model, as graphc opens them.</summary>
        private static IDecoderBackend Split(CompiledModel split, IReadOnlyList<CheckpointTensors> ranks) =>
            BackendSelection.Open(BackendKind.Cpu, split, "", "", r => ranks[r], new GpuModelOptions(), false, _ => { }).Backend;

        private static CompiledModel SplitSpec(CompiledModel whole, int ranks) => ModelCompiler.Compile(whole.Spec with { Parallel = new ParallelSpec(ranks) });

        /// <summary>A prompt, then greedy steps fed with the whole model's choice: the split must choose the same each step.</summary>
        private static void AssertSameGreedySteps(IDecoderBackend whole, IDecoderBackend split, int[] prompt, int steps, List<double> errors, double tolerance = LogitsTolerance)
        {
            using var a = whole.NewSequence();
            using var b = split.NewSequence();
            var x = whole.Prefill(new[] { (a, prompt) })[0];
            var y = split.Prefill(new[] { (b, prompt) })[0];
            for (int step = 0; ; step++)
            {
                errors.Add(CpuModels.RelativeL2(y, x));
                Assert.True(errors[^1] < tolerance, $"step {step}: logits differ by {errors[^1]:E2} (relative L2)");
                int token = Sampler.Argmax(x);
                Assert.Equal(token, Sampler.Argmax(y));
                if (step == steps) break;
                x = whole.Decode(new[] { (a, token) })[0];
                y = split.Decode(new[] { (b, token) })[0];
            }
            Assert.Equal(a.Length, b.Length);
        }

        [Theory]
        [InlineData("small-llama")]
        [InlineData("cpu-mixed")]
        [InlineData("cpu-mixed-w8a16")]
        public void Two_ranks_choose_the_whole_model_s_greedy_tokens_with_its_logits(string spec)
        {
            var loaded = new CpuModels().Get(spec);
            var split = SplitSpec(loaded.Compiled, 2);
            using var backend = Split(split, RandomCheckpoint.ForRanks(split, CpuModels.Seed));
            var errors = new List<double>();
            AssertSameGreedySteps(loaded.Cpu, backend, CpuModels.Prompt(loaded.Compiled, 21), 12, errors, spec == "cpu-mixed" ? W8A8LogitsTolerance : LogitsTolerance);
            Assert.Contains(errors, e => e > 0);   // the ranks really add in another order
        }

        [Fact]
        public void The_trained_checkpoint_split_over_two_ranks_reads_each_rank_s_shards_and_generates_the_same_text()
        {
            var whole = TestSpecs.Compile("small-llama");
            var split = SplitSpec(whole, 2);
            var sources = new SpecSourceMap("small-llama.yaml");
            using var checkpoint = Checkpoint.Open(LlamaTextTokenizerTests.ModelFolder);
            var ranks = Enumerable.Range(0, 2).Select(r => CheckpointLoader.Load(checkpoint, split, sources, out _, r)).ToList();
            Assert.Equal(new[] { 128, 256 }, ranks[1]["model.layers.0.self_attn.q_proj.weight"].Shape);
            Assert.Equal(new[] { 256, 384 }, ranks[1]["model.layers.0.mlp.down_proj.weight"].Shape);
            using var single = new CpuModel(whole, CheckpointLoader.Load(checkpoint, whole, sources));
            using var backend = Split(split, ranks);
            var prompt = GraphCompiler.Runtime.Text.LlamaTextTokenizer.Open(LlamaTextTokenizerTests.ModelFolder).Encode("The Debian project");
            AssertSameGreedySteps(single, backend, prompt, 20, new List<double>());
        }

        [Fact]
        public void A_spec_that_splits_the_model_loads_each_rank_s_shards_and_writes_the_whole_model_s_text()
        {
            var options = new GraphCompiler.Runtime.Generation.LoadOptions(BackendKind.Cpu);
            string yaml = TestSpecs.Text("small-llama");
            using var whole = GraphCompiler.Runtime.Generation.LanguageModel.Load(TestSpecs.PathOf("small-llama"), yaml, LlamaTextTokenizerTests.ModelFolder, options);
            using var split = GraphCompiler.Runtime.Generation.LanguageModel.Load(TestSpecs.PathOf("small-llama"), yaml + "parallel:\n  tensor: 2\n", LlamaTextTokenizerTests.ModelFolder, options);
            Assert.StartsWith("tensor parallel over 2 ranks", split.Description);
            Assert.Equal(whole.Generate("A RAID volume").Text, split.Generate("A RAID volume").Text);
        }

        [Fact]
        public void A_ragged_batch_steps_together_on_the_ranks()
        {
            var loaded = new CpuModels().Get("small-llama");
            var split = SplitSpec(loaded.Compiled, 2);
            using var backend = Split(split, RandomCheckpoint.ForRanks(split, CpuModels.Seed));
            var lengths = new[] { 1, 7, 13 };
            var wholeSeqs = lengths.Select(_ => loaded.Cpu.NewSequence()).ToList();
            var splitSeqs = lengths.Select(_ => backend.NewSequence()).ToList();
            var prompts = lengths.Select((n, i) => CpuModels.Prompt(loaded.Compiled, n, seed: 100 + i)).ToList();
            var x = loaded.Cpu.Prefill(wholeSeqs.Select((s, i) => (s, prompts[i])).ToList());
            var y = backend.Prefill(splitSeqs.Select((s, i) => (s, prompts[i])).ToList());
            for (int i = 0; i < lengths.Length; i++) Assert.Equal(Sampler.Argmax(x[i]), Sampler.Argmax(y[i]));
            var tokens = x.Select(l => Sampler.Argmax(l)).ToList();
            x = ((IDecoderBackend)loaded.Cpu).Decode(wholeSeqs.Select((s, i) => ((DecoderSequence)s, tokens[i])).ToList());
            y = backend.Decode(splitSeqs.Select((s, i) => (s, tokens[i])).ToList());
            for (int i = 0; i < lengths.Length; i++)
            {
                Assert.Equal(Sampler.Argmax(x[i]), Sampler.Argmax(y[i]));
                Assert.True(CpuModels.RelativeL2(y[i], x[i]) < LogitsTolerance);
                Assert.Equal(lengths[i] + 1, splitSeqs[i].Length);
            }
            foreach (var s in wholeSeqs.Concat<IDisposable>(splitSeqs)) s.Dispose();
        }

        [Fact]
        public void The_ranks_all_reduce_after_o_proj_and_down_proj_and_nowhere_else()
        {
            var split = SplitSpec(TestSpecs.Compile("small-llama"), 2).Rank;
            foreach (var phase in new[] { split.Plan.Prefill, split.Plan.Decode })
            {
                var points = phase.InOrder().Where(x => AllReducePoints.After(x.Launch)).ToList();
                Assert.Equal(2 * split.Spec.Model.NumHiddenLayers, points.Count);
                Assert.All(points, x => Assert.Matches("^(o_proj|down_proj)$", x.Launch.Modules));
                // Both GEMMs add into the residual stream, so ranks after the first start it from zero.
                Assert.All(points, x => Assert.True(AllReducePoints.ZeroOutputFirst(split.Plan.Kernel(x.Launch.Kernel), 1)));
                Assert.All(points, x => Assert.False(AllReducePoints.ZeroOutputFirst(split.Plan.Kernel(x.Launch.Kernel), 0)));
            }
        }

        [Fact]
        public void A_rank_that_fails_mid_step_wakes_the_others_and_the_model_refuses_further_steps()
        {
            using var backend = TwoRanks(rank => new FailingRank(rank));
            using var sequence = backend.NewSequence();
            var first = Assert.Throws<InvalidOperationException>(() => backend.Prefill(new[] { (sequence, new[] { 1, 2, 3 }) }));
            Assert.Contains("failed on tensor-parallel rank 1 (the rank's GPU fell off the bus)", first.Message);
            var again = Assert.Throws<InvalidOperationException>(() => backend.Decode(new[] { (sequence, 4) }));
            Assert.Contains("the ranks are out of step", again.Message);
        }

        [Fact]
        public void A_step_one_rank_would_refuse_runs_on_none_and_the_model_steps_on_after()
        {
            var loaded = new CpuModels().Get("small-llama");
            RefusingRank? full = null;
            using var backend = TwoRanks(rank => full = new RefusingRank(rank));
            using var sequence = backend.NewSequence();
            Assert.Throws<GraphCompiler.Runtime.Kv.KvCacheExhaustedException>(() => backend.Prefill(new[] { (sequence, new[] { 1, 2, 3 }) }));
            Assert.Equal(0, sequence.Length);
            full!.Refuse = false;   // blocks were freed
            var logits = backend.Prefill(new[] { (sequence, new[] { 1, 2, 3 }) });
            Assert.Equal(Sampler.Argmax(loaded.Cpu.Prefill(loaded.Cpu.NewSequence(), new[] { 1, 2, 3 })), Sampler.Argmax(logits[0]));
            Assert.Equal(3, sequence.Length);
        }

        [Fact]
        public void A_split_step_checks_its_input_as_the_whole_model_would()
        {
            var loaded = new CpuModels().Get("small-llama");
            var split = SplitSpec(loaded.Compiled, 2);
            using var backend = Split(split, RandomCheckpoint.ForRanks(split, CpuModels.Seed));
            using var sequence = backend.NewSequence();
            var e = Assert.Throws<ArgumentException>(() => backend.Prefill(new[] { (sequence, new[] { 1, 4096 }) }));
            Assert.Contains("token id 4096 is outside the vocabulary: vocab_size is 4096", e.Message);
            Assert.NotEmpty(backend.Prefill(new[] { (sequence, new[] { 1, 2 }) }));   // still usable: nothing ran
        }

        [Fact]
        public void Host_all_reduce_leaves_every_rank_the_same_sum_and_abort_wakes_a_waiting_rank()
        {
            var act = ActivationCodec.F16;
            using var group = new HostAllReduce(3);
            var data = Enumerable.Range(0, 3).Select(r => Enumerable.Range(0, 1001).Select(i => act.Store((i % 17 - 8) * 0.25f + r)).ToArray()).ToArray();
            var threads = Enumerable.Range(0, 3).Select(r => new System.Threading.Thread(() => group.Sum(r, data[r], 1000, act))).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            for (int i = 0; i < 1000; i++)
            {
                float expected = 3 * ((i % 17 - 8) * 0.25f) + 3;
                Assert.All(data, d => Assert.Equal(expected, act.Load(d[i])));
            }
            for (int r = 0; r < 3; r++) Assert.Equal((1000 % 17 - 8) * 0.25f + r, act.Load(data[r][1000]));   // past count: untouched
            using var lonely = new HostAllReduce(2);
            var waiter = System.Threading.Tasks.Task.Run(() => lonely.Sum(0, new ushort[4], 4, act));
            lonely.Abort();
            Assert.Throws<OperationCanceledException>(() => { try { waiter.Wait(); } catch (AggregateException a) { throw a.InnerException!; } });
        }

        /// <summary>small-llama split over two CPU ranks on random weights, the second seen through <paramref name="second"/>.</summary>
        private static TensorParallelBackend TwoRanks(Func<CpuModel, IDecoderBackend> second)
        {
            var split = SplitSpec(new CpuModels().Get("small-llama").Compiled, 2);
            var weights = RandomCheckpoint.ForRanks(split, CpuModels.Seed);
            var group = new HostAllReduce(2);
            CpuModel Rank(int r) => new CpuModel(split.Rank, CpuWeights.Load(split.Rank, weights[r]), (group, r));
            return new TensorParallelBackend(split, new[] { Rank(0), second(Rank(1)) }, "test", group.Abort, new[] { group });
        }

        /// <summary>A CPU rank seen through the interface, each test overriding what its rank does otherwise.</summary>
        private abstract class WrappedRank : IDecoderBackend
        {
            protected WrappedRank(CpuModel inner) => Inner = inner;
            protected IDecoderBackend Inner { get; }
            public CompiledModel Model => Inner.Model;
            public string Description => GetType().Name;
            public DecoderSequence NewSequence() => Inner.NewSequence();
            public virtual void CheckRoom(IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch, IReadOnlyList<Sampler>? samplers) => Inner.CheckRoom(batch, samplers);
            public virtual float[][] Prefill(IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch) => Inner.Prefill(batch);
            public virtual float[][] Decode(IReadOnlyList<(DecoderSequence Sequence, int Token)> batch) => Inner.Decode(batch);
            public float[][][] Verify(IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch) => Inner.Verify(batch);
            public void Rewind(DecoderSequence sequence, int length) => Inner.Rewind(sequence, length);
            public void Dispose() => Inner.Dispose();
        }

        /// <summary>A rank whose KV cache is full until told otherwise.</summary>
        private sealed class RefusingRank : WrappedRank
        {
            public RefusingRank(CpuModel inner) : base(inner) { }
            public bool Refuse { get; set; } = true;
            public override void CheckRoom(IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch, IReadOnlyList<Sampler>? samplers)
            {
                if (Refuse) throw new GraphCompiler.Runtime.Kv.KvCacheExhaustedException(1, 0, 8, 4096);
            }
        }

        /// <summary>A rank whose device fails at the start of its step, while the other rank waits for it in the first all-reduce.</summary>
        private sealed class FailingRank : WrappedRank
        {
            public FailingRank(CpuModel inner) : base(inner) { }
            public override float[][] Prefill(IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch) => throw new InvalidOperationException("the rank's GPU fell off the bus");
            public override float[][] Decode(IReadOnlyList<(DecoderSequence Sequence, int Token)> batch) => throw new InvalidOperationException("the rank's GPU fell off the bus");
        }
    }
}
