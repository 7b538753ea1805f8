using System;
using System.Linq;
using System.Text.RegularExpressions;
using GraphCompiler.Kernels;
using GraphCompiler.Graph;
using GraphCompiler.Spec;
using Snapshooter;
using Snapshooter.Xunit;

namespace GraphCompiler.Tests.Kernels
{
    /// <summary>Pins the text of every kernel emitted for llama2-70b (sm_90 tiles) and the small model (sm_80 tiles).</summary>
    public class KernelSnapshotTests
    {
        public static TheoryData<string, string, string> Kernels()
        {
            var data = new TheoryData<string, string, string>();
            foreach (var (spec, arch) in new[] { ("llama2-70b", GpuArch.Sm90), ("small-llama", GpuArch.Sm80) })
                foreach (var k in TestSpecs.Compile(spec).KernelsFor(arch).Where(k => k.IsEmitted))
                    data.Add(spec, arch.Name, k.Name);
            return data;
        }

        /// <summary>The kernels a model emits (its CUDA C) for an architecture.</summary>
        private static System.Collections.Generic.List<KernelSource> Emitted(GraphCompiler.Compilation.CompiledModel model, string arch) =>
            model.KernelsFor(GpuArch.Find(arch)!).Where(k => k.IsEmitted).ToList();

        /// <summary>Each fragment occurs in the source after the one before it.</summary>
        private static void AssertInOrder(string source, params string[] fragments)
        {
            int at = -1;
            foreach (var fragment in fragments)
            {
                int next = source.IndexOf(fragment, at + 1, StringComparison.Ordinal);
                Assert.True(next > at, $"not found after position {at}: {fragment}");
                at = next;
            }
        }

        /// <summary>llama2-70b's decode attention on its decode_attention tiles (not the wide twin).</summary>
        private static GraphCompiler.Kernels.KernelSource Llama70bDecode(GpuArch arch) =>
            TestSpecs.Compile("llama2-70b").KernelsFor(arch).Single(k => k.Name.StartsWith("decode_attention", StringComparison.Ordinal) && !k.Name.EndsWith("_wide", StringComparison.Ordinal));

        [Theory]
        [MemberData(nameof(Kernels))]
        public void Emitted_kernel_matches_its_snapshot(string spec, string arch, string kernel)
        {
            var source = TestSpecs.Compile(spec).KernelsFor(GpuArch.Find(arch)!).Single(k => k.Name == kernel).Source!;
            Snapshot.Match(source, SnapshotNameExtension.Create(spec, arch, kernel));
        }

        [Theory]
        [InlineData("llama2-70b")]
        [InlineData("llama2-70b-gptq")]
        public void Warp_specialized_prefill_kernel_matches_its_snapshot(string spec)
        {
            // One loading warpgroup and two computing ones (128 query rows), four stages; not a shipped spec's tiles yet.
            var model = TestSpecs.Compile(spec);
            var source = TestSpecs.EmitPrefill(model, GpuArch.Sm90, new PrefillAttentionTiles(128, 64, 12, 4, AttentionMma.WgmmaWarpSpecialized));
            Assert.True(source.ArchSpecific);
            Assert.Contains("gc_setmaxnreg_dec<kProducerRegisters>();", source.Source);
            Assert.Contains("constexpr int kConsumerRegisters = 224;", source.Source);
            Snapshot.Match(source.Source!, SnapshotNameExtension.Create(spec, "sm_90", "wgmma_ws"));
        }

        [Fact]
        public void Emission_is_deterministic()
        {
            var a = TestSpecs.Compile("llama2-70b").KernelsFor(GpuArch.Sm90).Select(k => k.Source);
            var b = TestSpecs.Compile("llama2-70b").KernelsFor(GpuArch.Sm90).Select(k => k.Source);
            Assert.Equal(a, b);
        }

        [Fact]
        public void Tile_sizes_are_baked_in_as_named_constants_that_say_where_they_come_from()
        {
            var rmsnorm = TestSpecs.Compile("llama2-70b").KernelsFor(GpuArch.Sm90).Single(k => k.Name == "rmsnorm_h8192").Source!;
            Assert.Contains("constexpr int kThreads = 256;  // tiles.sm_90.elementwise.threads", rmsnorm);
            Assert.Contains("constexpr int kHidden = 8192;", rmsnorm);
            Assert.Contains("constexpr float kEps = 9.99999975e-06f;", rmsnorm);
            Assert.DoesNotContain("#include", rmsnorm);
        }

