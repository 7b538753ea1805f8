using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Spec;

namespace GraphCompiler.Graph
{
    /// <summary>
    /// Turns the decoder graph into the kernels the runtime launches, per phase. Rules, in the order they match:
    /// residual add + RMSNorm become one kernel (which also quantizes to FP8 when a W8A8 GEMM reads it);
    /// consecutive projections of the same input with the same scheme become one GEMM over concatenated weights
    /// (q/k/v → qkv, gate/up → gate_up), with SwiGLU or the residual add in its epilogue where the GEMM emitter can;
    /// in prefill, RoPE + KV-cache write + attention are one FlashAttention kernel; in decode, RoPE stays a kernel of
    /// its own unless the decode-attention emitter takes it as a prologue.
    /// </summary>
    public static class FusionPass
    {
        public static KernelPlan Run(ModelSpec spec, LlamaGraph graph, FusionCapabilities capabilities)
        {
            var state = new State(spec, graph, capabilities);
            var prefill = state.PlanPhase(Phase.Prefill);
            var decode = state.PlanPhase(Phase.Decode);
            return new KernelPlan(state.Kernels.ToEquatableArray(), state.Buffers().ToEquatableArray(), prefill, decode);
        }

        private sealed class State
        {
            private readonly ModelSpec _spec;
            private readonly ModelShape _m;
            private readonly LlamaGraph _graph;
            private readonly FusionCapabilities _caps;
            private readonly Dictionary<string, GraphValue> _values;
            private readonly Dictionary<string, (string Rows, int Columns, DType DType)> _buffers = new Dictionary<string, (string, int, DType)>();
            private readonly List<string> _bufferOrder = new List<string>();

            public State(ModelSpec spec, LlamaGraph graph, FusionCapabilities caps)
            {
                _spec = spec;
                _m = spec.Model;
                _graph = graph;
                _caps = caps;
                _values = graph.Values.ToDictionary(v => v.Name);
            }

            public List<FusedKernel> Kernels { get; } = new List<FusedKernel>();

            public IEnumerable<ActivationBuffer> Buffers() =>
                _bufferOrder.Select(n => new ActivationBuffer(n, _buffers[n].Rows, _buffers[n].Columns, _buffers[n].DType));

            public PhasePlan PlanPhase(Phase phase)
            {
                var prologue = new List<PlannedLaunch>();
                var epilogue = new List<PlannedLaunch>();
                var perLayer = Enumerable.Range(0, _m.NumHiddenLayers).Select(_ => new List<PlannedLaunch>()).ToList();
                var ops = _graph.Ops;
                for (int i = 0; i < ops.Count;)
                {
                    int layer = ops[i].Layer;
                    var launch = Match(ops, i, phase, out int consumed);
                    (layer < 0 ? prologue : layer >= _m.NumHiddenLayers ? epilogue : perLayer[layer]).Add(launch);
                    i += consumed;
                }
                return new PhasePlan(phase, prologue.ToEquatableArray(), Group(perLayer).ToEquatableArray(), epilogue.ToEquatableArray());
            }

            private static IEnumerable<LayerGroup> Group(List<List<PlannedLaunch>> perLayer)
            {
                for (int first = 0; first < perLayer.Count;)
                {
                    int last = first;
                    while (last + 1 < perLayer.Count && perLayer[last + 1].SequenceEqual(perLayer[first])) last++;
                    yield return new LayerGroup(first, last, perLayer[first].ToEquatableArray());
                    first = last + 1;
                }
            }

            private PlannedLaunch Match(EquatableArray<GraphOp> ops, int i, Phase phase, out int consumed)
            {
                var op = ops[i];
                switch (op.Kind)
                {
                    case OpKind.Embedding:
                        consumed = 1;
                        return EmbeddingLaunch(op);
                    case OpKind.ResidualAdd when i + 1 < ops.Count && ops[i + 1].Kind == OpKind.RmsNorm:
                        consumed = 2;
                        return NormLaunch(ops, i + 1, op);
                    case OpKind.RmsNorm:
                        consumed = 1;
                        return NormLaunch(ops, i, null);
                    case OpKind.Linear:
                        return LinearLaunch(ops, i, phase, out consumed);
                    case OpKind.Rope when phase == Phase.Prefill || _caps.DecodeAttentionRopePrologue:
                        consumed = 3;
                        return AttentionLaunch(ops, i, phase, withRope: true);
                    case OpKind.Rope:
                        consumed = 1;
                        return RopeLaunch(op);
                    case OpKind.KvCacheWrite:
                        consumed = 2;
                        return AttentionLaunch(ops, i, phase, withRope: false);
                    case OpKind.SwiGlu:
                        consumed = 1;
                        return SwiGluLaunch(ops, i);
                    default:
                        throw new InvalidOperationException($"no fusion rule starts at {op.Kind} ({op.Name})");
                }
            }

