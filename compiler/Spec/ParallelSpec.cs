using System.Collections.Generic;
using System.Linq;

namespace GraphCompiler.Spec
{
    /// <summary>`parallel:` — how many GPUs of one host the model is split over (tensor parallelism, Megatron-style:
    /// <see cref="ModuleKinds.TensorSplit"/>). 1 when the section is absent.</summary>
    public sealed record ParallelSpec(int Tensor)
    {
        public static readonly ParallelSpec Single = new ParallelSpec(1);

        /// <summary>GPUs of one host a model may be split over.</summary>
        public static readonly int[] TensorSizes = { 1, 2, 4, 8 };

        /// <summary>INT4 codes packed per 32-bit word along N (AWQ's weights, GPTQ's zeros): a column cut keeps words whole.</summary>
        private const int Int4PackedColumns = 8;

        /// <summary>Why the model does not split over <paramref name="ranks"/> GPUs, one sentence a reason (none: it does),
        /// each ending with the sizes that do split it.</summary>
        public static IEnumerable<string> Problems(int ranks, ModelShape model, QuantizationSpec quantization)
        {
            var reasons = Reasons(ranks, model, quantization).ToList();
            if (reasons.Count == 0) return reasons;
            string fits = "use " + string.Join(", ", TensorSizes.Where(n => !Reasons(n, model, quantization).Any()));
            return reasons.Select(r => $"{r} ({fits})");
        }

        /// <summary>Every reason the spec's model does not split over <paramref name="ranks"/> GPUs, as the parser reports them
        /// under GC0042 (for a split asked for outside the spec, such as graphc's --tp).</summary>
        public static IEnumerable<string> Problems(int ranks, ModelSpec spec) => Problems(ranks, spec.Model, spec.Quantization, spec.KvCache, spec.Tiles);

        /// <summary>The shape and quantization problems; when there are none, each tile rule one GPU's share of the model
        /// (<see cref="Planning.TensorShards.RankShape"/>) breaks (unless the cache or tiles are unknown: their own errors stand).</summary>
        internal static List<string> Problems(int ranks, ModelShape model, QuantizationSpec quantization, KvCacheSpec? kv, TileTable? tiles)
        {
            var problems = Problems(ranks, model, quantization).ToList();
            if (problems.Count > 0 || ranks == 1 || kv is null || tiles is null) return problems;
            var rank = Planning.TensorShards.RankShape(model, ranks);
            var scratch = new SpecDiagnosticSink("");
            foreach (var arch in tiles.Archs) TileValidator.Validate(arch, rank, quantization, kv, scratch);
            return scratch.Diagnostics.Where(d => d.IsError).Select(d =>
                $"each GPU's share ({rank.NumAttentionHeads} query / {rank.NumKeyValueHeads} KV heads, intermediate {rank.IntermediateSize}) breaks a tile rule: {d.Message}").ToList();
        }

        /// <summary>Whole KV heads per rank (GQA groups are not cut), whole 16-feature steps of the MLP, and every INT4 scale
        /// group and packed word inside one rank.</summary>
        private static IEnumerable<string> Reasons(int ranks, ModelShape model, QuantizationSpec quantization)
        {
            if (ranks == 1) yield break;
            if (model.NumKeyValueHeads % ranks != 0)
                yield return $"num_key_value_heads {model.NumKeyValueHeads} does not divide by {ranks}; each rank holds whole KV heads with their {model.QueryHeadsPerKvHead} query heads";
            if (model.IntermediateSize % (16 * ranks) != 0)
                yield return $"intermediate_size {model.IntermediateSize} does not split into {ranks} slices of whole 16-feature MMA steps (down_proj's K per rank)";
            var seen = new HashSet<(ModuleKind, QuantScheme)>();
            for (int layer = 0; layer < quantization.Layers.Count; layer++)
                foreach (var module in ModuleKinds.LayerLinears)
                {
                    var scheme = quantization.For(module, layer);
                    if (scheme.Method != QuantMethod.Int4 || !seen.Add((module, scheme))) continue;
                    var (k, n) = model.LinearShape(module);
                    string where = $"{module.SpecName()} ({scheme.Describe()}, layer {layer} on)";
                    if (module.TensorSplit() == TensorSplit.Columns)
                    {
                        if (n / ranks % Int4PackedColumns != 0)
                            yield return $"{where} would hold {n / ranks} output features a rank, not whole {Int4PackedColumns}-column packed words";
                    }
                    else if (scheme.DescAct)
                        yield return $"{where} is split by input features, and act-order (desc_act) groups run across the whole input; requantize without desc_act, or keep tensor: 1";
                    else if (scheme.GroupSize != -1 && k / ranks % scheme.GroupSizeFor(k) != 0)
                        yield return $"{where} would hold {k / ranks} input features a rank, not whole groups of {scheme.GroupSize}";
                }
        }
    }

    /// <summary>How a weight is cut across tensor-parallel ranks.</summary>
    public enum TensorSplit
    {
        /// <summary>Each rank holds some output features (N): q/k/v, gate/up.</summary>
        Columns,
        /// <summary>Each rank holds some input features (K) and its partial sums are all-reduced: o_proj and down_proj.</summary>
        Rows,
        /// <summary>Every rank holds all of it: embed_tokens and lm_head.</summary>
        Replicated,
    }
}
