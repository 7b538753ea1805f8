using GraphCompiler.Common;

namespace GraphCompiler.Planning
{
    /// <summary>Device bytes of one named part (a module's weights across layers, a workspace buffer).</summary>
    public sealed record ComponentBytes(string Name, long Bytes);

    /// <summary>A workspace buffer and its offset; buffers whose lifetimes never overlap share bytes.</summary>
    public sealed record WorkspaceSlot(string Name, long Bytes, long Offset);

    /// <summary>
    /// The device memory the spec needs, before any budget: resident weights (after repacking), KV cache per token,
    /// and the step workspace sized for limits.max_num_batched_tokens; one GPU's of <see cref="TensorRanks"/>.
    /// </summary>
    public sealed record MemoryPlan(
        EquatableArray<ComponentBytes> Weights,
        long WeightsBytes,
        EquatableArray<long> LayerBytes,
        long NonLayerWeightsBytes,
        long KvBytesPerToken,
        long KvScaleBytes,
        EquatableArray<WorkspaceSlot> Workspace,
        long WorkspaceBytes,
        long WorkspaceBytesWithoutReuse,
        int MaxSeqLen,
        int KvBlockSize,
        int TensorRanks);

    /// <summary>How the plan meets a budget: fits (and with how many KV tokens), or what must stream from host memory.</summary>
    public sealed record BudgetVerdict(
        long BudgetBytes,
        string BudgetSource,
        bool Fits,
        long MaxKvTokens,
        long MaxConcurrentSequences,
        int ResidentLayers,
        long StreamBytes,
        long StagingBytes,
        long ShortfallBytes,
        double PcieBytesPerSecond)
    {
        /// <summary>Lower bound on the time per decode step spent moving streamed weights over PCIe.</summary>
        public double StreamSecondsPerToken => StreamBytes / PcieBytesPerSecond;

        /// <summary>True when not even every layer streamed leaves room for the rest.</summary>
        public bool Infeasible => ShortfallBytes > 0;
    }
}
