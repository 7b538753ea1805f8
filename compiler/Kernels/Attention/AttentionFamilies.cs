using System;
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
    /// each KV byte once; splits from the spec or, at 0, chosen per launch (<see cref="DecodeAttentionEmitter"/>).
    /// </summary>
    public static class DecodeAttentionFamily
    {
        public static KernelSource Plan(DecodeAttentionKernel k, ArchTiles tiles)
        {
            var t = tiles.DecodeAttention;
            string? unsupported = DecodeAttentionEmitter.Unsupported(k) ?? DecodeAttentionEmitter.TilesUnsupported(k, t);
            var launch = new LaunchShape(GridExtent.Constant(k.KvHeads), GridExtent.Of("S"),
                t.Splits > 0 ? GridExtent.Constant(t.Splits) : GridExtent.Of("splits"), t.Warps * 32,
                unsupported is null ? DecodeAttentionEmitter.SharedMemoryBytes(k, t) : 0);
            return unsupported is null
                ? DecodeAttentionEmitter.Emit(k, tiles, launch)
                : new KernelSource(k.Name, k.Family, k.Summary, tiles.Arch.Name, null, EquatableArray<KernelParameter>.Empty, launch, unsupported);
        }

        /// <summary>
        /// Context splits when the spec leaves them to the runtime (0): enough CTAs for two per SM over the step's
        /// (KV head, sequence) pairs, never more than the longest context has tiles.
        /// </summary>
        public static int ChooseSplits(DecodeAttentionTiles t, int kvHeads, int sequences, int longestContext, int multiprocessors)
        {
            if (t.Splits > 0) return t.Splits;
            int pairs = kvHeads * sequences, tiles = (longestContext + t.BlockN - 1) / t.BlockN;
            return Math.Max(1, Math.Min(tiles, (2 * multiprocessors + pairs - 1) / pairs));
        }
    }
}
