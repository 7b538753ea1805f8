using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using GraphCompiler.Common;
using GraphCompiler.Compilation;
using GraphCompiler.Graph;
using GraphCompiler.Runtime.Execution;
using GraphCompiler.Runtime.TensorParallel;
using GraphCompiler.Runtime.Reference;
using GraphCompiler.Spec;

namespace GraphCompiler.Runtime.Cpu
{
    /// <summary>A sequence's state on the CPU backend: its KV cache.</summary>
    public sealed class CpuSequence : DecoderSequence
    {
        internal CpuSequence(CpuModel owner, KvCache cache)
        {
            Owner = owner;
            Cache = cache;
        }

        internal CpuModel Owner { get; }
        internal KvCache Cache { get; }
    }

    /// <summary>
    /// The CPU backend: runs a compiled model's launch plan on the CPU, launch by launch (prologue, each layer of each
    /// layer group, epilogue), over flat step buffers named as the plan names them. Elementwise kernels are the bit-exact
    /// references in <see cref="ElementwiseReference"/>; GEMMs are <see cref="CpuGemm"/> in float32 over the weights
    /// <see cref="CpuWeights"/> dequantized at load, rounded to the activation dtype on store (logits stay float32);
    /// attention is <see cref="CpuAttention"/>. It is the reference the GPU path is checked against, and graphc's backend
    /// on a machine without a GPU. One step at a time: a CpuModel is not safe for concurrent calls.
    /// </summary>
    public sealed class CpuModel : IDecoderBackend
    {
        private readonly CompiledModel _model;
        private readonly ModelShape _m;
        private readonly ActivationCodec _act;
        private readonly Dictionary<string, FusedKernel> _kernels;
        private readonly CpuAttention _attention;
        private readonly Dictionary<string, Array> _buffers = new Dictionary<string, Array>();
        private float[] _x = Array.Empty<float>(), _y = Array.Empty<float>();
        private ushort[] _gateUp = Array.Empty<ushort>();
        private readonly (HostAllReduce Group, int Rank)? _tensorRank;

        public CpuModel(CompiledModel model, CheckpointTensors checkpoint) : this(model, CpuWeights.Load(model, checkpoint)) { }

        /// <param name="tensorRank">For one rank of a tensor-parallel model (<paramref name="model"/> is its
        /// <see cref="CompiledModel.Rank"/>): the group whose all-reduces follow its row-split GEMMs, and which rank it is.</param>
        public CpuModel(CompiledModel model, CpuWeights weights, (HostAllReduce Group, int Rank)? tensorRank = null)
        {
            _tensorRank = tensorRank;
            _model = model;
            _m = model.Spec.Model;
            _act = ActivationCodec.For(_m.DType);
            Weights = weights;
            _kernels = model.Plan.Kernels.ToDictionary(k => k.Name);
            _attention = new CpuAttention(_m.NumAttentionHeads, _m.NumKeyValueHeads, _m.HeadDim, _act);
        }

        public CompiledModel Model => _model;
        public CpuWeights Weights { get; }

        public string Description =>
            $"CPU backend (no GPU used): {_model.Spec.Name}, {_m.DType.SpecName()} activations, {_model.Spec.KvCache.DType.SpecName()} KV cache, {Environment.ProcessorCount} threads";

        public CpuSequence NewSequence() =>
            new CpuSequence(this, new KvCache(_model.Spec.KvCache.DType, _act, _m.NumHiddenLayers, _m.NumKeyValueHeads, _m.HeadDim, _model.Spec.Limits.MaxSeqLen));

        /// <summary>Runs <paramref name="tokens"/> through the model after the sequence's tokens so far; returns the last
        /// token's logits [vocab_size].</summary>
        public float[] Prefill(CpuSequence sequence, int[] tokens) => Prefill(new[] { (sequence, tokens) })[0];

        /// <summary>One decode step: <paramref name="token"/> at the sequence's next position; returns its logits.</summary>
        public float[] Decode(CpuSequence sequence, int token) => Decode(new[] { (sequence, token) })[0];

        /// <summary>A ragged prefill of several sequences in one step; logits of each sequence's last token, in order.</summary>
        public float[][] Prefill(IReadOnlyList<(CpuSequence Sequence, int[] Tokens)> batch) => Step(_model.Plan.Prefill, batch);

