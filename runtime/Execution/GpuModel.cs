using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Compilation;
using GraphCompiler.Graph;
using GraphCompiler.Kernels.Attention;
using GraphCompiler.Kernels.Sampling;
using GraphCompiler.Planning;
using GraphCompiler.Runtime.Compilation;
using GraphCompiler.Runtime.Cuda;
using GraphCompiler.Runtime.Kv;
using GraphCompiler.Runtime.Memory;
using GraphCompiler.Runtime.Sampling;
using GraphCompiler.Runtime.TensorParallel;
using GraphCompiler.Spec;

namespace GraphCompiler.Runtime.Execution
{
    /// <summary>A sequence on the GPU backend: its block table in the paged KV cache, and its slot of sampler penalty state.</summary>
    public sealed class GpuSequence : DecoderSequence
    {
        internal GpuSequence(GpuModel owner, int id)
        {
            Owner = owner;
            Id = id;
        }

        internal GpuModel? Owner { get; private set; }
        internal int Id { get; }

        /// <summary>The sequence's slot of penalty state on the device (−1: none), the sampler it mirrors, and that sampler's
        /// step when the slot last matched it: a slot is current only while every token since was drawn on the device.</summary>
        internal int SamplingSlot { get; set; } = -1;
        internal Sampler? SlotSampler { get; set; }
        internal ulong SlotStep { get; set; }

        /// <summary>Returns the sequence's KV blocks to the pool.</summary>
        public override void Dispose()
        {
            Owner?.Release(this);
            Owner = null;
        }
    }

    /// <summary>One launch of a profiled step: its kernel, its layer (−1 outside the layers), its device time, and the GEMM
    /// weight bytes it reads (0 for other kernels).</summary>
    public sealed record LaunchTime(string Kernel, int Layer, double Microseconds, long WeightBytes);

    /// <summary>Loading's progress: a stage ("weights to the GPU", "kernels"), how many of its items are done, of how many.</summary>
    public readonly record struct LoadProgress(string Stage, int Done, int Total);

    /// <summary>What loading cost for the kernels: how many the plan launches, how many came from the CUBIN cache, and the wall time.</summary>
    public sealed record KernelLoadReport(int Kernels, int FromCache, TimeSpan Elapsed);

    /// <summary>How the GPU backend sizes its KV cache and runs decode.</summary>
    /// <param name="KvTokens">KV-cache tokens to allocate (rounded up to whole blocks, and to one sequence of max_seq_len at
    /// least); null: max_num_seqs × max_seq_len, or what the budget leaves if less.</param>
    /// <param name="CudaGraphs">Replay each decode batch size's captured launches as one CUDA graph (off: launch one by one).</param>
    /// <param name="Progress">Told as weights reach the GPU and kernels compile (from any thread).</param>
    /// <param name="AllReduce">For one rank of a tensor-parallel model: the exchange after its row-split GEMMs (<see cref="AllReducePoints"/>).</param>
    public sealed record GpuModelOptions(long? KvTokens = null, bool CudaGraphs = true, IProgress<LoadProgress>? Progress = null, IDeviceAllReduce? AllReduce = null);

    /// <summary>
    /// The GPU backend: runs a compiled model's launch plan with its emitted kernels, as <see cref="Cpu.CpuModel"/> does on the
    /// CPU. Weights are resident (<see cref="DeviceModelWeights"/>); activations live in one preplanned workspace laid out by
    /// the memory plan (no allocation per step); K and V in one paged pool per layer, blocks handed out by a
    /// <see cref="KvBlockManager"/>. A step copies its small inputs (token ids, positions, block tables, context lengths) to
    /// the device, launches, and copies the logits of each sequence's last token back. A decode step of a batch size seen
    /// before replays the CUDA graph captured the first time, so launch overhead vanishes. Prompts longer than
    /// max_num_batched_tokens run as several prefill steps (chunked prefill: later chunks attend to the cached ones).
    /// Generation samples on the device (<see cref="DecodeAndSample"/>): only the chosen tokens come back.
    /// One step at a time: a GpuModel is not safe for concurrent calls.
    /// </summary>
    public sealed partial class GpuModel : IDecoderBackend
    {
        private readonly CompiledModel _model;
        private readonly ModelShape _m;
        private readonly KernelPlan _plan;
        private readonly CudaDevice _device;
        private readonly ArchTiles _tiles;
        private readonly CudaStream _stream = new CudaStream();

