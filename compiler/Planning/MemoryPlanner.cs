using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Graph;
using GraphCompiler.Kernels.Attention;
using GraphCompiler.Kernels.Gemm;
using GraphCompiler.Kernels.Sampling;
using GraphCompiler.Spec;

namespace GraphCompiler.Planning
{
    /// <summary>
    /// Exact device bytes for a spec (weights per component, KV per token, workspace) and the verdict against a budget:
    /// fits with N KV tokens, or which layers must stream from host memory over PCIe, or does not fit at all. A
    /// tensor-parallel spec is planned as one rank's (<see cref="TensorShards.RankSpec"/>, see <see cref="ModelCompiler"/>):
    /// every figure is one GPU's.
    /// </summary>
    public static class MemoryPlanner
    {
        /// <summary>Context splits the flash-decoding partials are sized for when the spec leaves splits to run time.</summary>
        public const int PlannedDecodeSplits = 16;

        /// <summary>SMs the stream-K partials are sized for (a launch has one CTA per resident slot): above the 132 of an
        /// H100 or H200 and the 142 of an L40S; a GPU with more launches no more CTAs than this many SMs hold.</summary>
        public const int PlannedMultiprocessors = 148;

        /// <summary>Effective host-to-device bandwidth of PCIe 4.0 x16, the default for streaming estimates.</summary>
        public const double DefaultPcieBytesPerSecond = 25e9;

        /// <summary>Context splits the decode partials hold per (sequence, query head): the runtime never launches more.</summary>
        public static int DecodeSplitCapacity(ModelSpec spec) => Math.Max(PlannedDecodeSplits, spec.Tiles.Archs.Max(a => Math.Max(a.DecodeAttention.Splits, a.DecodeAttentionWide?.Splits ?? 0)));

