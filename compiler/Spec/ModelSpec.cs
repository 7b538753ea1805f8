using GraphCompiler.Common;

namespace GraphCompiler.Spec
{
    /// <summary>A validated model spec: what the YAML file says, with every default filled in.</summary>
    public sealed record ModelSpec(
        string Name,
        string ClassName,
        string Namespace,
        ModelShape Model,
        QuantizationSpec Quantization,
        KvCacheSpec KvCache,
        LimitsSpec Limits,
        TileTable Tiles,
        ParallelSpec Parallel);

    /// <summary>The `model:` section, in Hugging Face config.json names.</summary>
    public sealed record ModelShape(
        string Architecture,
        int HiddenSize,
        int NumHiddenLayers,
        int NumAttentionHeads,
        int NumKeyValueHeads,
        int IntermediateSize,
        int VocabSize,
        double RopeTheta,
        double RmsNormEps,
        int MaxPositionEmbeddings,
        bool TieWordEmbeddings,
        DType DType,
        int BosTokenId,
        int EosTokenId)
    {
        /// <summary>hidden_size / num_attention_heads as parsed; a tensor-parallel rank's shape (<see cref="Planning.TensorShards.RankShape"/>)
        /// keeps it while holding fewer heads.</summary>
        public int HeadDim { get; init; } = HiddenSize / NumAttentionHeads;
        public int QueryHeadsPerKvHead => NumAttentionHeads / NumKeyValueHeads;
        public int QSize => NumAttentionHeads * HeadDim;
        public int KvSize => NumKeyValueHeads * HeadDim;

        /// <summary>Input (K) and output (N) features of a module's weight, as the GEMM sees it (y = x·Wᵀ, W is [N, K]).</summary>
        public (int K, int N) LinearShape(ModuleKind module) => module switch
        {
            ModuleKind.QProj => (HiddenSize, QSize),
            ModuleKind.KProj => (HiddenSize, KvSize),
            ModuleKind.VProj => (HiddenSize, KvSize),
            ModuleKind.OProj => (QSize, HiddenSize),
            ModuleKind.GateProj => (HiddenSize, IntermediateSize),
            ModuleKind.UpProj => (HiddenSize, IntermediateSize),
            ModuleKind.DownProj => (IntermediateSize, HiddenSize),
            ModuleKind.LmHead => (HiddenSize, VocabSize),
            ModuleKind.EmbedTokens => (HiddenSize, VocabSize),
            _ => throw new System.ArgumentOutOfRangeException(nameof(module)),
        };
    }

    /// <summary>`kv_cache:` — the paged cache's element type, page size and FP8 scale granularity.</summary>
    public sealed record KvCacheSpec(DType DType, int BlockSize, KvScaleGranularity Scale)
    {
        public bool IsFp8 => DType is DType.F8E4M3 or DType.F8E5M2;
    }

    public enum KvScaleGranularity { PerLayer, PerHead }

    /// <summary>`limits:` — the serving envelope the memory plan is sized for.</summary>
    public sealed record LimitsSpec(
        int MaxSeqLen,
        int MaxInputLen,
        int MaxNumSeqs,
        int MaxNumBatchedTokens,
        double GpuMemoryUtilization,
        long? GpuMemoryBudget);
}