        /// <summary>Decode-step graphs kept at least: the verification shapes a speculative run uses most. Never fewer than
        /// plain decoding's shapes (every batch size, with and without every token's logits), which would be captured again
        /// and again.</summary>
        private const int DecodeGraphsKept = 256;
        private readonly Dictionary<string, CudaKernel> _kernels = new Dictionary<string, CudaKernel>(StringComparer.Ordinal);
        private readonly Dictionary<string, DeviceAddress> _slots = new Dictionary<string, DeviceAddress>(StringComparer.Ordinal);
        private readonly Dictionary<string, long> _slotBytes = new Dictionary<string, long>(StringComparer.Ordinal);
        private readonly DecodeGraphCache<(int Sequences, int Tokens, int StepTokens, bool EveryToken), CudaGraph> _decodeGraphs;
        private readonly List<IDisposable> _owned = new List<IDisposable>();
        private readonly GpuModelOptions _options;
        private readonly DeviceModelWeights _weights;
        private readonly DeviceAllocator.TrackedBuffer _workspace, _kvPool;
        private readonly DeviceBuffer _kvScales, _inputs;
        private readonly PinnedHostBuffer _hostInputs, _hostLogits;
        private readonly InputLayout _layout;
        private readonly KvBlockManager _blocks;
        private readonly Stack<int> _freeSamplingSlots;
        private readonly long _kvLayerBytes;
        private readonly int _maxBlocks;
        private int _nextSequence;

        /// <summary>
        /// Where each step input sits, in ints, in the pinned host mirror: first what the device input buffer holds in the same
        /// places (block tables, context lengths, cu_seqlens, tile jobs, the embedding's error flag), then what goes to
        /// workspace slots (token ids, positions, last-token rows, the sampler's rows and, after it, its choices).
        /// </summary>
        private sealed record InputLayout(int BlockTables, int ContextLens, int CuSeqlens, int TileJobs, int ErrorFlag, int TokenIds, int Positions, int LastRows,
            int SamplingRows, int Ints)
        {
            public static InputLayout For(int sequences, int maxBlocks, int queryTiles, int tokens)
            {
                int at = 0;
                int Take(int n)
                {
                    int first = at;
                    at += n;
                    return first;
                }
                return new InputLayout(Take(sequences * maxBlocks), Take(sequences), Take(sequences + 1), Take(queryTiles), Take(1),
                    Take(tokens), Take(tokens), Take(sequences), Take(sequences * (SamplingRow.Words + 2)), at);
            }
        }

