using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Planning;
using GraphCompiler.Runtime.Kv;

namespace GraphCompiler.Tests.Kv
{
    /// <summary>The paged KV cache's block tables: whole blocks on demand, no holes after frees, shared blocks copied before a write, all-or-nothing requests.</summary>
    public class KvBlockManagerTests
    {
        private static readonly KvCacheLayout Layout = new KvCacheLayout(Layers: 2, KvHeads: 2, HeadDim: 8, BlockSize: 16, DType.F16);

        [Fact]
        public void Tokens_take_whole_blocks_as_they_come()
        {
            var kv = new KvBlockManager(Layout, 8);
            kv.Add(1);
            Assert.Empty(kv.Append(1, 17));               // 2 blocks
            Assert.Equal(new[] { 0, 1 }, kv.BlockTable(1));
            kv.Append(1, 15);                             // still 2 (32 tokens)
            Assert.Equal(2, kv.BlockTable(1).Count);
            kv.Append(1, 1);                              // 33 → 3
            Assert.Equal(3, kv.BlockTable(1).Count);
            Assert.Equal((kv.BlockTable(1)[2], 0), kv.SlotOf(1, 32));
            Assert.Equal((kv.BlockTable(1)[0], 15), kv.SlotOf(1, 15));
            Assert.Equal(5, kv.FreeBlocks);
        }

        [Fact]
        public void Freed_blocks_serve_any_sequence_so_the_pool_never_fragments()
        {
            var kv = new KvBlockManager(Layout, 6);
            var random = new Random(1);
            var live = new List<int>();
            for (int step = 0; step < 500; step++)
            {
                if (live.Count > 0 && (random.Next(3) == 0 || kv.FreeBlocks == 0))
                {
                    int victim = live[random.Next(live.Count)];
                    kv.Free(victim);
                    live.Remove(victim);
                    continue;
                }
                int id = step + 1000, tokens = 1 + random.Next(40);
                kv.Add(id);
                live.Add(id);
                if (kv.CanAppend(id, tokens)) kv.Append(id, tokens);
                else Assert.Throws<KvCacheExhaustedException>(() => kv.Append(id, tokens));
                int used = live.Sum(s => kv.BlockTable(s).Count);
                Assert.Equal(6, used + kv.FreeBlocks);   // every block is either free or in exactly one table
            }
            foreach (int s in live) kv.Free(s);
            Assert.Equal(6, kv.FreeBlocks);
        }

        [Fact]
        public void An_exhausted_pool_refuses_the_whole_request_says_why_and_changes_nothing()
        {
            var kv = new KvBlockManager(Layout, 3);
            kv.Add(1);
            kv.Append(1, 40);                              // 3 blocks
            var before = kv.BlockTable(1).ToArray();
            var e = Assert.Throws<KvCacheExhaustedException>(() => kv.Append(1, 9));
            Assert.Equal(1, e.Needed);
            Assert.Equal(0, e.Free);
            Assert.Contains("gpu_memory_utilization", e.Message);
            Assert.Contains($"{Layout.BlockBytes:N0} bytes", e.Message);
            Assert.Equal(before, kv.BlockTable(1));
            Assert.Equal(40, kv.Tokens(1));
        }

        [Fact]
        public void A_fork_shares_blocks_and_the_first_writer_to_a_shared_partial_block_gets_a_copy()
        {
            var kv = new KvBlockManager(Layout, 8);
            kv.Add(1);
            kv.Append(1, 20);                              // blocks 0 (full), 1 (4 of 16)
            kv.Fork(1, 2);
            Assert.Equal(kv.BlockTable(1), kv.BlockTable(2));
            Assert.Equal(2, kv.References(1));

            var copies = kv.Append(2, 1);                  // the child writes into the shared partial block
            var copy = Assert.Single(copies);
            Assert.Equal(1, copy.Source);
            Assert.Equal(kv.BlockTable(2)[1], copy.Destination);
            Assert.Equal(0, kv.BlockTable(2)[0]);          // the full block stays shared
            Assert.Equal(new[] { 0, 1 }, kv.BlockTable(1));
            Assert.Equal((2, 1, 1), (kv.References(0), kv.References(1), kv.References(copy.Destination)));
            Assert.Empty(kv.Append(1, 1));                 // the parent now owns its partial block alone: no copy

            kv.Free(1);
            kv.Free(2);
            Assert.Equal(8, kv.FreeBlocks);
        }