        [Fact]
        public void Rope_inverse_frequencies_are_float32_as_transformers_computes_them()
        {
            var inv = GraphCompiler.Kernels.Elementwise.RopeEmitter.InverseFrequencies(10000.0, 128);
            Assert.Equal(64, inv.Length);
            Assert.Equal(1.0f, inv[0]);
            Assert.Equal((float)(1.0 / System.Math.Pow(10000.0, 2.0 / 128)), inv[1], 6);
            Assert.True(inv.Zip(inv.Skip(1)).All(p => p.First > p.Second));
        }

        [Fact]
        public void Prefill_attention_is_emitted_with_its_launch_shape_and_shared_memory_from_the_tiles()
        {
            // llama2-70b on sm_90: block_m 128, block_n 64, 12 warps (a loading warpgroup and two wgmma warpgroups), 4 stages;
            // FP8 cache, so the stages hold codes and a widened K/V pair each sits next to them, all after 1024 bytes of
            // alignment slack. Persistent CTAs: as many as the GPU holds, not one per job.
            var prefill = TestSpecs.Compile("llama2-70b").KernelsFor(GpuArch.Sm90).Single(k => k.Name.StartsWith("prefill_attention"));
            Assert.True(prefill.IsEmitted, prefill.PendingReason);
            Assert.True(prefill.ArchSpecific);
            Assert.Equal(2 * 128 * 128 + 4 * 2 * 64 * 128 + 4 * 2 * 64 * 128 * 2 + 1024, prefill.Launch.SharedMemoryBytes);
            Assert.Equal(384, prefill.Launch.BlockThreads);
            Assert.Equal("(prefill_ctas, 1, 1)", prefill.Launch.GridText);
            Assert.Contains("constexpr int kBlockM = 128;  // tiles.sm_90.prefill_attention.block_m", prefill.Source);
            Assert.Contains("wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16", prefill.Source);
            Assert.Contains("wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16", prefill.Source);
            Assert.DoesNotContain("gc_mma_m16n8k16(", prefill.Source!.Substring(prefill.Source.IndexOf("end of prelude", StringComparison.Ordinal)));
            Assert.Contains("gc_mbarrier_wait(full_bar", prefill.Source);
            Assert.Contains("gc_setmaxnreg_dec<kProducerRegisters>", prefill.Source);
            Assert.DoesNotContain("kv_pipeline_wait<true>(", prefill.Source);

            // small-llama on sm_80: fp16 cache read straight into the swizzled stages.
            var small = TestSpecs.Compile("small-llama").KernelsFor(GpuArch.Sm80).Single(k => k.Name.StartsWith("prefill_attention"));
            Assert.Equal(2 * 128 * 64 + 2 * 2 * 64 * 64 * 2, small.Launch.SharedMemoryBytes);
            Assert.False(small.ArchSpecific);
            Assert.Contains("gc_mma_m16n8k16", small.Source);
            Assert.Contains("ldmatrix.sync.aligned.m8n8.x4.trans", small.Source);
            Assert.DoesNotContain("widen_kv", small.Source);
            Assert.Contains("widen_kv(", prefill.Source);
        }