        /// <summary>One decode step of several sequences, one token each; their logits, in order.</summary>
        public float[][] Decode(IReadOnlyList<(CpuSequence Sequence, int Token)> batch) =>
            Step(_model.Plan.Decode, batch.Select(b => (b.Sequence, new[] { b.Token })).ToList());

        DecoderSequence IDecoderBackend.NewSequence() => NewSequence();

        float[][] IDecoderBackend.Prefill(IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch) =>
            Step(_model.Plan.Prefill, batch.Select(b => (Own(b.Sequence), b.Tokens)).ToList());

        float[][] IDecoderBackend.Decode(IReadOnlyList<(DecoderSequence Sequence, int Token)> batch) =>
            Step(_model.Plan.Decode, batch.Select(b => (Own(b.Sequence), new[] { b.Token })).ToList());

        /// <summary>A decode step of several tokens a sequence (its next one, then draft tokens to verify): every token's
        /// logits, per sequence (<see cref="IDecoderBackend.Verify"/>).</summary>
        public float[][][] Verify(IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch)
        {
            StepValidation.CheckVerify(_model, batch);
            return StepValidation.BySequence(Step(_model.Plan.Decode, batch.Select(b => (Own(b.Sequence), b.Tokens)).ToList(), everyToken: true), batch);
        }

        /// <summary>Keeps the sequence's first <paramref name="length"/> tokens: later steps overwrite the positions after them.</summary>
        public void Rewind(DecoderSequence sequence, int length)
        {
            var own = Own(sequence);
            if (own.Owner != this) throw new ArgumentException("the sequence belongs to another model", nameof(sequence));
            StepValidation.CheckRewind(own, length);
            own.Length = length;
        }

        private CpuSequence Own(DecoderSequence sequence) =>
            sequence as CpuSequence ?? throw new ArgumentException("the sequence belongs to another backend", nameof(sequence));

        public void Dispose() { }

        /// <param name="everyToken">Logits of every token (verification), else of each sequence's last.</param>
        private float[][] Step(PhasePlan phase, IReadOnlyList<(CpuSequence Sequence, int[] Tokens)> batch, bool everyToken = false)
        {
            Validate(phase.Phase, batch);
            int tokens = batch.Sum(b => b.Tokens.Length), sequences = batch.Count, logitRows = everyToken ? tokens : sequences;
            EnsureBuffers(tokens, logitRows);
            var tokenIds = I32("token_ids");
            var positions = I32("positions");
            var lastRows = I32("last_token_rows");
            var slices = new List<SequenceSlice>();
            int row = 0;
            for (int s = 0; s < sequences; s++)
            {
                var (sequence, ids) = batch[s];
                sequence.Cache.Reserve(sequence.Length + ids.Length);
                slices.Add(new SequenceSlice(sequence.Cache, row, ids.Length, sequence.Length));
                for (int i = 0; i < ids.Length; i++, row++)
                {
                    tokenIds[row] = ids[i];
                    positions[row] = sequence.Length + i;
                    if (everyToken) lastRows[row] = row;
                }
                if (!everyToken) lastRows[s] = row - 1;
            }

            var step = new StepShape(tokens, logitRows, slices);
            foreach (var (launch, layer) in phase.InOrder())
            {
                if (_tensorRank is not (var group, int rank) || !AllReducePoints.After(launch))
                {
                    Execute(launch, layer, step);
                    continue;
                }
                int elements = (int)AllReducePoints.Elements(_model.Plan, launch, tokens, logitRows);
                if (AllReducePoints.ZeroOutputFirst(_kernels[launch.Kernel], rank)) Array.Clear(U16(launch.Writes[0]), 0, elements);
                Execute(launch, layer, step);
                group.Sum(rank, U16(launch.Writes[0]), elements, _act);
            }

            foreach (var (sequence, ids) in batch) sequence.Length += ids.Length;
            var logits = F32("logits");
            return Enumerable.Range(0, logitRows).Select(s => logits.AsSpan(s * _m.VocabSize, _m.VocabSize).ToArray()).ToArray();
        }

        private void Validate(Phase phase, IReadOnlyList<(CpuSequence Sequence, int[] Tokens)> batch) =>
            StepValidation.Check(_model, phase, batch.Select(b => ((DecoderSequence)b.Sequence, b.Tokens)).ToList(), x => ((CpuSequence)x).Owner == this);

