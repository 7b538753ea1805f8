using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Planning;

namespace GraphCompiler.Runtime.Kv
{
    /// <summary>A device copy of one whole block (every layer's K and V), to run before the step that writes the destination.</summary>
    public readonly record struct BlockCopy(int Source, int Destination);

    /// <summary>
    /// The host side of the paged KV cache: which pool blocks each sequence owns, in order (its block table), and how
    /// many tokens it holds. Blocks are fixed-size, so any free block serves any sequence and freeing leaves no holes.
    /// Sequences may share blocks (a fork for parallel sampling or beam search, or a common prompt prefix for prefix
    /// caching): shared blocks are reference-counted and never written; appending into a shared, partly filled last
    /// block first copies it (copy-on-write), and the copy is returned for the runtime to do on the device. Every request
    /// either succeeds whole or throws <see cref="KvCacheExhaustedException"/> and changes nothing.
    /// </summary>
    public sealed class KvBlockManager
    {
        private readonly int[] _references;
        private readonly Stack<int> _free;
        private readonly Dictionary<int, Sequence> _sequences = new Dictionary<int, Sequence>();

        private sealed class Sequence
        {
            public List<int> Blocks { get; } = new List<int>();
            public int Tokens { get; set; }
        }

        public KvBlockManager(KvCacheLayout layout, int blocks)
        {
            if (blocks <= 0) throw new ArgumentOutOfRangeException(nameof(blocks), blocks, "the pool needs at least one block");
            Layout = layout;
            _references = new int[blocks];
            // Lowest block ids first: a fresh pool fills from the start.
            _free = new Stack<int>(Enumerable.Range(0, blocks).Reverse());
        }

        public KvCacheLayout Layout { get; }
        public int TotalBlocks => _references.Length;
        public int FreeBlocks => _free.Count;
        public IEnumerable<int> Sequences => _sequences.Keys;

        /// <summary>A new sequence with no tokens.</summary>
        public void Add(int sequence)
        {
            if (_sequences.ContainsKey(sequence)) throw new ArgumentException($"sequence {sequence} already has a block table", nameof(sequence));
            _sequences[sequence] = new Sequence();
        }

        /// <summary>A new sequence that starts with the first <paramref name="tokens"/> of <paramref name="source"/>, sharing its
        /// whole blocks (a common prompt prefix: only full blocks are shared, the rest is the new sequence's to write).</summary>
        public void AddWithPrefix(int sequence, int source, int tokens)
        {
            var src = Get(source);
            if (tokens < 0 || tokens > src.Tokens) throw new ArgumentOutOfRangeException(nameof(tokens), tokens, $"sequence {source} holds {src.Tokens} tokens");
            Add(sequence);
            var seq = _sequences[sequence];
            int whole = tokens / Layout.BlockSize;
            for (int i = 0; i < whole; i++)
            {
                seq.Blocks.Add(src.Blocks[i]);
                _references[src.Blocks[i]]++;
            }
            seq.Tokens = whole * Layout.BlockSize;
        }

        /// <summary>A child sharing all of the parent's blocks and tokens (its partly filled last block is copied when either writes to it).</summary>
        public void Fork(int parent, int child)
        {
            var src = Get(parent);
            Add(child);
            var seq = _sequences[child];
            seq.Blocks.AddRange(src.Blocks);
            foreach (int b in src.Blocks) _references[b]++;
            seq.Tokens = src.Tokens;
        }

        /// <summary>Blocks <see cref="Append"/> would take from the pool (new blocks, plus a copy of a shared last block).</summary>
        public int BlocksNeeded(int sequence, int tokens)
        {
            var seq = Get(sequence);
            if (tokens < 0) throw new ArgumentOutOfRangeException(nameof(tokens), tokens, "tokens to append cannot be negative");
            int added = Layout.BlocksFor(seq.Tokens + tokens) - seq.Blocks.Count;
            return added + (NeedsCopy(seq, tokens) ? 1 : 0);
        }

        public bool CanAppend(int sequence, int tokens) => BlocksNeeded(sequence, tokens) <= _free.Count;