            private PlannedLaunch EmbeddingLaunch(GraphOp op)
            {
                var k = Add(new EmbeddingGatherKernel($"embedding_gather_{op.Scheme!.Tag()}_h{_m.HiddenSize}", _m.HiddenSize, _m.VocabSize, _m.DType, op.Scheme));
                return Launch(k, new[] { op }, new[] { Use("token_ids") }, new[] { Use("residual") });
            }

            private PlannedLaunch NormLaunch(EquatableArray<GraphOp> ops, int normIndex, GraphOp? residualAdd)
            {
                var norm = ops[normIndex];
                var consumers = ConsumersOf(ops, normIndex, norm.Outputs[0]);
                bool fp8 = consumers.Any(NeedsFp8Input);
                bool dense = consumers.Any(c => !NeedsFp8Input(c));
                bool gather = norm.Inputs.Contains("last_token_rows");
                string name = (residualAdd != null ? "residual_add_rmsnorm" : "rmsnorm") + $"_h{_m.HiddenSize}"
                    + (gather ? "_last_rows" : "") + (fp8 ? (dense ? "_dense_fp8" : "_fp8") : "");
                var k = Add(new RmsNormKernel(name, _m.HiddenSize, _m.RmsNormEps, _m.DType, residualAdd != null, gather, dense, fp8));
                var reads = new List<string> { Use("residual") };
                if (residualAdd != null) reads.Add(Use("delta"));
                if (gather) reads.Add(Use("last_token_rows"));
                var writes = new List<string>();
                if (residualAdd != null) writes.Add("residual");
                if (dense) writes.Add(Use(norm.Outputs[0]));
                if (fp8) writes.AddRange(Fp8Outputs(norm.Outputs[0]));
                var fused = residualAdd != null ? new[] { residualAdd, norm } : new[] { norm };
                return Launch(k, fused, reads.ToArray(), writes.ToArray());
            }

