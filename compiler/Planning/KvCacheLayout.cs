using System;
using GraphCompiler.Common;
using GraphCompiler.Spec;

namespace GraphCompiler.Planning
{
    /// <summary>
    /// The paged KV cache on the device: one pool of fixed-size blocks (kv_cache.block_size tokens each), a block holding
    /// those tokens' K and V for every layer, so one block table per sequence serves all layers. Within a block:
    /// [layer][K or V][kv head][token][head_dim] in kv_cache.dtype, so a KV head's tokens of one block are one contiguous
    /// run of block_size · head_dim elements (16-byte loads along head_dim). FP8 caches keep their scales apart (per layer,
    /// or per layer and KV head), not in the blocks.
    /// </summary>
    public sealed record KvCacheLayout(int Layers, int KvHeads, int HeadDim, int BlockSize, DType DType)
    {
        public static KvCacheLayout For(ModelSpec spec) => new KvCacheLayout(
            spec.Model.NumHiddenLayers, spec.Model.NumKeyValueHeads, spec.Model.HeadDim, spec.KvCache.BlockSize, spec.KvCache.DType);

        public int ElementBytes => DType.SizeInBytes();

        /// <summary>Bytes of one KV head's tokens of one block: block_size · head_dim elements.</summary>
        public long HeadRunBytes => (long)BlockSize * HeadDim * ElementBytes;

        /// <summary>Bytes of one block: every layer's K and V for block_size tokens.</summary>
        public long BlockBytes => (long)Layers * 2 * KvHeads * HeadRunBytes;

        /// <summary>Blocks that fit in <paramref name="bytes"/> of pool.</summary>
        public long BlocksIn(long bytes) => bytes / BlockBytes;

        /// <summary>Blocks a sequence of <paramref name="tokens"/> tokens occupies.</summary>
        public int BlocksFor(int tokens) => (tokens + BlockSize - 1) / BlockSize;

        /// <summary>Byte offset in the pool of element <paramref name="dim"/> of token <paramref name="slot"/> (its place in the block).</summary>
        public long Offset(long block, int layer, bool value, int kvHead, int slot, int dim)
        {
            if (layer < 0 || layer >= Layers || kvHead < 0 || kvHead >= KvHeads || slot < 0 || slot >= BlockSize || dim < 0 || dim >= HeadDim)
                throw new ArgumentOutOfRangeException(nameof(slot), $"layer {layer}, KV head {kvHead}, slot {slot}, dim {dim} outside the block");
            return block * BlockBytes + (((long)layer * 2 + (value ? 1 : 0)) * KvHeads + kvHead) * HeadRunBytes + ((long)slot * HeadDim + dim) * ElementBytes;
        }
    }
}
