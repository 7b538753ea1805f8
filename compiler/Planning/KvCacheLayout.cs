using System;
using GraphCompiler.Common;
using GraphCompiler.Spec;

namespace GraphCompiler.Planning
{
    /// <summary>
    /// The paged KV cache on the device: fixed-size blocks of kv_cache.block_size tokens, one pool per layer indexed by the
    /// same block ids, so one block table per sequence serves every layer. In a layer's pool a block is
    /// [K or V][kv head][token][head_dim] in kv_cache.dtype: a KV head's tokens of one block are one contiguous run of
    /// block_size · head_dim elements. FP8 caches keep their scales apart (per layer, or per layer and KV head).
    /// </summary>
    public sealed record KvCacheLayout(int Layers, int KvHeads, int HeadDim, int BlockSize, DType DType)
    {
        public static KvCacheLayout For(ModelSpec spec) => new KvCacheLayout(
            spec.Model.NumHiddenLayers, spec.Model.NumKeyValueHeads, spec.Model.HeadDim, spec.KvCache.BlockSize, spec.KvCache.DType);

        public int ElementBytes => DType.SizeInBytes();

        /// <summary>Bytes of one KV head's tokens of one block: block_size · head_dim elements.</summary>
        public long HeadRunBytes => (long)BlockSize * HeadDim * ElementBytes;

        /// <summary>Bytes of one block in one layer's pool: K and V of every KV head.</summary>
        public long LayerBlockBytes => 2L * KvHeads * HeadRunBytes;

        /// <summary>Bytes of one block across all layers: what a block id costs.</summary>
        public long BlockBytes => Layers * LayerBlockBytes;

        /// <summary>Blocks that fit in <paramref name="bytes"/> (all layers' pools together).</summary>
        public long BlocksIn(long bytes) => bytes / BlockBytes;

        /// <summary>Blocks a sequence of <paramref name="tokens"/> tokens occupies.</summary>
        public int BlocksFor(int tokens) => (int)BlocksFor((long)tokens);

        /// <summary>Blocks <paramref name="tokens"/> tokens occupy: a pool's worth, past int's range.</summary>
        public long BlocksFor(long tokens) => (tokens + BlockSize - 1) / BlockSize;

        /// <summary>Byte offset in a layer's pool of element <paramref name="dim"/> of token <paramref name="slot"/> (its place in the block).</summary>
        public long Offset(long block, bool value, int kvHead, int slot, int dim)
        {
            if (kvHead < 0 || kvHead >= KvHeads || slot < 0 || slot >= BlockSize || dim < 0 || dim >= HeadDim)
                throw new ArgumentOutOfRangeException(nameof(slot), $"KV head {kvHead}, slot {slot}, dim {dim} outside the block");
            return block * LayerBlockBytes + ((value ? 1L : 0L) * KvHeads + kvHead) * HeadRunBytes + ((long)slot * HeadDim + dim) * ElementBytes;
        }
    }
}
