using System;
using System.Linq;
using System.Collections.Generic;
using GraphCompiler.Common;
using GraphCompiler.Graph;
using GraphCompiler.Kernels.Attention;
using GraphCompiler.Kernels.Gemm;
using GraphCompiler.Runtime.Cuda;
using GraphCompiler.Spec;

namespace GraphCompiler.Runtime.Execution
{
    public sealed partial class GpuModel
    {
        /// <summary>The shape of one step: its tokens and sequences, for prefill its query tiles, for decode its splits and the
        /// most tokens a sequence brings (1, or up to <see cref="DecodeQueries.MaxStepTokens"/> when verifying drafts); and
        /// the rows whose logits it makes (each sequence's last token, or every token).</summary>
        private sealed record StepShape(int Tokens, int Sequences, int QueryTiles, int Splits, int StepTokens, int LogitRows);

        /// <summary>
        /// One launch's arguments, by the kernel's parameter names, and its grid symbols: plan buffers are workspace slots,
        /// weights come by layer and module (norms by the op they serve), the KV pool and its scales are the layer's part,
        /// step inputs and scratch are the model's own. What each parameter binds is in its KernelParameter.Binds. The
        /// kernel is the launch's, or for a few-row decode GEMM with more rows than its block_m, its batch twin, and for decode
        /// attention of few sequences its wide twin.
        /// </summary>
        private (CudaKernel Kernel, Dictionary<string, object> Arguments, Dictionary<string, long> Grid) Bind(PlannedLaunch launch, int layer, StepShape step)
        {
            var a = new Dictionary<string, object>(StringComparer.Ordinal);
            var grid = new Dictionary<string, long> { ["T"] = step.Tokens, ["S"] = step.LogitRows };
            DeviceAddress Buffer(string name) => _slots[name];
            var descriptor = _plan.Kernel(launch.Kernel);
            switch (descriptor)
            {
                case EmbeddingGatherKernel:
                    a["token_ids"] = Buffer(launch.Reads[0]);
                    a["table"] = _weights.Embedding;
                    if (_weights.EmbeddingScale != null) a["table_scale"] = _weights.EmbeddingScale;
                    a["residual"] = Buffer(launch.Writes[0]);
                    a["error_flag"] = Input(_layout.ErrorFlag);
                    a["tokens"] = step.Tokens;
                    break;
                case RmsNormKernel k:
                {
                    string op = launch.Ops[launch.Ops.Count - 1];
                    a["residual"] = Buffer(launch.Reads[0]);
                    if (k.AddResidual) a["delta"] = Buffer(launch.Reads[1]);
                    if (k.GatherRows) a["rows"] = Buffer(launch.Reads[launch.Reads.Count - 1]);
                    a["weight"] = _weights.Norm(op == "norm" ? "model.norm.weight" : $"model.layers.{layer}.{op}.weight");
                    int w = k.AddResidual ? 1 : 0;
                    if (k.WriteDense) a["out"] = Buffer(launch.Writes[w++]);
                    if (k.WriteFp8)
                    {
                        a["out_fp8"] = Buffer(launch.Writes[w]);
                        a["out_scale"] = Buffer(launch.Writes[w + 1]);
                    }
                    a["num_rows"] = k.GatherRows ? step.LogitRows : step.Tokens;
                    break;
                }
                case RopeKernel:
                    a["qkv"] = Buffer(launch.Reads[0]);
                    a["positions"] = Buffer(launch.Reads[1]);
                    a["tokens"] = step.Tokens;
                    break;
                case SwiGluKernel k:
                    a["gate_up"] = Buffer(launch.Reads[0]);
                    if (k.WriteFp8)
                    {
                        a["out_fp8"] = Buffer(launch.Writes[0]);
                        a["out_scale"] = Buffer(launch.Writes[1]);
                    }
                    else a["out"] = Buffer(launch.Writes[0]);
                    a["tokens"] = step.Tokens;
                    break;
                case GemmKernel g:
                {
                    int rows = _plan.Buffer(launch.Reads[0]).Rows == "S" ? step.LogitRows : step.Tokens;
                    var k = g.ForRows(_tiles, rows);
                    descriptor = k;
                    var w = _weights.Gemm(layer, launch.Modules);
                    bool dynamic = k.Scheme is { Method: QuantMethod.Fp8E4M3, ActivationScale: ActivationScaling.Dynamic };
                    a["x"] = Buffer(launch.Reads[0]);
                    if (dynamic) a["x_scale"] = Buffer(launch.Reads[1]);
                    if (w.InputScale != null) a["input_scale"] = w.InputScale;
                    a["weight"] = w.Weight;
                    if (w.Scales != null) a["scales"] = w.Scales;
                    if (w.Zeros != null) a["zeros"] = w.Zeros;
                    if (w.Perm != null) a["perm"] = w.Perm;
                    if (w.WeightScale != null) a["weight_scale"] = w.WeightScale;
                    var output = Buffer(launch.Writes[0]);
                    if (k.Epilogue == GemmEpilogue.AddResidual) a["residual"] = output;
                    else a["out"] = output.Offset((long)launch.OutputColumn(_m) * k.Output.SizeInBytes());
                    var (ctas, partialFloats, tiles) = GemmCtas(k, rows);
                    // split_k 1 gives each output tile one CTA: no partial sums, no arrivals.
                    if (_tiles.Gemm(k.Tiles).SplitK != 1
                        && (partialFloats * 4 > _slotBytes["gemm_stream_k_partials"] || tiles * 4 > _slotBytes["gemm_tile_counters"]))
                        throw new InvalidOperationException($"{k.Name} at {rows} rows needs {partialFloats * 4} bytes of stream-K partials and {tiles} tile counters, more than the memory plan reserved");
                    a["partials"] = Buffer("gemm_stream_k_partials");
                    a["tile_counters"] = Buffer("gemm_tile_counters");
                    a["rows"] = rows;
                    grid["M"] = rows;
                    grid["gemm_ctas"] = ctas;
                    break;
                }
                case PrefillAttentionKernel k:
                    a["qkv"] = Buffer(launch.Reads[0]);
                    a["positions"] = Buffer(launch.Reads[1]);
                    BindCache(a, k.KvDType, layer);
                    a["cu_seqlens"] = Input(_layout.CuSeqlens);
                    a["context_lens"] = Input(_layout.ContextLens);
                    a["tile_jobs"] = Input(_layout.TileJobs);
                    a["out"] = Buffer(launch.Writes[0]);
                    a["sync"] = Buffer("prefill_attention_sync");
                    a["rope"] = Buffer("prefill_attention_rope");
                    a["q_blocks"] = step.QueryTiles;
                    grid["prefill_ctas"] = PrefillAttentionFamily.Ctas(step.QueryTiles, k.Heads, _device.Info.MultiprocessorCount, _kernels[k.Name].ResidentCtasPerSm);
                    break;
                case DecodeAttentionKernel d:
                {
                    var k = DecodeKernel(d, step.Sequences, step.StepTokens);
                    descriptor = k;
                    a["qkv"] = Buffer(launch.Reads[0]);
                    if (k.WithRope) a["positions"] = Buffer(launch.Reads[1]);
                    BindCache(a, k.KvDType, layer);
                    a["context_lens"] = Input(_layout.ContextLens);
                    a["cu_seqlens"] = Input(_layout.CuSeqlens);
                    a["out"] = Buffer(launch.Writes[0]);
                    if (!DecodeAttentionFamily.MergesInCluster(_tiles.Arch))
                    {
                        a["partials"] = Buffer("decode_split_partials");
                        a["split_counters"] = Buffer("decode_split_counters");
                        a["tokens"] = step.Tokens;
                    }
                    a["sequences"] = step.Sequences;
                    a["step_tokens"] = step.StepTokens;
                    grid["query_chunks"] = step.Sequences * (long)k.Queries.ChunksFor(step.StepTokens);
                    grid["splits"] = step.Splits;
                    break;
                }
                default:
                    throw new NotSupportedException($"the GPU backend cannot launch {launch.Kernel}");
            }
            return (_kernels[descriptor.Name], a, grid);
        }