        /// <param name="LogitRows">Rows of the S-sized buffers: each sequence's last token, or every token.</param>
        private sealed record StepShape(int Tokens, int LogitRows, IReadOnlyList<SequenceSlice> Slices);

        private void Execute(PlannedLaunch launch, int layer, StepShape step)
        {
            switch (_kernels[launch.Kernel])
            {
                case EmbeddingGatherKernel k:
                    int flag = ElementwiseReference.EmbeddingGather(k, I32(launch.Reads[0]), Weights.Embedding, Weights.Fp8Embedding, Weights.EmbeddingScale,
                        U16(launch.Writes[0]), step.Tokens);
                    if (flag != 0) throw new InvalidOperationException($"embedding gather flagged token row {flag - 1} after validation");
                    break;
                case RmsNormKernel k:
                {
                    int w = k.AddResidual ? 1 : 0;
                    string op = launch.Ops[launch.Ops.Count - 1];
                    var weight = Weights.Norm(op == "norm" ? "model.norm.weight" : $"model.layers.{layer}.{op}.weight");
                    ElementwiseReference.RmsNorm(k, U16(launch.Reads[0]), k.AddResidual ? U16(launch.Reads[1]) : null,
                        k.GatherRows ? I32(launch.Reads[launch.Reads.Count - 1]) : null, weight,
                        k.WriteDense ? U16(launch.Writes[w++]) : null,
                        k.WriteFp8 ? U8(launch.Writes[w]) : null, k.WriteFp8 ? F32(launch.Writes[w + 1]) : null,
                        k.GatherRows ? step.LogitRows : step.Tokens);
                    break;
                }
                case RopeKernel k:
                    ElementwiseReference.Rope(k, U16(launch.Reads[0]), I32(launch.Reads[1]), step.Tokens);
                    break;
                case SwiGluKernel k:
                    ElementwiseReference.SwiGlu(k, U16(launch.Reads[0]), k.WriteFp8 ? null : U16(launch.Writes[0]),
                        k.WriteFp8 ? U8(launch.Writes[0]) : null, k.WriteFp8 ? F32(launch.Writes[1]) : null, step.Tokens);
                    break;
                case GemmKernel k:
                    Gemm(k, launch, layer, step);
                    break;
                case PrefillAttentionKernel k:
                    ElementwiseReference.Rope(RopeOf(k.Name, k.Theta), U16(launch.Reads[0]), I32(launch.Reads[1]), step.Tokens);
                    Attention(k.WriteFp8, launch, layer, step);
                    break;
                case DecodeAttentionKernel k:
                    if (k.WithRope) ElementwiseReference.Rope(RopeOf(k.Name, _m.RopeTheta), U16(launch.Reads[0]), I32(launch.Reads[1]), step.Tokens);
                    Attention(k.WriteFp8, launch, layer, step);
                    break;
                default:
                    throw new NotSupportedException($"the CPU backend has no implementation of {launch.Kernel}");
            }
        }

        /// <summary>The RoPE an attention kernel applies in its prologue, as the stand-alone kernel would.</summary>
        private RopeKernel RopeOf(string attention, double theta) =>
            new RopeKernel(attention + "_rope", _m.NumAttentionHeads, _m.NumKeyValueHeads, _m.HeadDim, theta, _m.DType, _m.QSize + 2 * _m.KvSize);

        private void Attention(bool writeFp8, PlannedLaunch launch, int layer, StepShape step) =>
            _attention.Run(layer, U16(launch.Reads[0]), step.Slices, writeFp8 ? null : U16(launch.Writes[0]),
                writeFp8 ? U8(launch.Writes[0]) : null, writeFp8 ? F32(launch.Writes[1]) : null);

