using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Graph;
using GraphCompiler.Kernels.Attention;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests.Kernels
{
    /// <summary>The decode-attention family's split choice: one wave of the resident CTA slots, never splits too short to pay.</summary>
    public class DecodeAttentionFamilyTests
    {
        // Llama-2-70B's heads with an FP8 cache, sm_90 tiles 64 × 4 warps × 2 stages: about 94 registers a thread and 35 KB
        // of shared memory a CTA, so an SM holds 5 CTAs (registers bind) and an H200's 132 SMs 660.
        private static readonly DecodeAttentionKernel Kernel = new("decode", 64, 8, 128, DType.F16, DType.F8E4M3, 16, 10000, true, false);
        private static readonly DecodeAttentionTiles Tiles = new(64, 4, 2, 0);

        [Fact]
        public void An_sm_holds_as_many_ctas_as_its_registers_allow()
        {
            Assert.Equal(5, DecodeAttentionFamily.ResidentCtasPerSm(Kernel, Tiles, GpuArch.Sm90));
            // Four stages of fp16 K/V tiles take 131 KB a CTA: shared memory binds at one.
            var fp16 = Kernel with { KvDType = DType.F16 };
            Assert.Equal(1, DecodeAttentionFamily.ResidentCtasPerSm(fp16, Tiles with { Stages = 4 }, GpuArch.Sm90));
        }

        [Theory]
        [InlineData(1, 4096, 16)]   // 8 (KV head, sequence) pairs: 82 splits would fill the slots, but 4096 / 64 / 4 caps at 16
        [InlineData(16, 2048, 5)]   // 128 pairs: 5 splits fill 640 of the 660 slots
        [InlineData(64, 1024, 1)]   // 512 pairs already fill most of one wave
        [InlineData(1, 100, 1)]     // two tiles of context: too short to split
        public void Splits_fill_one_wave_of_resident_ctas_with_at_least_four_tiles_each(int sequences, int context, int expected) =>
            Assert.Equal(expected, DecodeAttentionFamily.ChooseSplits(Kernel, Tiles, GpuArch.Sm90, sequences, context, 132));

        [Fact]
        public void On_sm_90_the_splits_are_at_most_a_cluster()
        {
            // One sequence of 32768: 82 splits would fill an H200's slots (128 of 4 tiles fit the context), but the splits
            // merge in one cluster of at most 16. sm_89 merges through global memory: its 264 slots give 33.
            Assert.Equal(16, DecodeAttentionFamily.ChooseSplits(Kernel, Tiles, GpuArch.Sm90, 1, 32768, 132));
            Assert.Equal(33, DecodeAttentionFamily.ChooseSplits(Kernel, Tiles, GpuArch.Sm89, 1, 32768, 132));
        }

        [Fact]
        public void Splits_come_down_until_every_pairs_cluster_is_resident_at_once()
        {
            // Two sequences of 4096: 16 (KV head, sequence) pairs of 16 splits, but the GPU holds only 15 clusters of 16
            // (their CTAs share a GPC): 15 splits, whose 16 clusters fit. Without clusters (sm_89) the count is not asked.
            Assert.Equal(16, DecodeAttentionFamily.ChooseSplits(Kernel, Tiles, GpuArch.Sm90, 2, 4096, 132));
            Assert.Equal(15, DecodeAttentionFamily.ChooseSplits(Kernel, Tiles, GpuArch.Sm90, 2, 4096, 132, 1, (n, _) => n == 16 ? 15 : 16));
            Assert.Equal(16, DecodeAttentionFamily.ChooseSplits(Kernel, Tiles, GpuArch.Sm89, 2, 4096, 132, 1, (_, _) => throw new System.InvalidOperationException("asked")));
        }

        [Fact]
        public void A_verification_step_takes_the_slots_and_clusters_of_its_own_shared_memory()
        {
            // Eight step tokens add 10 KB a CTA (their K/V rows, scores and angles): 53 KB, so shared memory binds at 4 CTAs an
            // SM instead of the registers' 5. Two sequences of eight tokens are 16 query chunks, 128 (KV head, chunk) pairs:
            // 4 splits fill the 528 slots, where a one-token step of 16 sequences takes 5.
            Assert.Equal(4, DecodeAttentionFamily.ResidentCtasPerSm(Kernel, Tiles, GpuArch.Sm90, stepTokens: 8));
            Assert.Equal(5, DecodeAttentionFamily.ChooseSplits(Kernel, Tiles, GpuArch.Sm90, 16, 4096, 132));
            Assert.Equal(4, DecodeAttentionFamily.ChooseSplits(Kernel, Tiles, GpuArch.Sm90, 16, 4096, 132, stepTokens: 8));
            // The clusters that fit are asked at the step's tokens too.
            Assert.Equal(3, DecodeAttentionFamily.ChooseSplits(Kernel, Tiles, GpuArch.Sm90, 16, 4096, 132, 8, (n, tokens) => tokens == 8 && n == 4 ? 127 : 132));
        }

        [Fact]
        public void A_spec_that_fixes_the_splits_gets_them() =>
            Assert.Equal(5, DecodeAttentionFamily.ChooseSplits(Kernel, Tiles with { Splits = 5 }, GpuArch.Sm90, 64, 1024, 132));

        [Theory]
        [InlineData(1, true)]     // 8 (KV head, sequence) pairs
        [InlineData(16, true)]    // 128 pairs: 8-warp CTAs of ~94 registers, 2 an SM, 264 slots
        [InlineData(33, true)]    // 264 pairs: every slot, one wave
        [InlineData(34, false)]   // 272: a second wave of wide CTAs, where the narrow ones take every pair at once
        [InlineData(64, false)]
        public void A_step_launches_the_wide_twin_where_its_ctas_hold_every_pair_at_once(int sequences, bool wide)
        {
            var tiles = TestSpecs.Compile("llama2-70b").Spec.Tiles.For(GpuArch.Sm90) with { DecodeAttention = Tiles, DecodeAttentionWide = new DecodeAttentionTiles(128, 8, 2, 0) };
            Assert.Equal(2, DecodeAttentionFamily.ResidentCtasPerSm(Kernel, tiles.DecodeAttentionWide!, GpuArch.Sm90));
            var launched = DecodeAttentionFamily.ForStep(Kernel, tiles, sequences, 132);
            Assert.Equal(wide, launched.Wide);
            Assert.Equal(wide ? "decode_wide" : "decode", launched.Name);
            // Without wide tiles every step takes the spec's.
            Assert.Same(Kernel, DecodeAttentionFamily.ForStep(Kernel, tiles with { DecodeAttentionWide = null }, sequences, 132));
        }

        [Theory]
        [InlineData(1, 4096, 8)]    // 8 pairs: 16 splits would fill the SMs, but 4096 / 128 / 4 caps at 8
        [InlineData(8, 2048, 2)]    // 64 pairs: two CTAs a pair fill 128 SMs
        [InlineData(16, 2048, 1)]   // 128 pairs: a CTA each, though an SM holds two of them
        public void The_wide_twin_splits_fill_the_sms_once_a_cta_each(int sequences, int context, int expected)
        {
            var wide = Kernel.WideTwin();
            var tiles = new DecodeAttentionTiles(128, 8, 3, 0);
            Assert.Equal(2, DecodeAttentionFamily.ResidentCtasPerSm(wide, tiles, GpuArch.Sm90));
            Assert.Equal(expected, DecodeAttentionFamily.ChooseSplits(wide, tiles, GpuArch.Sm90, sequences, context, 132));
        }

        [Fact]
        public void The_wide_twin_is_planned_where_a_spec_names_its_tiles_and_emitted_only_for_those_archs()
        {
            // llama2-70b names decode_attention_wide for sm_90 only: sm_89 runs decode_attention alone; llama2-7b names none.
            var model = TestSpecs.Compile("llama2-70b");
            var twin = Assert.Single(model.Plan.Kernels.OfType<DecodeAttentionKernel>(), k => k.Wide);
            Assert.EndsWith("_wide", twin.Name);
            var sm90 = model.KernelsFor(GpuArch.Sm90).Single(k => k.Name == twin.Name);
            Assert.Contains("constexpr int kWarps = 8;  // tiles.sm_90.decode_attention_wide.warps", sm90.Source);
            Assert.DoesNotContain(model.KernelsFor(GpuArch.Sm89), k => k.Name == twin.Name);
            Assert.DoesNotContain(TestSpecs.Compile("llama2-7b").Plan.Kernels.OfType<DecodeAttentionKernel>(), k => k.Wide);
        }

        /// <summary>A CTA's columns are whole GQA groups of step tokens, as many as its 8-column tiles hold.</summary>
        [Theory]
        [InlineData(1, 8, 1)]     // MHA: eight tokens in one tile
        [InlineData(2, 4, 2)]     // the small model
        [InlineData(3, 2, 4)]     // 6 of 8 columns used
        [InlineData(8, 1, 8)]     // Llama-2-70B: a token a CTA
        [InlineData(12, 1, 8)]    // two tiles, one group
        public void A_cta_takes_as_many_step_tokens_as_its_column_tiles_hold(int group, int tokensPerCta, int chunksForEight)
        {
            var q = new DecodeQueries(group);
            Assert.Equal(tokensPerCta, q.TokensPerCta);
            Assert.Equal(chunksForEight, q.ChunksFor(DecodeQueries.MaxStepTokens));
            Assert.Equal(1, q.ChunksFor(1));
            Assert.True(q.Columns <= 8 * q.ColumnTiles);
        }

        /// <summary>A step of one token a sequence launches with the shared memory it needs; each step token more adds its part.</summary>
        [Fact]
        public void Shared_memory_grows_with_the_launch_step_tokens()
        {
            var launch = DecodeAttentionFamily.Plan(Kernel, TestSpecs.Compile("llama2-70b").Spec.Tiles.For(GpuArch.Sm90) with { DecodeAttention = Tiles }).Launch;
            int perToken = DecodeAttentionTiles.StepTokenBytes(128, Kernel.Queries);
            Assert.Equal(launch.SharedMemoryBytes, launch.SharedMemoryFor(1));
            Assert.Equal(launch.SharedMemoryBytes + 3 * perToken, launch.SharedMemoryFor(4));
            Assert.Equal(launch.SharedMemoryBytes + 7 * perToken, launch.MaxSharedMemoryBytes);
        }
    }
}