        private GpuModel(CompiledModel model, CudaDevice device, GpuKernels kernels, DeviceModelWeights weights, DeviceAllocator allocator, GpuModelOptions options)
        {
            _model = model;
            _decodeGraphs = new DecodeGraphCache<(int Sequences, int Tokens, int StepTokens, bool EveryToken), CudaGraph>(
                Math.Max(DecodeGraphsKept, 2 * model.Spec.Limits.MaxNumSeqs));
            _m = model.Spec.Model;
            _plan = model.Plan;
            _device = device;
            _tiles = model.Spec.Tiles.For(device.Info.TileArch);
            _weights = weights;
            _options = options;
            var limits = model.Spec.Limits;
            try
            {
                LoadKernels(kernels);

                _workspace = allocator.Allocate(MemoryComponent.Workspace, Math.Max(1, model.Memory.WorkspaceBytes));
                _owned.Add(_workspace);
                foreach (var slot in model.Memory.Workspace)
                {
                    _slots[slot.Name] = _workspace.Buffer.Address.Offset(slot.Offset);
                    _slotBytes[slot.Name] = slot.Bytes;
                }
                // Tickets, flags and arrival counters start at zero; the kernels leave them at zero after every launch.
                _workspace.Buffer.Fill(0, _stream);

                var kv = KvCacheLayout.For(model.Spec);
                _maxBlocks = kv.BlocksFor(limits.MaxSeqLen);
                int qBlocks = PrefillAttentionFamily.MaxQueryTiles(limits.MaxNumBatchedTokens, limits.MaxNumSeqs, _tiles.PrefillAttention.BlockM);
                _layout = InputLayout.For(limits.MaxNumSeqs, _maxBlocks, qBlocks, limits.MaxNumBatchedTokens);
                _inputs = Own(allocator.Allocate(MemoryComponent.Workspace, _layout.ErrorFlag * 4L + 4)).Buffer;
                _inputs.Fill(0, _stream);
                _hostInputs = Own(new PinnedHostBuffer(_layout.Ints * 4L));
                _hostLogits = Own(new PinnedHostBuffer((long)limits.MaxNumSeqs * _m.VocabSize * 4));

                // FP8 caches: K and V scale per layer, 1.0 until checkpoints carry calibrated k_scale / v_scale (Cpu.KvCache's rule).
                var scales = Enumerable.Repeat(Cpu.KvCache.Fp8Scale, 2 * _m.NumHiddenLayers).ToArray();
                _kvScales = Own(allocator.Allocate(MemoryComponent.KvCache, scales.Length * 4L)).Buffer;
                _kvScales.Upload<float>(scales, _stream);

                long blocks = KvCacheBlocks(options.KvTokens ?? (long)limits.MaxNumSeqs * limits.MaxSeqLen, kv, limits.MaxSeqLen, allocator.Ledger);
                _kvPool = Own(allocator.Allocate(MemoryComponent.KvCache, blocks * kv.BlockBytes));
                _kvPool.Buffer.Fill(0, _stream);   // zeros are finite in every cache dtype
                _kvLayerBytes = blocks * kv.LayerBlockBytes;
                _blocks = new KvBlockManager(kv, checked((int)blocks));
                _freeSamplingSlots = new Stack<int>(Enumerable.Range(0, limits.MaxNumSeqs).Reverse());
                _stream.Synchronize();
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        /// <summary>Uploads the checkpoint's weights, compiles (or takes from the cache) every kernel of the plan, and sizes the KV cache.</summary>
        public static GpuModel Load(CompiledModel model, Cpu.CheckpointTensors checkpoint, GpuKernels kernels, DeviceAllocator allocator, GpuModelOptions? options = null) =>
            With(model, kernels, allocator, options, stream => DeviceModelWeights.Upload(model, checkpoint, allocator, stream, options?.Progress));

        /// <summary>Random weights made on the device (<see cref="DeviceModelWeights.Synthetic"/>): the whole model's launches at
        /// its true sizes without a checkpoint, for benchmarks.</summary>
        public static GpuModel Synthetic(CompiledModel model, GpuKernels kernels, DeviceAllocator allocator, int seed, GpuModelOptions? options = null) =>
            With(model, kernels, allocator, options, stream => DeviceModelWeights.Synthetic(model, allocator, stream, seed));

        private static GpuModel With(CompiledModel model, GpuKernels kernels, DeviceAllocator allocator, GpuModelOptions? options, Func<CudaStream, DeviceModelWeights> weigh)
        {
            if (model.Spec.Parallel.Tensor > 1)
                throw new ArgumentException($"{model.Spec.Name} is split over {model.Spec.Parallel.Tensor} GPUs: a GpuModel runs one GPU's part (model.Rank), "
                    + "and BackendSelection drives the parts together", nameof(model));
            DeviceModelWeights weights;
            using (var stream = new CudaStream()) weights = weigh(stream);
            try
            {
                return new GpuModel(model, kernels.Device, kernels, weights, allocator, options ?? new GpuModelOptions());
            }
            catch
            {
                weights.Dispose();
                throw;
            }
        }

        public CompiledModel Model => _model;
        public KernelLoadReport KernelLoad { get; private set; } = new KernelLoadReport(0, 0, TimeSpan.Zero);
        public DeviceModelWeights Weights => _weights;
        public KvBlockManager KvBlocks => _blocks;

        public string Description =>
            $"GPU backend: {_device.Info.Name} ({_device.Info.Arch}, tiles {_tiles.Arch.Name}), {_model.Spec.Name}, {_m.DType.SpecName()} activations, "
            + $"{_model.Spec.KvCache.DType.SpecName()} KV cache of {_blocks.TotalBlocks * _blocks.Layout.BlockSize} tokens"
            + (_options.CudaGraphs ? ", decode as CUDA graphs" : "");

        public GpuSequence NewSequence()
        {
            var sequence = new GpuSequence(this, _nextSequence++);
            _blocks.Add(sequence.Id);
            return sequence;
        }

        DecoderSequence IDecoderBackend.NewSequence() => NewSequence();

        internal void Release(GpuSequence sequence)
        {
            _blocks.Free(sequence.Id);
            if (sequence.SamplingSlot >= 0) _freeSamplingSlots.Push(sequence.SamplingSlot);
            sequence.SamplingSlot = -1;
            sequence.SlotSampler = null;
        }

        /// <summary>
        /// Benchmarks only: gives the sequence <paramref name="tokens"/> cached tokens without computing them (their K and V
        /// are whatever the blocks hold), so a decode step can be timed at a long context without its prefill.
        /// </summary>
        public void AssumeContext(GpuSequence sequence, int tokens)
        {
            if (sequence.Owner != this) throw new ArgumentException("the sequence belongs to another model", nameof(sequence));
            if (sequence.Length + tokens > _model.Spec.Limits.MaxSeqLen)
                throw new ArgumentException($"{sequence.Length + tokens} tokens exceed limits.max_seq_len ({_model.Spec.Limits.MaxSeqLen})", nameof(tokens));
            _blocks.Append(sequence.Id, tokens);
            sequence.Length += tokens;
        }

        /// <summary>
        /// A ragged prefill: each sequence's tokens after its cached ones. Steps hold at most max_num_batched_tokens tokens;
        /// longer batches are split in order, a sequence's tokens over consecutive steps. Returns each sequence's last logits.
        /// </summary>
        public float[][] Prefill(IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch) =>
            Prefill<float[]>(Validate(Phase.Prefill, batch), (step, finished) =>
            {
                var read = DownloadLogits(step.Count);
                return () =>
                {
                    var rows = read();
                    return finished.Select(j => rows[j]).ToArray();
                };
            });

        /// <summary>A prefill (<see cref="Prefill(IReadOnlyList{ValueTuple{DecoderSequence, int[]}})"/>), then each sequence's
        /// next token sampled on the device by its sampler, which records it.</summary>
        public SampledToken[] PrefillAndSample(IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch, IReadOnlyList<Sampler> samplers)
        {
            var own = Validate(Phase.Prefill, batch);
            ReserveSamplingSlots(own.Select(b => b.Sequence).ToList(), samplers);
            var order = own.Select((b, i) => (b.Sequence, i)).ToDictionary(x => x.Sequence, x => x.i);
            return Prefill<SampledToken>(own, (step, finished) => SampleOnDevice(finished.Select(j => (j, step[j].Sequence, samplers[order[step[j].Sequence]])).ToList()));
        }

        /// <summary>The prefill steps of a validated batch; after the launches of each, <paramref name="collect"/> queues what
        /// comes back for the sequences whose last tokens it ran (their rows in the step) and reads it once the step is done.</summary>
        private T[] Prefill<T>(List<(GpuSequence Sequence, int[] Tokens)> own, Func<List<(GpuSequence Sequence, int[] Tokens)>, int[], Func<T[]>> collect)
        {
            var results = new T[own.Count];
            var done = new int[own.Count];
            int limit = _model.Spec.Limits.MaxNumBatchedTokens;
            while (done.Where((d, i) => d < own[i].Tokens.Length).Any())
            {
                var step = new List<(GpuSequence, int[])>();
                var members = new List<int>();
                int room = limit;
                for (int i = 0; i < own.Count && room > 0; i++)
                {
                    int take = Math.Min(room, own[i].Tokens.Length - done[i]);
                    if (take <= 0) continue;
                    step.Add((own[i].Sequence, own[i].Tokens.AsSpan(done[i], take).ToArray()));
                    members.Add(i);
                    done[i] += take;
                    room -= take;
                }
                var finished = Enumerable.Range(0, members.Count).Where(j => done[members[j]] == own[members[j]].Tokens.Length).ToArray();
                var values = Step(_plan.Prefill, step, s => collect(s, finished));
                for (int f = 0; f < finished.Length; f++) results[members[finished[f]]] = values[f];
            }
            return results;
        }

        /// <summary>One decode step: each sequence's next token; their logits, in order.</summary>
        public float[][] Decode(IReadOnlyList<(DecoderSequence Sequence, int Token)> batch) =>
            Step(_plan.Decode, Validate(Phase.Decode, batch.Select(b => (b.Sequence, new[] { b.Token })).ToList()), s => DownloadLogits(s.Count));

        /// <summary>A decode step of several tokens a sequence (its next one, then draft tokens to verify): every token's
        /// logits, per sequence (<see cref="IDecoderBackend.Verify"/>).</summary>
        public float[][][] Verify(IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch)
        {
            StepValidation.CheckVerify(_model, batch);
            var own = Validate(Phase.Decode, batch);
            var rows = Step(_plan.Decode, own, s => DownloadLogits(s.Sum(b => b.Tokens.Length)), everyToken: true);
            return StepValidation.BySequence(rows, batch);
        }

        /// <summary>Keeps the sequence's first <paramref name="length"/> tokens (<see cref="IDecoderBackend.Rewind"/>).</summary>
        public void Rewind(DecoderSequence sequence, int length)
        {
            var own = sequence as GpuSequence;
            if (own is null || own.Owner != this) throw new ArgumentException("the sequence belongs to another model (or was disposed)", nameof(sequence));
            StepValidation.CheckRewind(sequence, length);
            _blocks.Truncate(own.Id, length);
            own.Length = length;
        }

        /// <summary>One decode step, then each sequence's next token sampled on the device by its sampler, which records it.</summary>
        public SampledToken[] DecodeAndSample(IReadOnlyList<(DecoderSequence Sequence, int Token)> batch, IReadOnlyList<Sampler> samplers)
        {
            var own = Validate(Phase.Decode, batch.Select(b => (b.Sequence, new[] { b.Token })).ToList());
            ReserveSamplingSlots(own.Select(b => b.Sequence).ToList(), samplers);
            return Step(_plan.Decode, own, s => SampleOnDevice(s.Select((b, j) => (j, b.Sequence, samplers[j])).ToList()));
        }

        /// <summary>
        /// One sampler a sequence, and a penalty-state slot for each sequence whose sampler has penalties, taken before
        /// the step launches anything so that running out fails cleanly (the slots of finished sequences come back when
        /// they are disposed).
        /// </summary>
        private void ReserveSamplingSlots(List<GpuSequence> sequences, IReadOnlyList<Sampler> samplers)
        {
            ArgumentNullException.ThrowIfNull(samplers);
            CheckRoom(sequences.Select(s => ((DecoderSequence)s, Array.Empty<int>())).ToList(), samplers);
            for (int i = 0; i < sequences.Count; i++)
                if (samplers[i].Parameters.HasPenalties && sequences[i].SamplingSlot < 0)
                {
                    sequences[i].SamplingSlot = _freeSamplingSlots.Pop();
                    sequences[i].SlotSampler = null;
                }
        }

        /// <summary>
        /// A decode step as <see cref="Decode(IReadOnlyList{ValueTuple{DecoderSequence, int}})"/>, its kernels launched one by one
        /// (no graph) between timing events: where a step's device time goes, launch by launch. The events cost a few µs a
        /// launch, so the sum is a little above a replayed step.
        /// </summary>
        public IReadOnlyList<LaunchTime> ProfileDecode(IReadOnlyList<(DecoderSequence Sequence, int Token)> batch)
        {
            var times = new List<LaunchTime>();
            Step(_plan.Decode, Validate(Phase.Decode, batch.Select(b => (b.Sequence, new[] { b.Token })).ToList()), s => DownloadLogits(s.Count), times);
            return times;
        }

        public float[] Prefill(GpuSequence sequence, int[] tokens) => Prefill(new[] { ((DecoderSequence)sequence, tokens) })[0];

        public float[] Decode(GpuSequence sequence, int token) => Decode(new[] { ((DecoderSequence)sequence, token) })[0];

        private List<(GpuSequence Sequence, int[] Tokens)> Validate(Phase phase, IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch)
        {
            StepValidation.Check(_model, phase, batch, s => s is GpuSequence g && g.Owner == this);
            CheckRoom(batch, null);
            return batch.Select(b => ((GpuSequence)b.Sequence, b.Tokens)).ToList();
        }

        public void CheckRoom(IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch, IReadOnlyList<Sampler>? samplers)
        {
            int most = _model.Spec.Limits.MaxNumSeqs;
            if (batch.Count > most)
                throw new ArgumentException($"{batch.Count} sequences in one step, more than limits.max_num_seqs ({most}); run them in several steps", nameof(batch));
            int needed = batch.Sum(b => _blocks.BlocksNeeded(((GpuSequence)b.Sequence).Id, b.Tokens.Length));
            if (needed > _blocks.FreeBlocks)
                throw new KvCacheExhaustedException(needed, _blocks.FreeBlocks, _blocks.TotalBlocks, _blocks.Layout.BlockBytes);
            if (samplers is null) return;
            if (samplers.Count != batch.Count)
                throw new ArgumentException($"{samplers.Count} samplers for {batch.Count} sequences: one a sequence", nameof(samplers));
            int slots = batch.Where((b, i) => samplers[i].Parameters.HasPenalties && ((GpuSequence)b.Sequence).SamplingSlot < 0).Count();
            if (slots > _freeSamplingSlots.Count)
                throw new InvalidOperationException($"{slots} more sequences sample with penalties than the {_freeSamplingSlots.Count} free penalty-state slots "
                    + $"(limits.max_num_seqs = {most} live sequences at most); dispose finished sequences first");
        }

        /// <summary>A step of a tensor-parallel rank after the first: its launches and all-reduces, nothing read back.</summary>
        public void Advance(Phase phase, IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch)
        {
            var own = Validate(phase, batch);
            if (phase == Phase.Prefill) Prefill<bool>(own, (step, finished) => () => new bool[finished.Length]);
            else Step<bool>(_plan.Decode, own, s => () => Array.Empty<bool>(), everyToken: own.Any(b => b.Tokens.Length > 1));   // as rank 0's Verify
        }

        /// <summary>
        /// Runs one step: inputs up, the launches, then <paramref name="collect"/> queues the copies of what the caller wants
        /// back (logits, or the sampler's choices) and returns how to read them once the stream is done.
        /// </summary>
        /// <param name="everyToken">Logits of every token (verification), else of each sequence's last.</param>
        private T[] Step<T>(PhasePlan phase, List<(GpuSequence Sequence, int[] Tokens)> batch, Func<List<(GpuSequence Sequence, int[] Tokens)>, Func<T[]>> collect,
            List<LaunchTime>? profile = null, bool everyToken = false)
        {
            _device.MakeCurrent();   // steps may come from any thread (an awaited stream resumes on the thread pool)
            int sequences = batch.Count, tokens = batch.Sum(b => b.Tokens.Length), stepTokens = batch.Max(b => b.Tokens.Length);
            int logitRows = everyToken ? tokens : sequences;
            var kv = _blocks.Layout;
            foreach (var (sequence, ids) in batch)
                foreach (var copy in _blocks.Append(sequence.Id, ids.Length))
                    for (int layer = 0; layer < _m.NumHiddenLayers; layer++)
                    {
                        var pool = _kvPool.Buffer.Address.Offset(layer * _kvLayerBytes);
                        DeviceBuffer.Copy(pool.Offset(copy.Destination * kv.LayerBlockBytes), pool.Offset(copy.Source * kv.LayerBlockBytes), kv.LayerBlockBytes, _stream);
                    }

            // ---- Step inputs into the pinned mirror, then to the device ----
            var host = _hostInputs.Slice<int>(0, _layout.Ints);
            var newTokens = new int[sequences];
            var contexts = new int[sequences];
            int row = 0;
            for (int s = 0; s < sequences; s++)
            {
                var (sequence, ids) = batch[s];
                host[_layout.CuSeqlens + s] = row;
                for (int i = 0; i < ids.Length; i++, row++)
                {
                    host[_layout.TokenIds + row] = ids[i];
                    host[_layout.Positions + row] = sequence.Length + i;
                }
                host[_layout.LastRows + s] = row - 1;
                newTokens[s] = ids.Length;
                contexts[s] = host[_layout.ContextLens + s] = sequence.Length + ids.Length;
            }
            host[_layout.CuSeqlens + sequences] = row;
            if (everyToken)
                for (int r = 0; r < tokens; r++) host[_layout.LastRows + r] = r;
            _blocks.WriteBlockTables(batch.Select(b => b.Sequence.Id).ToList(), host.Slice(_layout.BlockTables, sequences * _maxBlocks), _maxBlocks);
            int queryTiles = 0;
            if (phase.Phase == Phase.Prefill)
            {
                var jobs = PrefillAttentionFamily.TileJobs(newTokens, contexts, _tiles.PrefillAttention.BlockM);
                jobs.CopyTo(host.Slice(_layout.TileJobs, jobs.Length));
                queryTiles = jobs.Length;
            }
            _hostInputs.Upload(0, _inputs.Address, _layout.ErrorFlag * 4L, _stream);
            _hostInputs.Upload(_layout.TokenIds * 4L, _slots["token_ids"], tokens * 4L, _stream);
            _hostInputs.Upload(_layout.Positions * 4L, _slots["positions"], tokens * 4L, _stream);
            if (_slots.ContainsKey("last_token_rows")) _hostInputs.Upload(_layout.LastRows * 4L, _slots["last_token_rows"], logitRows * 4L, _stream);

            // ---- The launches: a decode step shape seen before replays its graph ----
            if (phase.Phase == Phase.Decode)
            {
                var shape = new StepShape(tokens, sequences, 0, DecodeSplits(sequences, stepTokens, _model.Spec.Limits.MaxSeqLen), stepTokens, logitRows);
                if (profile != null) LaunchTimed(phase, shape, profile);
                else if (!_options.CudaGraphs || _options.AllReduce is { Capturable: false }) LaunchAll(phase, shape);
                else
                {
                    _decodeGraphs.GetOrCapture((sequences, tokens, stepTokens, everyToken), () => _stream.Capture(() => LaunchAll(phase, shape))).Launch(_stream);
                }
            }
            else LaunchAll(phase, new StepShape(tokens, sequences, queryTiles, 0, stepTokens, logitRows));

            // ---- What the caller wants back (logits, or sampled tokens), and the embedding's error flag ----
            var read = collect(batch);
            _hostInputs.Download(Input(_layout.ErrorFlag), _layout.ErrorFlag * 4L, 4, _stream);
            _stream.Synchronize();
            if (host[_layout.ErrorFlag] != 0)
                throw new InvalidOperationException($"the embedding gather flagged token row {host[_layout.ErrorFlag] - 1} after validation");
            foreach (var (sequence, ids) in batch) sequence.Length += ids.Length;
            return read();
        }

        /// <summary>Queues the copy of the first <paramref name="rows"/> logits rows (each sequence's last token) to the host.</summary>
        private Func<float[][]> DownloadLogits(int rows)
        {
            long rowBytes = _m.VocabSize * 4L;
            _hostLogits.Download(_slots["logits"], 0, rows * rowBytes, _stream);
            return () => Enumerable.Range(0, rows).Select(s => _hostLogits.Slice<float>(s * rowBytes, _m.VocabSize).ToArray()).ToArray();
        }

        /// <summary>
        /// Queues the sampler kernel over the given logits rows, each with its sequence's sampler: its parameter row up, its
        /// penalty state up where the device's copy is not current, and back only each token and its log-probability. The
        /// samplers record their tokens when the choices are read.
        /// </summary>
        private Func<SampledToken[]> SampleOnDevice(List<(int LogitsRow, GpuSequence Sequence, Sampler Sampler)> rows)
        {
            if (rows.Count == 0) return Array.Empty<SampledToken>;
            int words = SamplingRow.Words, vocab = _m.VocabSize;
            var host = _hostInputs.Slice<int>(_layout.SamplingRows * 4L, rows.Count * (words + 2));
            var stateSlots = _slots["sampling_state"];
            for (int i = 0; i < rows.Count; i++)
            {
                var (logitsRow, sequence, sampler) = rows[i];
                int slot = -1;
                if (sampler.Parameters.HasPenalties)
                {
                    slot = sequence.SamplingSlot;   // reserved before the step
                    if (sequence.SlotSampler != sampler || sequence.SlotStep != sampler.Step)
                    {
                        // The pinned logits mirror is idle when a step samples on the device: it stages the state words.
                        var words32 = _hostLogits.Slice<uint>((long)i * vocab * 4, vocab);
                        SamplingTable.WriteState(sampler, words32);
                        _hostLogits.Upload((long)i * vocab * 4, stateSlots.Offset((long)slot * vocab * 4), vocab * 4L, _stream);
                    }
                    sequence.SlotSampler = sampler;
                    sequence.SlotStep = sampler.Step + 1;
                }
                SamplingTable.WriteRow(sampler, host.Slice(i * words, words), logitsRow, slot);
            }
            // The sampling_rows slot: max_num_seqs parameter rows, then as many tokens, then as many log-probabilities.
            var table = _slots["sampling_rows"];
            int most = _model.Spec.Limits.MaxNumSeqs;
            var tokensAt = table.Offset((long)most * words * 4);
            var logprobsAt = tokensAt.Offset(most * 4L);
            long tableBytes = (long)rows.Count * words * 4;
            _hostInputs.Upload(_layout.SamplingRows * 4L, table, tableBytes, _stream);
            var arguments = new Dictionary<string, object>(StringComparer.Ordinal)
            {
                ["logits"] = _slots["logits"],
                ["params"] = table,
                ["state"] = stateSlots,
                ["tokens"] = tokensAt,
                ["logprobs"] = logprobsAt,
                ["num_rows"] = rows.Count,
            };
            _kernels[_model.Sampling.Name].Launch(_stream, arguments, new Dictionary<string, long> { ["S"] = rows.Count });
            long hostChoices = _layout.SamplingRows * 4L + tableBytes;
            _hostInputs.Download(tokensAt, hostChoices, rows.Count * 4L, _stream);
            _hostInputs.Download(logprobsAt, hostChoices + rows.Count * 4L, rows.Count * 4L, _stream);
            return () =>
            {
                var tokens = _hostInputs.Slice<int>(hostChoices, rows.Count);
                var logprobs = _hostInputs.Slice<float>(hostChoices + rows.Count * 4L, rows.Count);
                var picks = new SampledToken[rows.Count];
                for (int i = 0; i < rows.Count; i++)
                {
                    picks[i] = new SampledToken(tokens[i], logprobs[i]);
                    rows[i].Sampler.Record(tokens[i]);
                }
                return picks;
            };
        }

        private void LaunchAll(PhasePlan phase, StepShape step)
        {
            foreach (var (launch, layer) in phase.InOrder())
                Exchanging(launch, step, () =>
                {
                    var (kernel, arguments, grid) = Bind(launch, layer, step);
                    kernel.Launch(_stream, arguments, grid);
                });
        }

        /// <summary>Runs a launch; on a tensor-parallel rank, a row-split GEMM's output is then summed over the ranks
        /// (starting from zero on ranks after the first when the GEMM adds into the residual).</summary>
        private void Exchanging(PlannedLaunch launch, StepShape step, Action run)
        {
            var exchange = _options.AllReduce;
            if (exchange is null || !AllReducePoints.After(launch))
            {
                run();
                return;
            }
            var output = _slots[launch.Writes[0]];
            var dtype = _plan.Buffer(launch.Writes[0]).DType;
            long elements = AllReducePoints.Elements(_plan, launch, step.Tokens, step.LogitRows);
            if (AllReducePoints.ZeroOutputFirst(_plan.Kernel(launch.Kernel), exchange.Rank)) DeviceBuffer.Zero(output, elements * dtype.SizeInBytes(), _stream);
            run();
            exchange.Sum(output, elements, dtype, _stream);
        }

        private void LaunchTimed(PhasePlan phase, StepShape step, List<LaunchTime> times)
        {
            var timers = new List<(CudaTimer Timer, string Kernel, PlannedLaunch Launch, int Layer)>();
            try
            {
                foreach (var (launch, layer) in phase.InOrder())
                    Exchanging(launch, step, () =>
                    {
                        var (kernel, arguments, grid) = Bind(launch, layer, step);
                        var timer = new CudaTimer();
                        timers.Add((timer, kernel.Source.Name, launch, layer));
                        timer.Start(_stream);
                        kernel.Launch(_stream, arguments, grid);
                        timer.Stop(_stream);
                    });
                foreach (var (timer, kernel, launch, layer) in timers)
                {
                    long weightBytes = _plan.Kernel(launch.Kernel) is GemmKernel ? _weights.Gemm(layer, launch.Modules).Bytes : 0;
                    times.Add(new LaunchTime(kernel, layer, timer.ElapsedMilliseconds() * 1000.0, weightBytes));
                }
            }
            finally
            {
                foreach (var t in timers) t.Timer.Dispose();
            }
        }

        /// <summary>Every kernel the plan launches, compiled for this GPU; a kernel the emitters cannot write yet is an error naming why.</summary>
        private void LoadKernels(GpuKernels kernels)
        {
            var launched = new[] { _plan.Prefill, _plan.Decode }.SelectMany(p => p.InOrder()).Select(x => _plan.Kernel(x.Launch.Kernel)).Distinct().ToList();
            var used = new HashSet<string>(launched.Select(k => k.Name)
                .Concat(launched.OfType<GemmKernel>().Select(g => g.ForRows(_tiles, _model.Spec.Limits.MaxNumSeqs).Name))
                .Concat(launched.OfType<DecodeAttentionKernel>().Where(_ => _tiles.DecodeAttentionWide != null).Select(k => k.WideTwin().Name)))
            { _model.Sampling.Name };
            var sources = _model.KernelsFor(_tiles.Arch).Where(k => used.Contains(k.Name)).ToList();
            foreach (var source in sources.Where(s => !s.IsEmitted))
                throw new NotSupportedException($"{_model.Spec.Name} needs {source.Name}, which the GPU backend cannot run yet: {source.PendingReason}. The CPU backend runs this spec");
            // NVRTC compiles on host threads (a cache miss costs seconds a GEMM); loading needs this thread's context.
            var clock = System.Diagnostics.Stopwatch.StartNew();
            int done = 0, cached = 0;
            System.Threading.Tasks.Parallel.ForEach(sources, source =>
            {
                if (kernels.Cache.GetOrCompile(source, kernels.Target).FromCache) System.Threading.Interlocked.Increment(ref cached);
                _options.Progress?.Report(new LoadProgress("kernels", System.Threading.Interlocked.Increment(ref done), sources.Count));
            });
            foreach (var source in sources)
            {
                var kernel = kernels.Load(source);
                _owned.Add(kernel);
                _kernels[source.Name] = kernel;
            }
            KernelLoad = new KernelLoadReport(sources.Count, cached, clock.Elapsed);
        }

        private T Own<T>(T disposable) where T : IDisposable
        {
            _owned.Add(disposable);
            return disposable;
        }

        public void Dispose()
        {
            _device.MakeCurrent();
            _decodeGraphs.Dispose();
            for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
            _owned.Clear();
            _weights.Dispose();
            _stream.Dispose();
        }

        /// <summary>
        /// The KV pool's blocks: what was asked for in whole blocks, raised to one sequence of max_seq_len (the longest
        /// sequence a step may hold; a benchmark asking for a short context still gets it), capped by what the budget
        /// leaves. A budget that leaves less than one such sequence is an error naming the numbers.
        /// </summary>
        internal static long KvCacheBlocks(long wantedTokens, KvCacheLayout kv, int maxSeqLen, MemoryLedger ledger)
        {
            long affordable = kv.BlocksIn(ledger.Remaining), sequence = kv.BlocksFor(maxSeqLen);
            if (affordable < sequence)
                throw new MemoryBudgetException(
                    $"after {ByteSize.Format(ledger.UsedTotal)} of weights and workspace, the budget ({ledger.BudgetSource}) leaves room for "
                    + $"{affordable * kv.BlockSize} KV-cache tokens, fewer than one sequence of limits.max_seq_len ({maxSeqLen}); lower max_seq_len, quantize the KV cache or the weights, or raise the budget");
            return Math.Min(Math.Max(kv.BlocksFor(wantedTokens), sequence), affordable);
        }
    }
}
