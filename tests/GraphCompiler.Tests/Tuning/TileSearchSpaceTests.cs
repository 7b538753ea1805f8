using System;
using System.Linq;
using GraphCompiler.Spec;
using GraphCompiler.Tuning;

namespace GraphCompiler.Tests.Tuning
{
    /// <summary>The autotuner's candidates: the spec's own tile rules prune those that cannot compile or launch, each with its reason.</summary>
    public class TileSearchSpaceTests
    {
        [Fact]
        public void Gemm_candidates_the_warps_cannot_share_or_shared_memory_cannot_hold_are_pruned_with_the_rule()
        {
            var spec = TestSpecs.Compile("llama2-70b").Spec;
            var (valid, pruned) = TileSearchSpace.Prune(spec, GpuArch.Sm89, TileFamily.GemmInt4Prefill);
            Assert.NotEmpty(valid);
            Assert.Contains(pruned, p => p.Reason.Contains("bytes of shared memory per block; sm_89"));   // e.g. 64×64×128 × 6 stages on 99 KiB
            Assert.All(valid, t => Assert.NotNull(GraphCompiler.Kernels.Gemm.GemmPartition.TryOf(t.GemmInt4Prefill, out _)));
            // A 16×64×32 decode tile leaves 8 warps to split 2 slices of each K step.
            var (_, decode) = TileSearchSpace.Prune(spec, GpuArch.Sm89, TileFamily.GemmInt4Decode);
            Assert.Contains(decode, p => p.Tiles.StartsWith("{ block_m: 16, block_n: 64, block_k: 32, warps: 8") && p.Reason.Contains("cannot share evenly"));
            // INT4 with group 128: block_k and the group size must divide one another; all do here, none is pruned for it.
            Assert.DoesNotContain(pruned, p => p.Reason.Contains("group_size"));
            Assert.Equal(TileSearchSpace.Candidates(spec, GpuArch.Sm89, TileFamily.GemmInt4Prefill).Count(), valid.Count + pruned.Count);
        }

        [Fact]
        public void The_spec_tiles_are_among_the_valid_candidates_so_tuning_never_does_worse_than_the_default()
        {
            var spec = TestSpecs.Compile("llama2-70b").Spec;
            foreach (var family in new[] { TileFamily.GemmInt4Decode, TileFamily.GemmFp8Decode, TileFamily.DecodeAttention, TileFamily.DecodeAttentionWide, TileFamily.PrefillAttention })
            {
                var (valid, _) = TileSearchSpace.Prune(spec, GpuArch.Sm90, family);
                string current = TileSearchSpace.Describe(spec.Tiles.For(GpuArch.Sm90), family);
                Assert.Contains(valid, t => TileSearchSpace.Describe(t, family) == current);
            }
        }

        [Fact]
        public void Decode_attention_candidates_whose_warps_do_not_get_whole_mma_steps_are_pruned()
        {
            var spec = TestSpecs.Compile("small-llama").Spec;
            var (valid, pruned) = TileSearchSpace.Prune(spec, GpuArch.Sm90, TileFamily.DecodeAttention);
            // Every stage count of block_n 32 over 4 warps is pruned for the same reason.
            var p = pruned.Where(x => x.Tiles.StartsWith("{ block_n: 32, warps: 4")).ToList();
            Assert.Equal(TileSearchSpace.AttentionStages.Count, p.Count);
            Assert.All(p, x => Assert.Contains("multiple of 16 × warps = 64", x.Reason));
            Assert.Contains(valid, t => t.DecodeAttention.BlockN == 64 && t.DecodeAttention.Warps == 4 && t.DecodeAttention.Stages == 3);
        }

        [Fact]
        public void Wide_decode_candidates_vary_the_twin_and_keep_the_spec_decode_tiles()
        {
            var spec = TestSpecs.Compile("llama2-70b").Spec;
            var (valid, _) = TileSearchSpace.Prune(spec, GpuArch.Sm90, TileFamily.DecodeAttentionWide);
            Assert.All(valid, t => Assert.Equal(spec.Tiles.For(GpuArch.Sm90).DecodeAttention, t.DecodeAttention));
            Assert.Contains(valid, t => TileSearchSpace.Describe(t, TileFamily.DecodeAttentionWide) == "{ block_n: 256, warps: 8, stages: 2, splits: 0 }");
        }

        [Fact]
        public void Prefill_attention_candidates_with_too_many_rows_per_warp_or_too_much_shared_memory_are_pruned()
        {
            var spec = TestSpecs.Compile("llama2-70b").Spec;   // head_dim 128, FP8 cache
            var (valid, pruned) = TileSearchSpace.Prune(spec, GpuArch.Sm89, TileFamily.PrefillAttention);
            // 256 query rows on 4 warps: 64 rows each, 64·128/32 + 64·128/32 + 32 = 544 registers.
            Assert.Contains(pruned, p => p.Tiles == "{ block_m: 256, block_n: 128, warps: 4, stages: 2 }" && p.Reason.Contains("registers per thread"));
            // 256 × 128 with 8 warps and 3 stages: 64 KiB of Q, 96 KiB of FP8 stages and 64 KiB widened, over sm_89's 99 KiB.
            Assert.Contains(pruned, p => p.Tiles == "{ block_m: 256, block_n: 128, warps: 8, stages: 3 }" && p.Reason.Contains("shared memory"));
            // 64 query rows cannot be split by 8 warps into whole 16-row MMA tiles.
            Assert.Contains(pruned, p => p.Tiles.StartsWith("{ block_m: 64, block_n: 64, warps: 8") && p.Reason.Contains("multiple of 16 × warps"));
            Assert.Contains(valid, t => t.PrefillAttention == new PrefillAttentionTiles(128, 64, 4, 2));
        }

