using System;
using System.Linq;
using System.Text.RegularExpressions;
using GraphCompiler.Graph;
using GraphCompiler.Kernels.Gemm;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests.Kernels
{
    /// <summary>The GEMM family: how warps share a tile, how many CTAs a launch gets, what is emitted and what is not yet.</summary>
    public class GemmEmitterTests
    {
        [Fact]
        public void Decode_tiles_split_k_steps_between_warps_when_n_tiles_run_out()
        {
            // 16×256 with 8 warps: 4 warps own the four 64-column weight tiles, the other 4 take every second 16-deep slice.
            var p = GemmPartition.Of(new GemmTiles(16, 256, 64, 8, 4, 0));
            Assert.Equal(new GemmPartition(WarpsN: 4, WarpsM: 1, WarpsK: 2, NTilesPerWarp: 1, MFragsPerWarp: 1, KTilesPerWarp: 2), p);
            Assert.Equal(16 * 256 * 4, p.ReductionBytes(new GemmTiles(16, 256, 64, 8, 4, 0)));
            // 128×128 with 4 warps: 64×64 per warp, no K split.
            Assert.Equal(new GemmPartition(2, 2, 1, 1, 4, 4), GemmPartition.Of(new GemmTiles(128, 128, 64, 4, 4, 1)));
        }

        [Fact]
        public void Tiles_the_warps_cannot_share_have_no_partition_and_say_why()
        {
            Assert.Null(GemmPartition.TryOf(new GemmTiles(16, 96, 64, 4, 4, 0), out var notWhole));
            Assert.Contains("multiple of 64", notWhole);
            Assert.Null(GemmPartition.TryOf(new GemmTiles(16, 64, 16, 8, 4, 0), out var tooManyWarps));
            Assert.Contains("cannot share evenly", tooManyWarps);
        }

        [Fact]
        public void Stream_k_fills_the_resident_slots_but_gives_each_cta_an_eighth_of_a_tiles_k_at_least()
        {
            var decode = new GemmTiles(16, 256, 64, 8, 4, 0);
            // Gate/up at M = 1: 112 tiles × 128 steps; 132 SMs × 2 resident = 264 CTAs.
            Assert.Equal(264, GemmPartition.Ctas(decode, 8192, 28672, 1, 132, 2));
            // K/V projection: 4 tiles × 128 steps; each CTA takes at least 16 steps, so 32 CTAs rather than 264.
            Assert.Equal(32, GemmPartition.Ctas(decode, 8192, 1024, 1, 132, 2));
            // split_k > 0 fixes the CTAs per tile.
            Assert.Equal(4L * 3, GemmPartition.Ctas(decode with { SplitK = 3 }, 8192, 1024, 1, 132, 2));
            Assert.Equal(264L * 2 * 16 * 256, GemmPartition.PartialFloats(decode, 264));
        }

        [Fact]
        public void Resident_ctas_follow_shared_memory_and_a_128_register_budget()
        {
            var decode = new GemmTiles(16, 256, 64, 8, 4, 0);
            Assert.Equal(2, GemmPartition.ResidentCtasPerSm(decode, 44_000, GpuArch.Sm90));   // 256 threads × 128 registers × 2
            Assert.Equal(1, GemmPartition.ResidentCtasPerSm(decode, 120_000, GpuArch.Sm90));  // shared memory
            Assert.Equal(4, GemmPartition.ResidentCtasPerSm(new GemmTiles(16, 128, 64, 4, 4, 0), 20_000, GpuArch.Sm90));
        }

        [Fact]
        public void Every_gemm_of_the_70b_recipe_is_emitted_with_its_tiles_as_named_constants()
        {
            var model = TestSpecs.Compile("llama2-70b");
            var kernels = model.KernelsFor(GpuArch.Sm90).Where(k => k.Family == KernelFamily.Gemm).ToList();
            Assert.NotEmpty(kernels);
            Assert.All(kernels, k => Assert.True(k.IsEmitted, k.Name + ": " + k.PendingReason));
            var gateUp = kernels.Single(k => k.Name == "gemm_gptq_g128_sym_k8192_n57344_decode_swiglu");
            var t = model.Spec.Tiles.For(GpuArch.Sm90).GemmInt4Decode;
            Assert.Contains($"constexpr int kBlockN = {t.BlockN};  // tiles.sm_90.gemm_int4_decode.block_n", gateUp.Source);
            Assert.Contains("constexpr int kGroupSize = 128;  // quantization group_size", gateUp.Source);
            Assert.Contains("__launch_bounds__(kThreads, kMinBlocks)", gateUp.Source);
            Assert.Contains("SwiGLU", gateUp.Source);
            Assert.DoesNotContain("#include", gateUp.Source);
            Assert.Equal("gemm_ctas", gateUp.Launch.X.Symbol);
            Assert.Equal(t.Warps * 32, gateUp.Launch.BlockThreads);
            // Each stage: 16×(block_k+8) fp16 activations, block_n×block_k INT4 weights and one block_n-column fp16 scale
            // row (block_k ≤ the group of 128).
            Assert.True(t.BlockK <= 128);
            Assert.Equal(t.Stages * (16 * (t.BlockK + 8) * 2 + t.BlockN * t.BlockK / 2 + t.BlockN * 2), gateUp.Launch.SharedMemoryBytes);
        }

        [Fact]
        public void Fp16_int4_codes_share_a_shift_and_the_high_nibbles_dequantize_exactly_with_the_emitted_constants()
        {
            var gateUp = TestSpecs.Compile("llama2-70b").KernelsFor(GpuArch.Sm90).Single(k => k.Name == "gemm_gptq_g128_sym_k8192_n57344_decode_swiglu").Source!;
            var constants = Regex.Matches(gateUp, @"constexpr gc_u32 (\w+) = 0x([0-9A-F]{8})u;").Cast<Match>()
                .ToDictionary(m => m.Groups[1].Value, m => Convert.ToUInt32(m.Groups[2].Value, 16));
            Assert.Contains("const gc_u32 nibbles = words[w] >> (8 * half);", gateUp);
            // Each half of a register as the kernel's paired fp16 FMA sees it: (nibbles & mask) | magic, times a factor, plus an offset.
            double Lane(uint word, uint mask, string factor, string offset, int half)
            {
                uint bits = (word & mask | constants["kMagic2"]) >> (16 * half) & 0xFFFF;
                return (double)BitConverter.UInt16BitsToHalf((ushort)bits) * (double)Half16(constants[factor], half) + (double)Half16(constants[offset], half);
            }
            for (uint low = 0; low < 16; low++)
                for (uint high = 0; high < 16; high++)
                    for (int half = 0; half < 2; half++)
                    {
                        uint word = (low | high << 4) << (16 * half);   // one byte of codes in either half
                        Assert.Equal(low - 8.0, Lane(word, 0x000F000Fu, "kOne2", "kNegMagicPlusZero2", half));
                        Assert.Equal(high - 8.0, Lane(word, 0x00F000F0u, "kSixteenth2", "kNegMagicPlusZeroHigh2", half));
                    }
            // bf16's 7-bit mantissa has no room for 16 · code, and zero points would pay for the shift saved: both keep one shift a slot.
            foreach (var k in TestSpecs.Compile("coverage-bf16").KernelsFor(GpuArch.Sm90).Where(k => k.Name.Contains("_gptq_") || k.Name.Contains("_awq_")))
                Assert.DoesNotContain("0x00F000F0u", k.Source);
        }

        [Fact]
        public void Weight_copies_unroll_on_one_base_where_a_strips_run_and_the_threads_divide_and_loop_elsewhere()
        {
            var model = TestSpecs.Compile("llama2-70b");
            const string unrolled = "for (int j = 0; j < kBlockN / 64 * kRunVectors / kThreads; ++j) {";
            const string loop = "for (int i = threadIdx.x; i < kBlockN / 64 * kRunVectors; i += kThreads) {";
            // 16 × 512 × 128 INT4 on 8 warps: a strip's run is 256 vectors, one a thread; 16 × 64 × 256 FP8 on 4: 1024, eight.
            var gateUp = model.KernelsFor(GpuArch.Sm90).Single(k => k.Name == "gemm_gptq_g128_sym_k8192_n57344_decode_swiglu").Source!;
            Assert.Contains(unrolled, gateUp);
            Assert.Contains("const int t = j * kThreads / kRunVectors, v = j * kThreads % kRunVectors + threadIdx.x;", gateUp);
            Assert.DoesNotContain(loop, gateUp);
            // fp16 weights, block_k 64 on 12 warps: runs of 512 vectors and 384 threads divide neither way, so the loop stays.
            var logits = (GemmKernel)model.Kernel("gemm_f16_k8192_n32000_decode_f32");
            var odd = model.Spec.Tiles.For(GpuArch.Sm90).WithGemm(logits.Tiles, new GemmTiles(16, 192, 64, 12, 3, 0));
            var source = GemmFamily.Plan(logits, odd).Source!;
            Assert.Contains(loop, source);
            Assert.DoesNotContain(unrolled, source);
        }

        private static Half Half16(uint paired, int half) => BitConverter.UInt16BitsToHalf((ushort)(paired >> (16 * half)));

        [Fact]
        public void The_plan_fuses_the_residual_add_and_swiglu_into_gemm_epilogues()
        {
            var kernels = TestSpecs.Compile("llama2-70b").Plan.Kernels.OfType<GemmKernel>().ToList();
            Assert.Contains(kernels, k => k.Epilogue == GemmEpilogue.SwiGlu && k.N == 2 * 28672 && k.OutputStride == 28672);
            Assert.Contains(kernels, k => k.Epilogue == GemmEpilogue.AddResidual && k.K == 28672);   // down_proj
            Assert.Contains(kernels, k => k.Epilogue == GemmEpilogue.AddResidual && k.K == 8192 && k.N == 8192);   // o_proj
            Assert.Contains(kernels, k => k.Output == Common.DType.F32 && k.N == 32000);   // logits
        }

        [Fact]
        public void Every_gemm_variant_of_the_coverage_spec_is_emitted_w8a8_included()
        {
            var kernels = TestSpecs.Compile("coverage-bf16").KernelsFor(GpuArch.Sm90).Where(k => k.Family == KernelFamily.Gemm).ToList();
            Assert.All(kernels, k => Assert.True(k.IsEmitted, k.Name + ": " + k.PendingReason));
            var dynamic = kernels.First(k => k.Name.Contains("_w8a8d"));
            Assert.Contains(dynamic.Parameters, p => p.Name == "x" && p.CType.Contains("gc_e4m3"));
            Assert.Contains(dynamic.Parameters, p => p.Name == "x_scale");
            Assert.Contains("x_scale[row]", dynamic.Source);
            Assert.Contains(kernels, k => k.Name.Contains("_awq_") && k.Source!.Contains("zeros"));
            Assert.Contains(kernels, k => k.Name.Contains("_actorder") && k.Source!.Contains("perm[k0"));
        }
    }
}