        [Fact]
        public void Decode_attention_puts_the_gqa_group_in_mma_columns_and_gives_each_warp_its_own_stages()
        {
            // llama2-70b on sm_90: block_n 64 over 4 warps (16 positions a warp tile), 2 stages, FP8 cache (its codes widened in
            // registers, so a warp's region is its stages of codes, or its partial result where larger), 8 query heads a group:
            // one 8-column MMA tile, keys as rows (Sᵀ = K·Qᵀ, Pᵀ transposed in registers).
            var decode = Llama70bDecode(GpuArch.Sm90);
            Assert.True(decode.IsEmitted, decode.PendingReason);
            int warpRegion = System.Math.Max(2 * 2 * 16 * 128, 8 * (128 + 4) * 4);   // a partial's column: O, max, sum, padded to 16 bytes
            // … the CTA's 8 query rows as they are; then, on a 16-byte boundary, the staging other splits
            // of its cluster push to: up to 128 + 15 items of 8 fp32, and (max, sum) for 8 columns × 16 splits; last, a step
            // token's part (one at a step of one token a sequence): its K and V rows, 8 columns' scores in parts, RoPE's cos and sin.
            int own = 8 * 128 * 2 + 4 * warpRegion + 8 * 128 * 2;
            int stepToken = 2 * 128 * 2 + 8 * 8 * 4 + 128 * 4;
            int stepTokensAt = ((own + 15) / 16 * 16 + (128 + 15) * 32 + 8 * 16 * 8 + 15) / 16 * 16;
            Assert.Equal(stepTokensAt + stepToken, decode.Launch.SharedMemoryBytes);
            Assert.Equal(stepTokensAt + 8 * stepToken, decode.Launch.MaxSharedMemoryBytes);
            Assert.Equal("(8, query_chunks, splits)", decode.Launch.GridText);
            Assert.Contains("constexpr int kWarpKeys = 16;", decode.Source);
            Assert.Contains("constexpr int kNTiles = 1;", decode.Source);
            Assert.Contains("decode_scores(st, qb, k_address, lane);", decode.Source);
            Assert.Contains("gc_movmatrix_trans(", decode.Source);
            Assert.Contains("gc_ldmatrix_x4_trans(vc, v_address + code_swizzle(", decode.Source);
            Assert.DoesNotContain("widen_kv", decode.Source);
        }

        [Fact]
        public void Decode_attention_merges_the_new_token_from_its_qkv_row_and_without_clusters_the_splits_through_global_memory()
        {
            // The step's tokens are written to the cache for later steps but never read back (no split waits for the writes,
            // no fence): the splits cover the cached positions only. Below sm_90 the last split takes the other splits' rows
            // (in the activation dtype) through its warp regions: 32 KB of FP8 stages hold 16 splits' rows of 8 heads × 128,
            // their (max, sum) where the query rows were.
            var decode = Llama70bDecode(GpuArch.Sm89);
            Assert.Contains("const int cached = context - step_len;", decode.Source);
            Assert.Contains("load_kv_ids<32>(kv_pool, blocks, tiles_w.ids, id_lane, g, tiles_w.first(j), cached,", decode.Source);
            Assert.DoesNotContain("__threadfence", decode.Source);
            Assert.Contains("constexpr int kMergeSplits = 16;", decode.Source);
            Assert.Contains("gc_act* const rows_round = reinterpret_cast<gc_act*>(regions);", decode.Source);
            Assert.DoesNotContain("gc_cluster", decode.Source);
            Assert.False(decode.Launch.ClusterSpansZ);
            Assert.Contains(decode.Parameters, p => p.Name == "partials");
            Assert.Contains(decode.Parameters, p => p.Name == "split_counters");
            // The block ids of the warp's first tiles are read, then the context length, then the staged rows copied (the
            // context length's round trip first: 1-2% on the H200, tests/bench/NOTES.md), so the rows land under it; the last
            // split's blocks for the step's tokens come with the first tiles (cp.async), so no prologue waits for them.
            AssertInOrder(decode.Source!, "tiles_w.start();", "const int context = context_lens[s];", "gc_cp_async16(gc_smem_address(dst + c * 8)");
            Assert.Contains("gc_cp_async4(gc_smem_address(write_blocks + threadIdx.x), blocks + (cached + first_query + threadIdx.x) / kBlockSize);", decode.Source);
        }

        [Fact]
        public void Decode_attention_on_sm_90_merges_the_splits_in_a_cluster_through_distributed_shared_memory()
        {
            // A (sequence, KV head)'s splits are one thread-block cluster: no partials in global memory, no arrival counter;
            // the launch asks for clusters along z, and the kernel checks it got them. Each split pushes the owners' items
            // into their shared memory (stores, no remote reads) and one barrier later each owner combines its own.
            var decode = Llama70bDecode(GpuArch.Sm90);
            Assert.True(decode.Launch.ClusterSpansZ);
            Assert.DoesNotContain(decode.Parameters, p => p.Name is "partials" or "split_counters");
            Assert.Contains("if (gc_cluster_ctas() != gridDim.z) __trap();", decode.Source);
            Assert.Contains("gc_store_cluster4(to, acc);", decode.Source);
            Assert.DoesNotContain("ld.shared::cluster", decode.Source);
            Assert.DoesNotContain("kMergeSplits", decode.Source);
            Assert.DoesNotContain("atomicAdd", decode.Source);
            // Every CTA of a split launch arrives once at its start (so no push lands in a CTA not yet running) and waits for
            // it before its items (pushed, or one split's result written) or as it leaves past the context's splits; the
            // merge's barrier is joined by those idle CTAs too.
            int Count(string call) => System.Text.RegularExpressions.Regex.Matches(decode.Source!, System.Text.RegularExpressions.Regex.Escape(call)).Count;
            Assert.Equal(1, Count("gc_cluster_arrive_relaxed();"));
            Assert.Equal(2, Count("gc_cluster_wait();") - 1);   // one more in the prelude's gc_cluster_sync
            Assert.Equal(2, Count("gc_cluster_sync();"));
        }