        /// <param name="ranks">The GPUs <paramref name="spec"/> (one rank's) is a part of; the plan records it.</param>
        public static MemoryPlan Build(ModelSpec spec, KernelPlan kernels, int ranks = 1)
        {
            var m = spec.Model;
            var q = spec.Quantization;
            long Linear(ModuleKind module, int layer)
            {
                var (k, n) = m.LinearShape(module);
                return WeightLayout.For(q.For(module, layer)).DeviceBytes(k, n);
            }

            long normBytes = 2L * m.HiddenSize;
            var perModule = new Dictionary<string, long>();
            void Add(string name, long bytes) => perModule[name] = (perModule.TryGetValue(name, out var b) ? b : 0) + bytes;

            var (hidden, vocab) = m.LinearShape(ModuleKind.EmbedTokens);
            Add("embed_tokens", WeightLayout.GatherTableBytes(q.For(ModuleKind.EmbedTokens, 0), hidden, vocab));
            var layerBytes = new List<long>();
            for (int l = 0; l < m.NumHiddenLayers; l++)
            {
                long layer = 2 * normBytes;
                foreach (var module in ModuleKinds.LayerLinears)
                {
                    long b = Linear(module, l);
                    Add(module.SpecName(), b);
                    layer += b;
                }
                Add("norms", 2 * normBytes);
                layerBytes.Add(layer);
            }
            Add("norms", normBytes);
            Add("lm_head", m.TieWordEmbeddings ? 0 : Linear(ModuleKind.LmHead, 0));
            long weights = perModule.Values.Sum();
            long nonLayer = weights - layerBytes.Sum();

            var kv = spec.KvCache;
            long kvPerToken = 2L * m.NumHiddenLayers * m.KvSize * kv.DType.SizeInBytes();
            long kvScales = kv.IsFp8 ? 2L * m.NumHiddenLayers * (kv.Scale == KvScaleGranularity.PerHead ? m.NumKeyValueHeads : 1) * 4 : 0;

            var (slots, withoutReuse) = Workspace(spec, kernels);
            var order = new[] { "embed_tokens", "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "norms", "lm_head" };
            return new MemoryPlan(
                order.Select(n => new ComponentBytes(n, perModule[n])).ToEquatableArray(),
                weights,
                layerBytes.ToEquatableArray(),
                nonLayer,
                kvPerToken,
                kvScales,
                slots.ToEquatableArray(),
                slots.Count == 0 ? 0 : slots.Max(s => s.Offset + s.Bytes),
                withoutReuse,
                spec.Limits.MaxSeqLen,
                kv.BlockSize,
                ranks);
        }

        /// <summary>Activation buffers (shared where lifetimes allow) plus the scratch that lives across the whole step.</summary>
        private static (List<WorkspaceSlot> Slots, long WithoutReuse) Workspace(ModelSpec spec, KernelPlan kernels)
        {
            var m = spec.Model;
            int tokens = spec.Limits.MaxNumBatchedTokens, seqs = spec.Limits.MaxNumSeqs;
            var bytes = kernels.Buffers.ToDictionary(b => b.Name, b => b.Bytes(tokens, seqs));
            var slots = WorkspacePlanner.Plan(kernels, bytes).ToList();
            long end = slots.Count == 0 ? 0 : slots.Max(s => s.Offset + s.Bytes);

            int splits = DecodeSplitCapacity(spec);
            // GEMMs whose output tiles are shared between CTAs (stream-K at split_k 0, classic split-K above 1): up to two
            // fp32 partial tiles per CTA, and one arrival counter per output tile. split_k 1 needs neither.
            var shared = kernels.Kernels.OfType<GemmKernel>()
                .SelectMany(g => spec.Tiles.Archs.Select(a => (Kernel: g, Arch: a, Tiles: a.Gemm(g.Tiles))))
                .Where(x => x.Tiles.SplitK != 1).ToList();
            int rows = Math.Max(tokens, seqs);
            // Stream-K launches as many CTAs as the GPU holds at once: the SMs times what fits per SM (the emitted kernel's
            // shared memory, the tile's registers), as the runtime counts them.
            long StreamKCtas(GemmKernel g, ArchTiles arch, GemmTiles t) => (long)PlannedMultiprocessors
                * GemmPartition.ResidentCtasPerSm(t, GemmEmitter.SharedMemoryBytes(g, t), arch.Arch);
            long partials = shared.Select(x => GemmPartition.PartialFloats(x.Tiles,
                x.Tiles.SplitK == 0 ? StreamKCtas(x.Kernel, x.Arch, x.Tiles) : GemmPartition.Tiles(x.Tiles, x.Kernel.N, rows) * x.Tiles.SplitK) * 4).DefaultIfEmpty(0).Max();
            long counters = shared.Select(x => GemmPartition.Tiles(x.Tiles, x.Kernel.N, rows) * 4).DefaultIfEmpty(0).Max();
            var scratch = new[]
            {
                // Prefill attention: its write ticket and counts.
                ("prefill_attention_sync", (long)PrefillAttentionFamily.SyncInts * 4),
                // And each new token's RoPE angles, which the KV head 0 write jobs leave for the query heads.
                ("prefill_attention_rope", PrefillAttentionFamily.RopeBytes(tokens, m.HeadDim)),
                // Flash-decoding partials, for GPUs whose splits do not merge in a cluster.
                ("decode_split_partials", DecodeAttentionFamily.SplitPartialBytes(seqs, m.NumAttentionHeads, m.HeadDim, m.DType, splits)),
                // And an arrival counter per (sequence, KV head), so the last split to finish combines them.
                ("decode_split_counters", (long)seqs * m.NumKeyValueHeads * 4),
                ("gemm_stream_k_partials", partials),
                ("gemm_tile_counters", counters),
                // The GPU sampler: each running sequence's penalty state (a word per token), and per sampled row its
                // parameter row, chosen token and log-probability.
                ("sampling_state", (long)seqs * m.VocabSize * 4),
                ("sampling_rows", (long)seqs * (SamplingRow.Words + 2) * 4),
            };
            foreach (var (name, size) in scratch)
            {
                end = (end + WorkspacePlanner.Alignment - 1) / WorkspacePlanner.Alignment * WorkspacePlanner.Alignment;
                slots.Add(new WorkspaceSlot(name, size, end));
                end += size;
            }
            return (slots, slots.Sum(s => s.Bytes));
        }

        /// <summary>
        /// The budget is the spec's gpu_memory_budget, else gpu_memory_utilization × the device's memory
        /// (<paramref name="deviceMemoryBytes"/>, the GPU's or the --gpu-memory a user asks about); null when neither is known.
        /// </summary>
        public static (long Bytes, string Source)? Budget(LimitsSpec limits, long? deviceMemoryBytes)
        {
            if (limits.GpuMemoryBudget is long budget)
                return deviceMemoryBytes is long device && device < budget
                    ? (device, $"device memory {ByteSize.Format(device)} (below the spec's gpu_memory_budget {ByteSize.Format(budget)})")
                    : (budget, $"gpu_memory_budget {ByteSize.Format(budget)}");
            if (deviceMemoryBytes is long memory)
                return ((long)(memory * limits.GpuMemoryUtilization),
                    $"{limits.GpuMemoryUtilization:0.00} × {ByteSize.Format(memory)} (gpu_memory_utilization × device memory)");
            return null;
        }

        /// <summary>
        /// Fits when weights, workspace and one sequence at max_seq_len of KV cache fit; the rest of the budget is KV.
        /// Otherwise the largest layers stay resident, the others stream through two staging buffers of the largest
        /// layer's size, and KV is kept for one sequence at max_seq_len.
        /// </summary>
        public static BudgetVerdict Evaluate(MemoryPlan plan, long budget, string budgetSource, double pcieBytesPerSecond = DefaultPcieBytesPerSecond)
        {
            long oneSequenceKv = plan.KvBytesPerToken * plan.MaxSeqLen;
            long fixedBytes = plan.WorkspaceBytes + plan.KvScaleBytes;
            long free = budget - plan.WeightsBytes - fixedBytes;
            if (free >= oneSequenceKv)
            {
                long tokens = free / plan.KvBytesPerToken / plan.KvBlockSize * plan.KvBlockSize;
                return new BudgetVerdict(budget, budgetSource, true, tokens, tokens / plan.MaxSeqLen, plan.LayerBytes.Count, 0, 0, 0, pcieBytesPerSecond);
            }

            long staging = 2 * plan.LayerBytes.Max();
            long room = budget - plan.NonLayerWeightsBytes - fixedBytes - staging - oneSequenceKv;
            if (room < 0)
                return new BudgetVerdict(budget, budgetSource, false, 0, 0, 0, plan.LayerBytes.Sum(), staging, -room, pcieBytesPerSecond);

            int resident = 0;
            long residentBytes = 0;
            foreach (long layer in plan.LayerBytes.OrderByDescending(b => b))
            {
                if (residentBytes + layer > room) break;
                residentBytes += layer;
                resident++;
            }
            long kvTokens = (room - residentBytes + oneSequenceKv) / plan.KvBytesPerToken / plan.KvBlockSize * plan.KvBlockSize;
            return new BudgetVerdict(budget, budgetSource, false, kvTokens, kvTokens / plan.MaxSeqLen, resident,
                plan.LayerBytes.Sum() - residentBytes, staging, 0, pcieBytesPerSecond);
        }
    }
}
