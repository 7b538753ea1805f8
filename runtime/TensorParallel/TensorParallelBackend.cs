using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using GraphCompiler.Compilation;
using GraphCompiler.Graph;
using GraphCompiler.Runtime.Execution;
using GraphCompiler.Runtime.Sampling;

namespace GraphCompiler.Runtime.TensorParallel
{
    /// <summary>A sequence of a tensor-parallel model: the same sequence in every rank, which each hold its KV heads' cache.</summary>
    public sealed class TensorParallelSequence : DecoderSequence
    {
        internal TensorParallelSequence(TensorParallelBackend owner, DecoderSequence[] ranks)
        {
            Owner = owner;
            Ranks = ranks;
        }

        internal TensorParallelBackend Owner { get; }
        internal DecoderSequence[] Ranks { get; }

        public override void Dispose()
        {
            foreach (var r in Ranks) r.Dispose();
        }
    }

    /// <summary>
    /// A model split over ranks (<see cref="CompiledModel.Rank"/> each, CPU or GPU backends), driven by one process: every
    /// step runs on every rank at once, a thread each (rank 0 the caller's), the ranks meeting in the all-reduces after their row-split GEMMs
    /// (<see cref="AllReducePoints"/>). Those leave every rank with the same hidden state, so rank 0's logits (or its
    /// sampler's choices) are the model's and the other ranks read nothing back. A rank that fails mid-step aborts the
    /// exchange (the others stop waiting) and the model refuses further steps, since its ranks are out of step.
    /// </summary>
    public sealed class TensorParallelBackend : IDecoderBackend
    {
        private readonly IDecoderBackend[] _ranks;
        private readonly string _exchange;
        private readonly Action _abort;
        private readonly IReadOnlyList<IDisposable> _owned;
        private readonly RankThread[] _workers;
        private string? _broken;

        /// <param name="exchange">How the ranks all-reduce, for <see cref="Description"/>.</param>
        /// <param name="abort">Wakes ranks waiting in an all-reduce when another has failed; called once a failing rank, so it
        /// must be idempotent and must not wait for the others.</param>
        /// <param name="owned">Disposed after the ranks (the exchange, the devices).</param>
        public TensorParallelBackend(CompiledModel model, IReadOnlyList<IDecoderBackend> ranks, string exchange, Action abort, IReadOnlyList<IDisposable> owned)
        {
            if (ranks.Count != model.Spec.Parallel.Tensor)
                throw new ArgumentException($"{model.Spec.Name} is split over {model.Spec.Parallel.Tensor} ranks, not {ranks.Count}", nameof(ranks));
            Model = model;
            _ranks = ranks.ToArray();
            _exchange = exchange;
            _abort = abort;
            _owned = owned;
            _workers = Enumerable.Range(1, _ranks.Length - 1).Select(r => new RankThread($"tensor-parallel rank {r}")).ToArray();
        }

        public CompiledModel Model { get; }

        public IReadOnlyList<IDecoderBackend> Ranks => _ranks;

        public string Description => $"tensor parallel over {_ranks.Length} ranks ({_exchange}); rank 0: {_ranks[0].Description}";

        public DecoderSequence NewSequence() => new TensorParallelSequence(this, _ranks.Select(r => r.NewSequence()).ToArray());

        public float[][] Prefill(IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch) =>
            Step(Phase.Prefill, batch, null, (rank, own) => rank.Prefill(own));

        public float[][] Decode(IReadOnlyList<(DecoderSequence Sequence, int Token)> batch) =>
            Step(Phase.Decode, Tokens(batch), null, (rank, own) => rank.Decode(Tokens(own)));

        public SampledToken[] PrefillAndSample(IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch, IReadOnlyList<Sampler> samplers) =>
            Step(Phase.Prefill, batch, samplers, (rank, own) => rank.PrefillAndSample(own, samplers));

        public SampledToken[] DecodeAndSample(IReadOnlyList<(DecoderSequence Sequence, int Token)> batch, IReadOnlyList<Sampler> samplers) =>
            Step(Phase.Decode, Tokens(batch), samplers, (rank, own) => rank.DecodeAndSample(Tokens(own), samplers));

        /// <summary>A verification step on every rank (rank 0's logits); the others run it without output.</summary>
        public float[][][] Verify(IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch)
        {
            StepValidation.CheckVerify(Model, batch);
            return Step(Phase.Decode, batch, null, (rank, own) => rank.Verify(own));
        }

        /// <summary>Every rank keeps the sequence's first <paramref name="length"/> tokens.</summary>
        public void Rewind(DecoderSequence sequence, int length)
        {
            if (sequence is not TensorParallelSequence own || own.Owner != this) throw new ArgumentException("the sequence belongs to another model (or was disposed)", nameof(sequence));
            StepValidation.CheckRewind(sequence, length);
            for (int r = 0; r < _ranks.Length; r++) _ranks[r].Rewind(own.Ranks[r], length);
            sequence.Length = length;
        }

