using System;
using GraphCompiler.Common;
using GraphCompiler.Spec;

namespace GraphCompiler.Planning
{
    /// <summary>
    /// What each tensor-parallel rank holds (<see cref="ModuleKinds.TensorSplit"/>): rank r of t takes the r-th of t equal,
    /// contiguous slices of a split weight along N (columns) or K (rows), and the whole of a replicated one. Slices follow
    /// the heads: rank r's query heads [r·H/t, (r+1)·H/t) read exactly its KV heads [r·KV/t, (r+1)·KV/t), so attention
    /// needs no exchange, and o_proj's input rows on rank r are its heads' outputs. A rank runs the model of
    /// <see cref="RankShape"/>: the same graph and kernels with fewer heads and a narrower MLP, all-reducing the hidden
    /// state after o_proj and down_proj. <see cref="ParallelParser"/> has checked that every cut is whole.
    /// </summary>
    public static class TensorShards
    {
        /// <summary>The model one rank of <paramref name="ranks"/> runs: H/t query and KV/t KV heads of the same head_dim,
        /// intermediate_size/t; hidden size, layers and vocabulary whole.</summary>
        public static ModelShape RankShape(ModelShape model, int ranks) => ranks == 1 ? model : model with
        {
            NumAttentionHeads = model.NumAttentionHeads / ranks,
            NumKeyValueHeads = model.NumKeyValueHeads / ranks,
            IntermediateSize = model.IntermediateSize / ranks,
        };

        /// <summary>The spec one rank compiles: <see cref="RankShape"/>, on one GPU.</summary>
        public static ModelSpec RankSpec(ModelSpec spec) =>
            spec.Parallel.Tensor == 1 ? spec : spec with { Model = RankShape(spec.Model, spec.Parallel.Tensor), Parallel = ParallelSpec.Single };

        /// <summary>The slice of the full weight's split dimension (N for columns, K for rows) that rank <paramref name="rank"/>
        /// holds; all of N for a replicated module.</summary>
        public static (int Start, int Count) Slice(ModelShape model, ModuleKind module, int ranks, int rank)
        {
            if (rank < 0 || rank >= ranks) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"ranks are 0 .. {ranks - 1}");
            var (k, n) = model.LinearShape(module);
            return module.TensorSplit() switch
            {
                TensorSplit.Rows => (rank * (k / ranks), k / ranks),
                TensorSplit.Columns => (rank * (n / ranks), n / ranks),
                _ => (0, n),
            };
        }

        /// <summary>Bytes one rank all-reduces per token a step: the hidden state after each row-split product (o_proj and
        /// down_proj), in the activation dtype.</summary>
        public static long AllReduceBytesPerToken(ModelShape model) => 2L * model.NumHiddenLayers * model.HiddenSize * model.DType.SizeInBytes();
    }
}
