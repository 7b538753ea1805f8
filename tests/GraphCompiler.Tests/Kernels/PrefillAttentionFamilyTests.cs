using System;
using System.Linq;
using GraphCompiler.Graph;
using GraphCompiler.Kernels.Attention;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests.Kernels
{
    /// <summary>The prefill-attention family: the step's query-tile jobs, its sync scratch, and what it refuses to emit.</summary>
    public class PrefillAttentionFamilyTests
    {
        [Fact]
        public void Tile_jobs_list_every_query_tile_longest_causal_work_first()
        {
            // Sequence 0: 300 new tokens, no prefix (tiles end at keys 128, 256, 300); sequence 1: 20 new after a prefix
            // of 200 (one tile ending at key 220); sequence 2: 128 new after 100 (one tile ending at 228).
            var jobs = PrefillAttentionFamily.TileJobs(new[] { 300, 20, 128 }, new[] { 300, 220, 228 }, 128);
            Assert.Equal(new[] { 0 << 16 | 2, 0 << 16 | 1, 2 << 16 | 0, 1 << 16 | 0, 0 << 16 | 0 }, jobs);
        }

        [Fact]
        public void A_sequence_with_no_new_tokens_has_no_tile_and_a_context_shorter_than_its_new_tokens_is_refused()
        {
            Assert.Equal(new[] { 1 << 16 }, PrefillAttentionFamily.TileJobs(new[] { 0, 5 }, new[] { 40, 5 }, 64));
            var e = Assert.Throws<ArgumentException>(() => PrefillAttentionFamily.TileJobs(new[] { 10 }, new[] { 9 }, 64));
            Assert.Contains("sequence 0: 10 new tokens in a context of 9", e.Message);
        }

        [Fact]
        public void The_sync_scratch_holds_the_write_ticket_and_two_counts_whatever_the_step()
        {
            // The write ticket, the write jobs done (which every attention job waits for) and the CTAs finished: the
            // attention jobs need no ticket or flag of their own, each CTA knowing its share.
            Assert.Equal(3, PrefillAttentionFamily.SyncInts);
            var plan = TestSpecs.Compile("llama2-70b").Memory;
            Assert.Equal(4L * 3, plan.Workspace.Single(s => s.Name == "prefill_attention_sync").Bytes);
        }

        [Theory]
        [InlineData(8, 64, 132, 1, 132)]     // S = 1024 at block_m 128: 512 jobs, one CTA an SM
        [InlineData(1, 2, 132, 1, 2)]        // fewer jobs than SMs: a CTA a job
        [InlineData(8, 64, 132, 2, 264)]     // two CTAs an SM
        [InlineData(0, 64, 132, 1, 1)]       // no tile: one CTA, which finds no job and zeroes the counts
        public void The_launch_has_a_cta_a_job_up_to_what_the_gpu_holds_at_once(int qBlocks, int heads, int sms, int perSm, int ctas) =>
            Assert.Equal(ctas, PrefillAttentionFamily.Ctas(qBlocks, heads, sms, perSm));

        [Theory]
        [InlineData(128, 64, 4, AttentionMma.MmaSync, 32)]               // sm_80's tiles: 128 threads, four jobs a query tile
        [InlineData(128, 128, 12, AttentionMma.WgmmaWarpSpecialized, 64)]  // 384 threads: 96 would not divide block_m
        [InlineData(192, 64, 12, AttentionMma.Wgmma, 64)]
        [InlineData(64, 64, 4, AttentionMma.MmaSync, 32)]
        [InlineData(16, 64, 1, AttentionMma.MmaSync, 8)]
        public void A_write_job_takes_a_quarter_of_the_threads_in_rows_dividing_the_query_tile(int blockM, int blockN, int warps, AttentionMma mma, int rows)
        {
            var tiles = new PrefillAttentionTiles(blockM, blockN, warps, 2, mma);
            Assert.Equal(rows, tiles.WriteRows);
            Assert.Equal(0, blockM % tiles.WriteRows);
            var source = TestSpecs.EmitPrefill(TestSpecs.Compile("llama2-70b-gptq"), GpuArch.Sm90, tiles).Source;
            Assert.Contains($"constexpr int kWriteRows = {rows};", source);
            Assert.Contains($"constexpr int kWriteParts = {blockM / rows};", source);
            Assert.Contains("if (w >= q_blocks * kKvHeads * kWriteParts) break;", source);
        }

        [Theory]
        [InlineData(128, 64, 4, AttentionMma.MmaSync, 32, 1)]   // the 70B specs' sm_80 tiles: 32 KB of angles, the last stage's 32 KB
        [InlineData(256, 64, 8, AttentionMma.MmaSync, 16, 2)]   // 64 KB of angles for a 32 KB stage: two rounds of 16 rows a warp
        [InlineData(128, 128, 8, AttentionMma.MmaSync, 16, 1)]
        [InlineData(128, 64, 8, AttentionMma.Wgmma, 16, 1)]     // wgmma below four stages runs the block-barrier loop too
        public void Over_a_2_byte_cache_the_block_barrier_loop_copies_q_in_with_its_angles_in_the_stage_its_first_tiles_leave_free(
            int blockM, int blockN, int warps, AttentionMma mma, int rows, int rounds)
        {
            var tiles = new PrefillAttentionTiles(blockM, blockN, warps, 2, mma);
            Assert.Equal(rows, tiles.QRoundRows);
            var source = TestSpecs.EmitPrefill(TestSpecs.Compile("llama2-70b-gptq"), GpuArch.Sm90, tiles).Source!;
            Assert.Contains($"constexpr int kQRoundRows = {rows};", source);
            Assert.DoesNotContain("load_q(", source);
            Assert.Contains("gc_u32* const angles_s = reinterpret_cast<gc_u32*>(stage_s + (kStages - 1) * 2 * kTileBytes) + warp * kQRoundRows * kHalf;", source);
            // The Q copies are their own group ahead of the first tiles', so waiting for them leaves the tiles in flight.
            int copies = source.IndexOf("copy_angles(J, warp_row0);", StringComparison.Ordinal);
            int commit = source.IndexOf("gc_cp_async_commit();\n        kv_pipeline_start(J.kv_tiles, load);", copies, StringComparison.Ordinal);
            int wait = source.IndexOf("gc_cp_async_wait<kStages - 1>();", commit, StringComparison.Ordinal);
            int rotate = source.IndexOf("rotate_q(warp_row0);", wait, StringComparison.Ordinal);
            Assert.True(copies > 0 && commit > copies && wait > commit && rotate > wait, "copies, their commit, the first tiles, the wait for the copies, the rotation");
            Assert.Equal(rounds > 1, source.Contains("for (int part = 1; part < kWarpRows / kQRoundRows; ++part) {"));
        }

        [Fact]
        public void Over_an_fp8_cache_the_block_barrier_loop_loads_q_through_registers()
        {
            // NVRTC 13 allocated the FP8 mma.sync kernel 1–4% faster with load_q than with the copies (H200).
            var source = TestSpecs.EmitPrefill(TestSpecs.Compile("llama2-70b"), GpuArch.Sm80).Source!;
            Assert.Contains("load_q(J, warp_row0);", source);
            Assert.DoesNotContain("copy_q(", source);
            Assert.DoesNotContain("kQRoundRows", source);
        }

        [Fact]
        public void Query_heads_rotate_with_the_angles_the_kv_head_0_write_jobs_left_in_the_rope_scratch()
        {
            // sincosf per (token, rotation pair) once, not once per query head: the write jobs of KV head 0 store each new
            // token's (cos, sin) pairs, and a query tile reads them once every write job is done.
            var plan = TestSpecs.Compile("llama2-70b").Memory;
            Assert.Equal(2048L * 64 * 4, plan.Workspace.Single(s => s.Name == "prefill_attention_rope").Bytes);
            var prefill = TestSpecs.Compile("llama2-70b").KernelsFor(GpuArch.Sm90).Single(k => k.Name.StartsWith("prefill_attention"));
            Assert.Contains(prefill.Parameters, p => p.Name == "rope");
            string source = prefill.Source!;
            int writes = source.IndexOf("void write_new_rows(", StringComparison.Ordinal), kernel = source.IndexOf("extern \"C\"", StringComparison.Ordinal);
            string writer = source.Substring(writes, kernel - writes), body = source.Substring(kernel);
            Assert.Single(System.Text.RegularExpressions.Regex.Matches(writer + body, @"gc_rope_cos_sin\("));
            Assert.Contains("if (g == 0) {", writer);
            int write = body.IndexOf("write_new_rows(", StringComparison.Ordinal);
            int wait = body.IndexOf("volatile int*>(written) < q_blocks * kKvHeads * kWriteParts)", StringComparison.Ordinal);   // every job: the count write_new_rows takes
            Assert.True(write >= 0 && wait > write, "the kernel runs the write jobs, then waits for every one of them");
            int read = body.IndexOf("reinterpret_cast<const uint4*>(rope +", StringComparison.Ordinal);
            Assert.True(wait >= 0 && read > wait, $"the wait for every write job (at {wait}) comes before the angles are read (at {read})");
        }

        [Fact]
        public void The_paged_loader_reads_a_tiles_block_ids_once_a_lane_and_shuffles_them_to_its_rows()
        {
            foreach (var arch in new[] { GpuArch.Sm80, GpuArch.Sm90 })
            {
                var source = TestSpecs.Compile("llama2-70b").KernelsFor(arch).Single(k => k.Name.StartsWith("prefill_attention")).Source!;
                Assert.Contains("const int id = kTileSpan <= 32 && lane < kTileSpan && (block0 + (int)lane) * kBlockSize < end ? blocks[block0 + lane] : 0;", source);
                Assert.Contains("load_kv_ids<kCount>(kv_pool, blocks, id, 0, g, first, end, k_dst, v_dst, thread);", source);
                Assert.Contains("if constexpr (kShuffled) block = __shfl_sync(0xffffffffu, ids, id_lane + in_tile / kBlockSize);", source);
                Assert.DoesNotContain("blocks[position / kBlockSize]", source.Substring(0, source.IndexOf("extern \"C\"", StringComparison.Ordinal)));
            }
        }

        [Fact]
        public void An_fp8_output_variant_is_pending_with_its_reason()
        {
            var k = new PrefillAttentionKernel("p", 8, 2, 128, GraphCompiler.Common.DType.F16, GraphCompiler.Common.DType.F16, 16, 10000, WriteFp8: true);
            var source = PrefillAttentionFamily.Plan(k, TestSpecs.Compile("small-llama").Spec.Tiles.For(GpuArch.Sm90));
            Assert.False(source.IsEmitted);
            Assert.Contains("amax over every head", source.PendingReason);
        }

        [Fact]
        public void Head_dims_the_swizzle_cannot_serve_are_pending_not_miscompiled()
        {
            var k = new PrefillAttentionKernel("p", 8, 2, 96, GraphCompiler.Common.DType.F16, GraphCompiler.Common.DType.F16, 16, 10000, WriteFp8: false);
            Assert.Contains("multiple of 64", PrefillAttentionEmitter.Unsupported(k));
        }
    }
}