        /// <summary>
        /// x in float32 (activation bits widened; W8A8 dynamic: e4m3 code × the row's scale; W8A8 static: the activation
        /// quantized with the checkpoint's input_scale and read back), y = x·Wᵀ, then the epilogue: Store rounds to the
        /// activation dtype (a float32 buffer such as logits takes y as is) into columns [offset, offset + N) of rows
        /// OutputStride wide; AddResidual adds the rounded y to the residual; SwiGlu rounds y and applies the reference SwiGLU.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Gemm(GemmKernel k, PlannedLaunch launch, int layer, StepShape step)
        {
            int rows = _model.Plan.Buffer(launch.Reads[0]).Rows == "S" ? step.LogitRows : step.Tokens;
            int kk = k.K, n = k.N;
            Grow(ref _x, rows * kk);
            Grow(ref _y, rows * n);
            bool w8a8Dynamic = k.Scheme.Method == QuantMethod.Fp8E4M3 && k.Scheme.ActivationScale == ActivationScaling.Dynamic;
            if (w8a8Dynamic)
            {
                var codes = U8(launch.Reads[0]);
                var scales = F32(launch.Reads[1]);
                for (int i = 0; i < rows * kk; i++) _x[i] = Fp8E4M3.ToFloat(codes[i]) * scales[i / kk];
            }
            else if (k.Scheme.Method == QuantMethod.Fp8E4M3 && k.Scheme.ActivationScale == ActivationScaling.Static)
            {
                var bits = U16(launch.Reads[0]);
                float s = Weights.InputScale(layer, launch.Modules);
                for (int i = 0; i < rows * kk; i++) _x[i] = Fp8E4M3.ToFloat(Fp8E4M3.FromFloat(_act.Load(bits[i]) / s)) * s;
            }
            else
                Widening.Load(_m.DType, U16(launch.Reads[0]).AsSpan(0, rows * kk), _x.AsSpan(0, rows * kk));

            CpuGemm.Multiply(_x, rows, kk, Weights.Linear(layer, launch.Modules), n, _y);

            switch (k.Epilogue)
            {
                case GemmEpilogue.Store when _buffers[launch.Writes[0]] is float[] output:
                    for (int r = 0; r < rows; r++) Array.Copy(_y, r * n, output, r * k.OutputStride + launch.OutputColumn(_m), n);
                    break;
                case GemmEpilogue.Store:
                {
                    var output = U16(launch.Writes[0]);
                    int offset = launch.OutputColumn(_m);
                    for (int r = 0; r < rows; r++)
                        for (int j = 0; j < n; j++) output[r * k.OutputStride + offset + j] = _act.Store(_y[r * n + j]);
                    break;
                }
                case GemmEpilogue.AddResidual:
                {
                    var residual = U16(launch.Writes[0]);
                    for (int r = 0; r < rows; r++)
                        for (int j = 0; j < n; j++)
                        {
                            int at = r * k.OutputStride + j;
                            residual[at] = _act.Store(_act.Load(residual[at]) + _act.Round(_y[r * n + j]));
                        }
                    break;
                }
                case GemmEpilogue.SwiGlu:
                    Grow(ref _gateUp, rows * n);
                    for (int i = 0; i < rows * n; i++) _gateUp[i] = _act.Store(_y[i]);
                    ElementwiseReference.SwiGlu(new SwiGluKernel(k.Name + "_epilogue", n / 2, _m.DType, false), _gateUp, U16(launch.Writes[0]), null, null, rows);
                    break;
            }
        }

        /// <summary>Every plan buffer at least as large as this step needs (they grow and are kept across steps).</summary>
        private void EnsureBuffers(int tokens, int sequences)
        {
            foreach (var b in _model.Plan.Buffers)
            {
                int length = (b.Rows == "S" ? sequences : tokens) * b.Columns;
                if (_buffers.TryGetValue(b.Name, out var existing) && existing.Length >= length) continue;
                _buffers[b.Name] = b.DType switch
                {
                    DType.F16 or DType.BF16 => new ushort[length],
                    DType.F8E4M3 or DType.F8E5M2 or DType.U8 => new byte[length],
                    DType.F32 => new float[length],
                    DType.I32 => new int[length],
                    _ => throw new NotSupportedException($"buffer {b.Name} has dtype {b.DType}"),
                };
            }
        }

        private static void Grow<T>(ref T[] array, int length)
        {
            if (array.Length < length) array = new T[length];
        }

        private ushort[] U16(string name) => (ushort[])_buffers[name];
        private byte[] U8(string name) => (byte[])_buffers[name];
        private float[] F32(string name) => (float[])_buffers[name];
        private int[] I32(string name) => (int[])_buffers[name];
    }
}