        /// <summary>
        /// Room for <paramref name="tokens"/> more tokens at the end of the sequence; returns the block copies the device must
        /// make first (a shared, partly filled last block becomes this sequence's own copy).
        /// </summary>
        public IReadOnlyList<BlockCopy> Append(int sequence, int tokens)
        {
            var seq = Get(sequence);
            int needed = BlocksNeeded(sequence, tokens);
            if (needed > _free.Count) throw new KvCacheExhaustedException(needed, _free.Count, TotalBlocks, Layout.BlockBytes);
            var copies = new List<BlockCopy>();
            if (NeedsCopy(seq, tokens))
            {
                int last = seq.Blocks[seq.Blocks.Count - 1], own = Take();
                _references[last]--;
                seq.Blocks[seq.Blocks.Count - 1] = own;
                copies.Add(new BlockCopy(last, own));
            }
            seq.Tokens += tokens;
            while (seq.Blocks.Count < Layout.BlocksFor(seq.Tokens)) seq.Blocks.Add(Take());
            return copies;
        }

        /// <summary>
        /// Keeps the sequence's first <paramref name="tokens"/> (speculative decoding drops the draft tokens it rejected):
        /// blocks past them return to the pool once no other sequence shares them; the slots after them in the last kept
        /// block are rewritten by later steps (copied first where the block is shared).
        /// </summary>
        public void Truncate(int sequence, int tokens)
        {
            var seq = Get(sequence);
            if (tokens < 0 || tokens > seq.Tokens)
                throw new ArgumentOutOfRangeException(nameof(tokens), tokens, $"the sequence holds {seq.Tokens} tokens; it can keep 0 to {seq.Tokens}");
            int keep = Layout.BlocksFor(tokens);
            for (int i = seq.Blocks.Count - 1; i >= keep; i--)
            {
                Release(seq.Blocks[i]);
                seq.Blocks.RemoveAt(i);
            }
            seq.Tokens = tokens;
        }

        /// <summary>Drops the sequence; its blocks return to the pool once no other sequence shares them.</summary>
        public void Free(int sequence)
        {
            var seq = Get(sequence);
            foreach (int b in seq.Blocks) Release(b);
            _sequences.Remove(sequence);
        }

        public int Tokens(int sequence) => Get(sequence).Tokens;

        public IReadOnlyList<int> BlockTable(int sequence) => Get(sequence).Blocks;

        /// <summary>How many sequences hold a block.</summary>
        public int References(int block) => _references[block];

        /// <summary>The block and the slot in it of a sequence's token <paramref name="position"/>.</summary>
        public (int Block, int Slot) SlotOf(int sequence, int position)
        {
            var seq = Get(sequence);
            if (position < 0 || position >= seq.Tokens) throw new ArgumentOutOfRangeException(nameof(position), position, $"sequence {sequence} holds {seq.Tokens} tokens");
            return (seq.Blocks[position / Layout.BlockSize], position % Layout.BlockSize);
        }

        /// <summary>
        /// The block tables of a step's sequences as the kernels read them: row s of <paramref name="destination"/>
        /// ([sequences, <paramref name="stride"/>]) lists sequence s's blocks in order, the rest zero.
        /// </summary>
        public void WriteBlockTables(IReadOnlyList<int> sequences, Span<int> destination, int stride)
        {
            if (destination.Length < sequences.Count * stride) throw new ArgumentException($"{sequences.Count} tables of {stride} need {sequences.Count * stride} entries", nameof(destination));
            for (int s = 0; s < sequences.Count; s++)
            {
                var blocks = Get(sequences[s]).Blocks;
                if (blocks.Count > stride) throw new ArgumentException($"sequence {sequences[s]} has {blocks.Count} blocks, more than the table stride {stride}", nameof(stride));
                var row = destination.Slice(s * stride, stride);
                row.Clear();
                for (int i = 0; i < blocks.Count; i++) row[i] = blocks[i];
            }
        }

        private bool NeedsCopy(Sequence seq, int tokens) =>
            tokens > 0 && seq.Tokens % Layout.BlockSize != 0 && _references[seq.Blocks[seq.Blocks.Count - 1]] > 1;

        /// <summary>One sequence lets go of a block: back to the pool once no sequence holds it.</summary>
        private void Release(int block)
        {
            if (--_references[block] == 0) _free.Push(block);
        }

        private int Take()
        {
            int b = _free.Pop();
            _references[b] = 1;
            return b;
        }

        private Sequence Get(int sequence) =>
            _sequences.TryGetValue(sequence, out var s) ? s : throw new KeyNotFoundException($"sequence {sequence} has no block table");
    }
}