        /// <summary>Benchmarks only, as <see cref="GpuModel.AssumeContext"/> on every rank: a context without computing it.</summary>
        public void AssumeContext(DecoderSequence sequence, int tokens)
        {
            var own = (TensorParallelSequence)sequence;
            for (int r = 0; r < _ranks.Length; r++)
                (_ranks[r] as GpuModel ?? throw new NotSupportedException("only GPU ranks take an assumed context")).AssumeContext((GpuSequence)own.Ranks[r], tokens);
            sequence.Length += tokens;
        }

        /// <summary>Every rank's bounds (rank 0 samples, so it checks the samplers): a step one rank would refuse runs on none.</summary>
        public void CheckRoom(IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch, IReadOnlyList<Sampler>? samplers)
        {
            if (samplers != null && samplers.Count != batch.Count)
                throw new ArgumentException($"{samplers.Count} samplers for {batch.Count} sequences: one a sequence", nameof(samplers));
            for (int r = 0; r < _ranks.Length; r++) _ranks[r].CheckRoom(Own(batch, r), r == 0 ? samplers : null);
        }

        private static List<(DecoderSequence Sequence, int[] Tokens)> Tokens(IReadOnlyList<(DecoderSequence Sequence, int Token)> batch) =>
            batch.Select(b => (b.Sequence, new[] { b.Token })).ToList();

        private static List<(DecoderSequence Sequence, int Token)> Tokens(IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch) =>
            batch.Select(b => (b.Sequence, b.Tokens[0])).ToList();

        private static List<(DecoderSequence Sequence, int[] Tokens)> Own(IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch, int rank) =>
            batch.Select(b => (((TensorParallelSequence)b.Sequence).Ranks[rank], b.Tokens)).ToList();

        /// <summary>Checks the step as one model and against every rank's bounds, then runs it on every rank together: rank 0
        /// as <paramref name="first"/> says, the others without output. What one rank would refuse is refused before any runs.</summary>
        private T Step<T>(Phase phase, IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch, IReadOnlyList<Sampler>? samplers,
            Func<IDecoderBackend, List<(DecoderSequence Sequence, int[] Tokens)>, T> first)
        {
            if (_broken != null) throw new InvalidOperationException(_broken);
            StepValidation.Check(Model, phase, batch, s => s is TensorParallelSequence t && t.Owner == this);
            CheckRoom(batch, samplers);
            T result = default!;
            (int Rank, Exception Error)? failure = null;
            void Run(int r)
            {
                try
                {
                    var own = Own(batch, r);
                    if (r == 0) result = first(_ranks[0], own);
                    else _ranks[r].Advance(phase, own);
                }
                catch (Exception e)
                {
                    // The first failure is the cause; the others' are the abort reaching them.
                    lock (_workers) failure ??= (r, e);
                    _abort();
                }
            }
            for (int r = 1; r < _ranks.Length; r++)
            {
                int rank = r;
                _workers[r - 1].Start(() => Run(rank));
            }
            Run(0);   // rank 0 on the caller's thread: one hand-off fewer a step
            foreach (var w in _workers) w.Wait();
            if (failure is var (failed, error))
            {
                _broken = $"a step failed on tensor-parallel rank {failed} ({error.Message}); the ranks are out of step, so this model runs no more steps: load it again";
                throw new InvalidOperationException(_broken, error);
            }
            foreach (var (sequence, tokens) in batch) sequence.Length += tokens.Length;
            return result;
        }

        /// <summary>Threads, then ranks (their graphs hold the exchange), then the exchange and devices; each is disposed even
        /// if one before it throws (a rank's GPU after a failed step), and the first error is rethrown at the end.</summary>
        public void Dispose()
        {
            var errors = new List<Exception>();
            foreach (var d in _workers.Cast<IDisposable>().Concat(_ranks).Concat(_owned))
                try
                {
                    d.Dispose();
                }
                catch (Exception e)
                {
                    errors.Add(e);
                }
            if (errors.Count > 0) throw new AggregateException("disposing the tensor-parallel ranks", errors);
        }

        /// <summary>A rank's own thread for the model's life, woken a step at a time: a decode step of a split 70B model is a
        /// few milliseconds, and a new thread a rank a step would cost a few percent of it.</summary>
        private sealed class RankThread : IDisposable
        {
            private readonly Thread _thread;
            private readonly SemaphoreSlim _go = new SemaphoreSlim(0);
            private readonly ManualResetEventSlim _done = new ManualResetEventSlim(true);
            private Action? _work;

            public RankThread(string name)
            {
                _thread = new Thread(Loop) { IsBackground = true, Name = name };
                _thread.Start();
            }

            /// <param name="work">Catches its own exceptions.</param>
            public void Start(Action work)
            {
                _done.Reset();
                _work = work;
                _go.Release();
            }

            public void Wait() => _done.Wait();

            private void Loop()
            {
                while (true)
                {
                    _go.Wait();
                    var work = _work;
                    if (work is null) return;
                    work();
                    _done.Set();
                }
            }

            public void Dispose()
            {
                _work = null;
                _go.Release();
                _thread.Join();
                _go.Dispose();
                _done.Dispose();
            }
        }
    }
}