        [Theory]
        [InlineData("sm_90")]
        [InlineData("sm_89")]
        public void Decode_attention_merges_its_warps_an_item_a_thread_after_one_block_barrier_and_divides_once_an_item(string arch)
        {
            // The tail runs once a CTA, as a chain of dependent steps with DRAM idle: after its loop a warp writes its partial,
            // one block barrier, then each thread merges an item (eight dimensions of a column) over the warps and the step
            // tokens and stores, pushes or writes it at once. An output's eight sums take one reciprocal, not eight divisions.
            var decode = Llama70bDecode(GpuArch.Find(arch)!);
            string source = decode.Source!;
            int loopEnd = source.IndexOf("__syncwarp();   // the stages are free", System.StringComparison.Ordinal);
            int items = source.IndexOf("for (int i = threadIdx.x; i < n_items; i += kThreads) {", System.StringComparison.Ordinal);
            Assert.True(loopEnd > 0 && items > loopEnd);
            Assert.Single(System.Text.RegularExpressions.Regex.Matches(source.Substring(loopEnd, items - loopEnd), "__syncthreads\\(\\);"));
            Assert.Contains("constexpr int kPartStride = 132;", source);
            Assert.Contains("const float inv = 1.0f / l;", source);
            Assert.DoesNotContain("/ l)", source);
            Assert.DoesNotContain("/ l[k])", source);
        }

        [Fact]
        public void Decode_attention_with_three_stages_issues_its_second_first_tile_once_the_step_rows_land()
        {
            // Every CTA's first tiles go out at once and queue ahead of the step's rows, which the prologue waits on: with 3
            // stages one of the two first tiles waits for the rows (the twin, 128 × 8 warps × 3), with 2 the one goes at once.
            var model = TestSpecs.Compile("llama2-70b");
            string wide = model.KernelsFor(GpuArch.Sm90).Single(k => k.Name.EndsWith("_wide", StringComparison.Ordinal)).Source!;
            Assert.Contains("constexpr int kStages = 3;", wide);
            Assert.Contains("constexpr int kHeldBack = 1;", wide);
            AssertInOrder(wide,
                "kv_pipeline_start<0, kStages - 1 - kHeldBack>(warp_tiles, load_tile);",
                "gc_cp_async_wait<kStages - kHeldBack>();   // this thread's staged rows",
                "kv_pipeline_start<kStages - 1 - kHeldBack, kStages - 1>(warp_tiles, load_tile);",
                "// ---- The step tokens' K (rotated, RoPE) and V");
            Assert.Contains("constexpr int kHeldBack = 0;", Llama70bDecode(GpuArch.Sm90).Source);
        }

        [Theory]
        [InlineData("sm_80")]
        [InlineData("sm_90")]
        public void Decode_attention_reads_its_rope_frequencies_from_global_memory_at_entry_and_the_other_rope_users_keep_the_constant_bank(string arch)
        {
            // A lane each reads its pair's frequency: from the constant bank a warp's 32 addresses go one after another, on the
            // prologue's critical path; from global memory they are one coalesced load, issued before the first tiles flood
            // the memory system.
            var kernels = Emitted(TestSpecs.Compile("llama2-70b"), arch);
            foreach (var decode in kernels.Where(k => k.Family == KernelFamily.DecodeAttention))
            {
                Assert.DoesNotContain("__constant__", decode.Source);
                AssertInOrder(decode.Source!,
                    "__device__ const float kInvFreq[kHalf] = {",
                    "const float inv_freq = kInvFreq[threadIdx.x % kHalf];",
                    "gc_cp_async16(gc_smem_address(dst + c * 8), src + c * 8, 16);",
                    "kv_pipeline_start<0, kStages - 1 - kHeldBack>(warp_tiles, load_tile);",
                    "gc_rope_cos_sin_of(position0 + (float)(i / kHalf), kThreads % kHalf == 0 ? inv_freq : kInvFreq[i % kHalf], rope_cos[i], rope_sin[i]);");
            }
            var others = kernels.Where(k => k.Family != KernelFamily.DecodeAttention && k.Source!.Contains("kInvFreq")).ToList();
            Assert.Contains(others, k => k.Family == KernelFamily.PrefillAttention);
            Assert.All(others, k => Assert.Contains("__constant__ float kInvFreq[kHalf] = {", k.Source));
        }