        /// <summary>A step input in the device input buffer, at its <see cref="InputLayout"/> place (in ints).</summary>
        private DeviceAddress Input(int at) => _inputs.Address.Offset(at * 4L);

        /// <summary>The paged cache a layer's attention reads and writes: its pool, the step's block tables, its FP8 scales.</summary>
        private void BindCache(Dictionary<string, object> a, DType kvDType, int layer)
        {
            a["kv_pool"] = _kvPool.Buffer.Address.Offset(layer * _kvLayerBytes);
            a["block_tables"] = Input(_layout.BlockTables);
            a["max_blocks"] = _maxBlocks;
            if (kvDType is DType.F8E4M3 or DType.F8E5M2) a["kv_scale"] = _kvScales.Address.Offset(layer * 8L);
        }

        /// <summary>A GEMM launch's stream-K CTAs at <paramref name="rows"/> rows, as the selftest and the bench size them, on
        /// no more SMs than the memory plan's partials are sized for.</summary>
        private (long Ctas, long PartialFloats, long Tiles) GemmCtas(GemmKernel k, int rows)
        {
            var t = _tiles.Gemm(k.Tiles);
            int resident = GemmPartition.ResidentCtasPerSm(t, _kernels[k.Name].Source.Launch.SharedMemoryBytes, _tiles.Arch);
            int multiprocessors = Math.Min(_device.Info.MultiprocessorCount, Planning.MemoryPlanner.PlannedMultiprocessors);
            long ctas = GemmPartition.Ctas(t, k.K, k.N, rows, multiprocessors, resident);
            return (ctas, GemmPartition.PartialFloats(t, ctas), GemmPartition.Tiles(t, k.N, rows));
        }

        /// <summary>The decode-attention kernel a step of <paramref name="sequences"/> launches: the plan's, or its wide twin
        /// (<see cref="DecodeAttentionFamily.ForStep"/>).</summary>
        private DecodeAttentionKernel DecodeKernel(DecodeAttentionKernel k, int sequences, int stepTokens) =>
            DecodeAttentionFamily.ForStep(k, _tiles, sequences * k.Queries.ChunksFor(stepTokens), _device.Info.MultiprocessorCount, stepTokens);

        /// <summary>Flash-decoding splits for a decode step: what the family chooses, on the tiles of the kernel the step
        /// launches, for the longest context the step may have (the kernel gives short contexts fewer; clusters of splits as
        /// many as the GPU holds at once), within the partials the memory plan reserved.</summary>
        private int DecodeSplits(int sequences, int stepTokens, int longestContext) =>
            _model.Plan.Kernels.OfType<DecodeAttentionKernel>().FirstOrDefault(d => !d.Wide) is { } plan && DecodeKernel(plan, sequences, stepTokens) is var k
                ? Math.Min(Planning.MemoryPlanner.DecodeSplitCapacity(_model.Spec),
                    DecodeAttentionFamily.ChooseSplits(k, _tiles.Decode(k.Tiles), _tiles.Arch, sequences * k.Queries.ChunksFor(stepTokens), longestContext, _device.Info.MultiprocessorCount,
                        stepTokens, _kernels[k.Name].ClustersAtOnce))
                : 1;
    }
}