            private PlannedLaunch LinearLaunch(EquatableArray<GraphOp> ops, int i, Phase phase, out int consumed)
            {
                var first = ops[i];
                var run = new List<GraphOp> { first };
                while (i + run.Count < ops.Count && ops[i + run.Count].Kind == OpKind.Linear
                       && ops[i + run.Count].Inputs.Equals(first.Inputs) && ops[i + run.Count].Scheme == first.Scheme)
                    run.Add(ops[i + run.Count]);
                consumed = run.Count;

                string output = MergedOutput(run[0].Outputs[0]);
                bool fp8Input = NeedsFp8Input(first);
                string input = fp8Input ? Fp8Outputs(first.Inputs[0])[0] : first.Inputs[0];
                var reads = new List<string> { Use(input) };
                if (fp8Input) reads.Add(Use(Fp8Outputs(first.Inputs[0])[1]));
                var fused = new List<GraphOp>(run);

                var epilogue = GemmEpilogue.Store;
                var next = i + consumed < ops.Count ? ops[i + consumed] : null;
                if (next?.Kind == OpKind.SwiGlu && run.Count == 2 && _caps.GemmSwiGluEpilogue && !NeedsFp8Input(ConsumersOf(ops, i + consumed, next.Outputs[0]).First()))
                {
                    epilogue = GemmEpilogue.SwiGlu;
                    fused.Add(next);
                    consumed++;
                    output = next.Outputs[0];
                }
                else if (next?.Kind == OpKind.ResidualAdd && run.Count == 1 && next.Inputs.Contains(first.Outputs[0]) && _caps.GemmResidualEpilogue)
                {
                    epilogue = GemmEpilogue.AddResidual;
                    fused.Add(next);
                    consumed++;
                    output = "residual";
                    reads.Add(Use("residual"));
                }

                var (k, n) = (_m.LinearShape(first.Module!.Value).K, run.Sum(op => _m.LinearShape(op.Module!.Value).N));
                int outputStride = epilogue == GemmEpilogue.SwiGlu ? n / 2 : BufferColumns(output, n);
                bool lmHead = first.Module == ModuleKind.LmHead;
                var scheme = first.Scheme!;
                // Each fused module brings its own per-tensor FP8 scale: the fused weight has one per output channel.
                if (run.Count > 1 && scheme is { Method: QuantMethod.Fp8E4M3, WeightScale: ScaleGranularity.PerTensor })
                    scheme = scheme with { WeightScale = ScaleGranularity.PerChannel };
                var family = TileFamilies.GemmFamily(scheme.Method, prefill: phase == Phase.Prefill && !lmHead);
                string name = $"gemm_{scheme.Tag()}_k{k}_n{n}_{family.Phase()}"
                    + (epilogue == GemmEpilogue.Store ? "" : epilogue == GemmEpilogue.SwiGlu ? "_swiglu" : "_residual")
                    + (outputStride != (epilogue == GemmEpilogue.SwiGlu ? n / 2 : n) ? "_ld" + outputStride.ToString(CultureInfo.InvariantCulture) : "")
                    + (lmHead ? "_f32" : "");
                // The logits leave the model in fp32 (sampling reads them), every other GEMM output in the activation dtype.
                var kernel = Add(new GemmKernel(name, k, n, scheme, _m.DType, family, epilogue, outputStride, lmHead ? DType.F32 : _m.DType));
                // The twin serves steps with more rows than the few-row tile: only a spec whose max_num_seqs allows them has one.
                if (_spec.Tiles.Archs.Any(a => kernel.ForRows(a, _spec.Limits.MaxNumSeqs) != kernel)) Add(kernel.BatchTwin());
                return Launch(kernel, fused.ToArray(), reads.ToArray(), new[] { Use(output) });
            }

            private PlannedLaunch AttentionLaunch(EquatableArray<GraphOp> ops, int i, Phase phase, bool withRope)
            {
                var kv = _spec.KvCache;
                int count = withRope ? 3 : 2;
                var fused = Enumerable.Range(i, count).Select(j => ops[j]).ToArray();
                var attention = fused[count - 1];
                bool fp8 = ConsumersOf(ops, i + count - 1, attention.Outputs[0]).Any(NeedsFp8Input);
                string name = $"{(phase == Phase.Prefill ? "prefill" : "decode")}_attention_h{_m.NumAttentionHeads}_kv{_m.NumKeyValueHeads}_d{_m.HeadDim}_{kv.DType.SpecName()}_b{kv.BlockSize}"
                    + (phase == Phase.Decode && withRope ? "_rope" : "") + (fp8 ? "_fp8" : "");
                FusedKernel k = phase == Phase.Prefill
                    ? new PrefillAttentionKernel(name, _m.NumAttentionHeads, _m.NumKeyValueHeads, _m.HeadDim, _m.DType, kv.DType, kv.BlockSize, _m.RopeTheta, fp8)
                    : new DecodeAttentionKernel(name, _m.NumAttentionHeads, _m.NumKeyValueHeads, _m.HeadDim, _m.DType, kv.DType, kv.BlockSize, _m.RopeTheta, withRope, fp8);
                Add(k);
                // The wide twin serves decode steps of few sequences, where a spec names its tiles for some architecture.
                if (k is DecodeAttentionKernel decode && _spec.Tiles.Archs.Any(a => a.DecodeAttentionWide != null)) Add(decode.WideTwin());
                var reads = withRope ? new[] { Use("qkv"), Use("positions") } : new[] { Use("qkv") };
                return Launch(k, fused, reads, fp8 ? Fp8Outputs(attention.Outputs[0]) : new[] { Use(attention.Outputs[0]) });
            }