        [Fact]
        public void A_common_prompt_prefix_shares_only_whole_blocks()
        {
            var kv = new KvBlockManager(Layout, 8);
            kv.Add(1);
            kv.Append(1, 40);                              // blocks 0, 1 full; 2 holds 8
            kv.AddWithPrefix(2, 1, 37);                    // 2 whole blocks of the 37-token prefix
            Assert.Equal(32, kv.Tokens(2));
            Assert.Equal(new[] { 0, 1 }, kv.BlockTable(2));
            Assert.Empty(kv.Append(2, 5));                 // its own new block, nothing shared is written
            Assert.Equal(3, kv.BlockTable(2).Count);
            Assert.NotEqual(kv.BlockTable(1)[2], kv.BlockTable(2)[2]);
            Assert.Equal(2, kv.References(0));
        }

        [Fact]
        public void Block_tables_are_written_row_per_sequence_zero_padded()
        {
            var kv = new KvBlockManager(Layout, 8);
            kv.Add(7);
            kv.Append(7, 33);
            kv.Add(9);
            kv.Append(9, 1);
            var tables = new int[2 * 4];
            Array.Fill(tables, -1);
            kv.WriteBlockTables(new[] { 9, 7 }, tables, 4);
            Assert.Equal(new[] { 3, 0, 0, 0, 0, 1, 2, 0 }, tables);
            Assert.Throws<ArgumentException>(() => kv.WriteBlockTables(new[] { 7 }, new int[2], 2));
        }

        [Fact]
        public void Each_element_of_a_layers_pool_has_one_place_and_a_kv_heads_block_run_is_contiguous()
        {
            var seen = new HashSet<long>();
            foreach (bool value in new[] { false, true })
                for (int h = 0; h < Layout.KvHeads; h++)
                    for (int slot = 0; slot < Layout.BlockSize; slot++)
                        for (int d = 0; d < Layout.HeadDim; d++)
                            Assert.True(seen.Add(Layout.Offset(3, value, h, slot, d)));
            Assert.Equal(Layout.LayerBlockBytes / 2, seen.Count);   // fp16: two bytes per element
            Assert.Equal(3 * Layout.LayerBlockBytes, seen.Min());
            Assert.Equal(Layout.Offset(0, true, 1, 0, 0) + Layout.HeadRunBytes - 2, Layout.Offset(0, true, 1, 15, 7));
        }

        [Fact]
        public void A_block_holds_block_size_tokens_of_the_memory_plans_kv_bytes_per_token()
        {
            var model = TestSpecs.Compile("llama2-70b");
            var layout = KvCacheLayout.For(model.Spec);
            // FP8 cache: 16 tokens × 80 layers × K and V × 8 KV heads × 128 dims × 1 byte.
            Assert.Equal(16L * 80 * 2 * 8 * 128, layout.BlockBytes);
            Assert.Equal(model.Memory.KvBytesPerToken * 16, layout.BlockBytes);
        }

        [Fact]
        public void Truncating_frees_the_blocks_past_the_kept_tokens_and_a_shared_block_is_copied_before_the_next_write()
        {
            var kv = new KvBlockManager(Layout, 8);
            kv.Add(1);
            kv.Append(1, 40);                             // 3 blocks
            kv.Fork(1, 2);                                // every block shared
            kv.Truncate(2, 20);                           // 2 blocks kept; the third is still sequence 1's
            Assert.Equal(20, kv.Tokens(2));
            Assert.Equal(kv.BlockTable(1).Take(2), kv.BlockTable(2));
            Assert.Equal(1, kv.References(kv.BlockTable(1)[2]));
            var copies = kv.Append(2, 1);                 // into the shared, now partly filled second block: copy first
            Assert.Equal(new[] { new BlockCopy(kv.BlockTable(1)[1], kv.BlockTable(2)[1]) }, copies);
            kv.Truncate(1, 0);
            Assert.Empty(kv.BlockTable(1));
            Assert.Equal(8 - 2, kv.FreeBlocks);           // sequence 2's first block and its copy stay; sequence 1's others came back
            Assert.Throws<ArgumentOutOfRangeException>(() => kv.Truncate(2, 22));
        }
    }
}