        [Theory]
        [InlineData("llama2-70b", "sm_90")]
        [InlineData("llama2-70b-gptq", "sm_80")]
        [InlineData("small-llama", "sm_89")]
        public void Decode_attention_keeps_its_step_token_loops_rolled(string spec, string arch)
        {
            // A step brings one token a sequence almost always: unrolled, each loop over the step's tokens was a four-way body
            // and its remainder's branches, 6% of the FP8 kernel's instructions, run once a CTA in the prologue and the merge.
            var decode = Emitted(TestSpecs.Compile(spec), arch).Where(k => k.Family == KernelFamily.DecodeAttention).ToList();
            Assert.NotEmpty(decode);
            foreach (var k in decode)
            {
                var lines = k.Source!.Split('\n');
                var loops = Enumerable.Range(0, lines.Length).Where(i => lines[i].TrimStart().StartsWith("for (int u = 0; u <", StringComparison.Ordinal)).ToList();
                Assert.True(loops.Count >= 3, $"{k.Name}: {loops.Count} step-token loops");
                Assert.All(loops, i => Assert.Equal("#pragma unroll 1", lines[i - 1].Trim()));
            }
        }

        [Theory]
        [InlineData("sm_80")]
        [InlineData("sm_90")]
        public void Decode_kernels_copy_what_a_step_reads_once_under_the_evict_first_policy_and_prefill_does_not(string arch)
        {
            // A decode step reads each cached row and each weight once; the step's qkv rows are read by every KV head's CTA,
            // a GEMM's activations by every CTA, and prefill reads a K/V tile once a query tile and a weight tile once a row
            // tile, so only decode's cache and weight copies make room for each other first.
            var model = TestSpecs.Compile("llama2-70b");
            var kernels = Emitted(model, arch);
            bool DecodeGemm(KernelSource k) => model.Kernel(k.Name) is GemmKernel g && g.Tiles.IsDecodeGemm();
            foreach (var decode in kernels.Where(k => k.Family == KernelFamily.DecodeAttention))
            {
                Assert.Contains("createpolicy.fractional.L2::evict_first.b64", decode.Source);
                Assert.Contains("gc_cp_async16_once(k_dst + at, k_src, bytes, policy);", decode.Source);
                Assert.Contains("gc_cp_async16_once(v_dst + at, k_src + kKvHeads * kHeadRun, bytes, policy);", decode.Source);
                Assert.Contains("gc_cp_async16(gc_smem_address(dst + c * 8), src + c * 8, 16);", decode.Source);
            }
            var gemms = kernels.Where(DecodeGemm).ToList();
            Assert.Equal(10, gemms.Count);   // a layer's four GEMMs and the logits', few-row tiles and batch twins
            foreach (var gemm in gemms)
            {
                Assert.Single(Regex.Matches(gemm.Source!, @"gc_cp_async16_once\(gc_smem_address\(base \+ kAStageBytes \+ \(t \* kRunVectors \+ v\) \* 16\), w \+"));
                Assert.Single(Regex.Matches(gemm.Source!, @"v \* 16, 16, policy\);"));
                Assert.Contains("gc_cp_async16(gc_smem_address(base + (r * kAStride + c * 8) * 2), x +", gemm.Source);
            }
            foreach (var other in kernels.Where(k => k.Family != KernelFamily.DecodeAttention && !DecodeGemm(k)))
            {
                Assert.DoesNotContain("evict_first", other.Source);
                Assert.DoesNotContain("gc_cp_async16_once", other.Source);
            }
        }
    }
}