            private PlannedLaunch RopeLaunch(GraphOp op)
            {
                int stride = BufferColumns("qkv", 0);
                var k = Add(new RopeKernel($"rope_h{_m.NumAttentionHeads}_kv{_m.NumKeyValueHeads}_d{_m.HeadDim}", _m.NumAttentionHeads,
                    _m.NumKeyValueHeads, _m.HeadDim, _m.RopeTheta, _m.DType, stride));
                return Launch(k, new[] { op }, new[] { Use("qkv"), Use("positions") }, new[] { "qkv" });
            }

            private PlannedLaunch SwiGluLaunch(EquatableArray<GraphOp> ops, int i)
            {
                var op = ops[i];
                bool fp8 = ConsumersOf(ops, i, op.Outputs[0]).Any(NeedsFp8Input);
                var k = Add(new SwiGluKernel($"swiglu_i{_m.IntermediateSize}" + (fp8 ? "_fp8" : ""), _m.IntermediateSize, _m.DType, fp8));
                var writes = fp8 ? Fp8Outputs(op.Outputs[0]) : new[] { Use(op.Outputs[0]) };
                return Launch(k, new[] { op }, new[] { Use("gate_up") }, writes);
            }

            private static bool NeedsFp8Input(GraphOp op) =>
                op.Kind == OpKind.Linear && op.Scheme is { Method: QuantMethod.Fp8E4M3, ActivationScale: ActivationScaling.Dynamic };

            /// <summary>The ops after <paramref name="from"/> that read <paramref name="value"/> before it is written again.</summary>
            private static List<GraphOp> ConsumersOf(EquatableArray<GraphOp> ops, int from, string value)
            {
                var result = new List<GraphOp>();
                for (int j = from + 1; j < ops.Count; j++)
                {
                    if (ops[j].Inputs.Contains(value)) result.Add(ops[j]);
                    if (ops[j].Outputs.Contains(value)) break;
                }
                return result;
            }

            private static string MergedOutput(string value) => value switch
            {
                "q" or "k" or "v" => "qkv",
                "gate" or "up" => "gate_up",
                _ => value,
            };

            private int BufferColumns(string buffer, int fallback) => buffer switch
            {
                "qkv" => _m.QSize + 2 * _m.KvSize,
                "gate_up" => 2 * _m.IntermediateSize,
                _ => _values.TryGetValue(buffer, out var v) ? v.Columns : fallback,
            };

            private string[] Fp8Outputs(string value)
            {
                var v = _values[value];
                Declare(value + "_fp8", v.Rows, v.Columns, DType.F8E4M3);
                Declare(value + "_scale", v.Rows, 1, DType.F32);
                return new[] { value + "_fp8", value + "_scale" };
            }

            /// <summary>Declares the buffer behind a graph value (q/k/v share qkv, gate/up share gate_up) and returns its name.</summary>
            private string Use(string value)
            {
                string buffer = MergedOutput(value);
                if (_buffers.ContainsKey(buffer)) return buffer;
                if (buffer == "qkv" || buffer == "gate_up")
                    Declare(buffer, "T", BufferColumns(buffer, 0), _m.DType);
                else
                {
                    var v = _values[buffer];
                    Declare(buffer, v.Rows, v.Columns, v.DType);
                }
                return buffer;
            }

            private void Declare(string name, string rows, int columns, DType dtype)
            {
                if (_buffers.ContainsKey(name)) return;
                _buffers[name] = (rows, columns, dtype);
                _bufferOrder.Add(name);
            }

            private T Add<T>(T kernel) where T : FusedKernel
            {
                foreach (var existing in Kernels)
                {
                    if (existing.Name != kernel.Name) continue;
                    if (!existing.Equals(kernel))
                        throw new InvalidOperationException($"two different kernels were both named {kernel.Name}");
                    return (T)existing;
                }
                Kernels.Add(kernel);
                return kernel;
            }

            private static PlannedLaunch Launch(FusedKernel kernel, GraphOp[] ops, string[] reads, string[] writes)
            {
                // Ops are named per layer ("layers.3.q_proj"); a launch names them per layer template ("q_proj").
                var names = ops.Select(o => o.Name.StartsWith("layers.", StringComparison.Ordinal) ? o.Name.Substring(o.Name.IndexOf('.', 7) + 1) : o.Name);
                return new PlannedLaunch(kernel.Name, names.ToEquatableArray(), reads.ToEquatableArray(), writes.ToEquatableArray());
            }
        }
    }
}
