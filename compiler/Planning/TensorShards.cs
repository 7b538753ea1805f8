using System;
using GraphCompiler.Common;
using GraphCompiler.Spec;

namespace GraphCompiler.Planning
{
    /// <summary>
    /// What each tensor-parallel rank holds of a weight (<see cref="ModuleKinds.TensorSplit"/>): rank r of t takes the r-th
    /// of t equal, contiguous slices along N (columns) or K (rows). Slices follow the heads: rank r's query heads
    /// [r·H/t, (r+1)·H/t) read exactly its KV heads [r·KV/t, (r+1)·KV/t), so attention needs no exchange, and o_proj's
    /// input rows on rank r are its heads' outputs. <see cref="ParallelParser"/> has checked that every cut is whole.
    /// </summary>
    public static class TensorShards
    {
        /// <summary>A rank's (K, N) of the module's weight, as the GEMM sees it (y = x·Wᵀ, W is [N, K]).</summary>
        public static (int K, int N) Shape(ModelShape model, ModuleKind module, int ranks)
        {
            var (k, n) = model.LinearShape(module);
            return module.TensorSplit() == TensorSplit.Rows ? (k / ranks, n) : (k, n / ranks);
        }

        /// <summary>The slice of the full weight's split dimension (N for columns, K for rows) that rank <paramref name="rank"/> holds.</summary>
        public static (int Start, int Count) Slice(ModelShape model, ModuleKind module, int ranks, int rank)
        {
            if (rank < 0 || rank >= ranks) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"ranks are 0 .. {ranks - 1}");
            var (k, n) = model.LinearShape(module);
            int count = (module.TensorSplit() == TensorSplit.Rows ? k : n) / ranks;
            return (rank * count, count);
        }

        public static int QueryHeads(ModelShape model, int ranks) => model.NumAttentionHeads / ranks;

        public static int KvHeads(ModelShape model, int ranks) => model.NumKeyValueHeads / ranks;

        /// <summary>Bytes one rank all-reduces per token a step: the hidden state after each row-split product (o_proj and
        /// down_proj), in the activation dtype.</summary>
        public static long AllReduceBytesPerToken(ModelShape model) => 2L * model.NumHiddenLayers * model.HiddenSize * model.DType.SizeInBytes();
    }
}
