using GraphCompiler.Common;
using GraphCompiler.Graph;
using GraphCompiler.Spec;

namespace GraphCompiler.Kernels.Attention
{
    /// <summary>
    /// FlashAttention-2 prefill: one CTA per (query tile of block_m rows, query head) over the ragged batch; shared memory
    /// for the Q tile and `stages` K/V tiles. The emitter itself comes with issue #4; the plan already reserves its
    /// launches and memory.
    /// </summary>
    public static class PrefillAttentionFamily
    {
        public const string PendingReason = "the FlashAttention-2 prefill emitter comes with issue #4";

        public static KernelSource Plan(PrefillAttentionKernel k, ArchTiles tiles)
        {
            var t = tiles.PrefillAttention;
            var launch = new LaunchShape(GridExtent.Of("q_blocks"), GridExtent.Constant(k.Heads), GridExtent.One, t.Warps * 32, t.SharedMemoryBytes(k.HeadDim));
            return new KernelSource(k.Name, k.Family, k.Summary, tiles.Arch.Name, null, EquatableArray<KernelParameter>.Empty, launch, PendingReason);
        }
    }

    /// <summary>
    /// Paged decode attention: one CTA per (KV head, sequence, context split), so every query head of a GQA group reads
    /// each KV byte once. The emitter comes with issue #5.
    /// </summary>
    public static class DecodeAttentionFamily
    {
        public const string PendingReason = "the paged decode-attention emitter comes with issue #5";

        public static KernelSource Plan(DecodeAttentionKernel k, ArchTiles tiles)
        {
            var t = tiles.DecodeAttention;
            var launch = new LaunchShape(GridExtent.Constant(k.KvHeads), GridExtent.Of("S"),
                t.Splits > 0 ? GridExtent.Constant(t.Splits) : GridExtent.Of("splits"), t.Warps * 32,
                t.SharedMemoryBytes(k.HeadDim, k.KvDType.SizeInBytes(), k.Heads / k.KvHeads));
            return new KernelSource(k.Name, k.Family, k.Summary, tiles.Arch.Name, null, EquatableArray<KernelParameter>.Empty, launch, PendingReason);
        }
    }
}