        [Fact]
        public void Wgmma_prefill_candidates_exist_on_sm_90_only_with_a_warp_for_each_16_query_rows()
        {
            var spec = TestSpecs.Compile("llama2-70b").Spec;
            var (hopper, _) = TileSearchSpace.Prune(spec, GpuArch.Sm90, TileFamily.PrefillAttention);
            var wgmma = hopper.Select(t => t.PrefillAttention).Where(p => p.Mma == AttentionMma.Wgmma).ToList();
            Assert.Contains(new PrefillAttentionTiles(192, 64, 12, 2, AttentionMma.Wgmma), wgmma);
            Assert.Contains(new PrefillAttentionTiles(128, 64, 8, 3, AttentionMma.Wgmma), wgmma);
            Assert.All(wgmma, p => Assert.Equal(p.BlockM / 16, p.Warps));
            // Three warpgroups on a ring of four stages fit the SM's registers; with 128-key tiles they do not.
            Assert.Contains(new PrefillAttentionTiles(192, 64, 12, 4, AttentionMma.Wgmma), wgmma);
            Assert.DoesNotContain(new PrefillAttentionTiles(192, 128, 12, 3, AttentionMma.Wgmma), wgmma);
            // Warp-specialized: a loading warpgroup on top of a warp for each 16 query rows.
            var ws = hopper.Select(t => t.PrefillAttention).Where(p => p.WarpSpecialized).ToList();
            Assert.Contains(new PrefillAttentionTiles(128, 64, 12, 4, AttentionMma.WgmmaWarpSpecialized), ws);
            Assert.All(ws, p => Assert.Equal(p.BlockM / 16 + 4, p.Warps));
            var (ampere, _) = TileSearchSpace.Prune(spec, GpuArch.Sm80, TileFamily.PrefillAttention);
            Assert.All(ampere, t => Assert.Equal(AttentionMma.MmaSync, t.PrefillAttention.Mma));
        }

        [Fact]
        public void The_tuner_reaches_q_in_registers_along_its_own_axis_and_leaves_it_with_mma_sync()
        {
            var spec = TestSpecs.Compile("llama2-70b").Spec;
            var (valid, _) = TileSearchSpace.Prune(spec, GpuArch.Sm90, TileFamily.PrefillAttention);
            var axes = GraphCompiler.Runtime.Tuning.TileTuner.Axes(TileFamily.PrefillAttention);
            var start = spec.Tiles.For(GpuArch.Sm90);
            var qOperand = Assert.Single(axes, a => a.Name == "q_operand");
            var registers = qOperand.With(start, 1);
            Assert.True(registers.PrefillAttention.QInRegisters);
            Assert.Contains(registers, valid);
            // mma.sync has no such choice: moving there from Q in registers gives a candidate the rules accept.
            var mmaSync = Assert.Single(axes, a => a.Name == "mma").With(registers, (int)AttentionMma.MmaSync);
            Assert.False(mmaSync.PrefillAttention.QInRegisters);
        }

        [Fact]
        public void Decode_gemms_search_sixteen_rows_their_batch_twins_wider_tiles_and_each_twin_pairs_with_one_family()
        {
            var spec = TestSpecs.Compile("llama2-70b").Spec;
            var (fewRow, _) = TileSearchSpace.Prune(spec, GpuArch.Sm90, TileFamily.GemmInt4Decode);
            Assert.All(fewRow, t => Assert.Equal(16, t.GemmInt4Decode.BlockM));
            var (batch, _) = TileSearchSpace.Prune(spec, GpuArch.Sm90, TileFamily.GemmInt4DecodeBatch);
            Assert.Equal(new[] { 32, 64, 128 }, batch.Select(t => t.GemmInt4DecodeBatch.BlockM).Distinct().OrderBy(m => m));
            Assert.All(batch, t => Assert.Equal(0, t.GemmInt4DecodeBatch.SplitK));
            foreach (var family in new[] { TileFamily.GemmDenseDecode, TileFamily.GemmInt4Decode, TileFamily.GemmFp8Decode })
            {
                Assert.True(family.Batch().IsDecodeBatch());
                Assert.Equal(family, family.Batch().FewRow());
            }
            Assert.Throws<ArgumentOutOfRangeException>(() => TileFamily.GemmInt4Prefill.Batch());
        }

        [Fact]
        public void Each_tunable_family_belongs_to_the_step_tune_shapes_selects_it_by()
        {
            Assert.Equal("prefill", TileFamily.PrefillAttention.Phase());
            Assert.Equal("decode", TileFamily.DecodeAttention.Phase());
            Assert.Equal("decode", TileFamily.GemmInt4Decode.Phase());
            Assert.Equal("decode", TileFamily.GemmFp8DecodeBatch.Phase());
            Assert.Equal("prefill", TileFamily.GemmFp8Prefill.Phase());
            Assert.Null(TileFamily.Elementwise.Phase());
        }
    }
}
