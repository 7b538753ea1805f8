using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Graph;

namespace GraphCompiler.Tests.Planning
{
    public class WorkspacePlannerTests
    {
        [Theory]
        [InlineData("llama2-70b")]
        [InlineData("llama2-7b")]
        [InlineData("small-llama")]
        public void Buffers_used_by_the_same_launch_never_share_bytes(string name)
        {
            var model = TestSpecs.Compile(name);
            var slots = model.Memory.Workspace.ToDictionary(s => s.Name);
            foreach (var phase in new[] { model.Plan.Prefill, model.Plan.Decode })
            {
                var launches = phase.Prologue.Concat(phase.Layers.SelectMany(g => g.Launches)).Concat(phase.Epilogue);
                foreach (var launch in launches)
                {
                    var touched = launch.Reads.Concat(launch.Writes).Distinct().Select(b => slots[b]).ToList();
                    foreach (var a in touched)
                        foreach (var b in touched.Where(b => b.Name != a.Name))
                            Assert.True(a.Offset + a.Bytes <= b.Offset || b.Offset + b.Bytes <= a.Offset,
                                $"{launch.Kernel}: {a.Name} [{a.Offset}, {a.Offset + a.Bytes}) overlaps {b.Name} [{b.Offset}, {b.Offset + b.Bytes})");
                }
            }
        }

        [Fact]
        public void Buffers_whose_lifetimes_do_not_meet_share_bytes_so_the_workspace_is_smaller_than_their_sum()
        {
            var plan = TestSpecs.Compile("llama2-70b").Memory;
            Assert.True(plan.WorkspaceBytes < plan.WorkspaceBytesWithoutReuse);
            var slots = plan.Workspace.ToDictionary(s => s.Name);
            // qkv lives from the QKV GEMM to attention; mlp_act from the gate/up GEMM (SwiGLU in its epilogue) to down_proj: never at once.
            Assert.True(slots["qkv"].Offset < slots["mlp_act"].Offset + slots["mlp_act"].Bytes
                        && slots["mlp_act"].Offset < slots["qkv"].Offset + slots["qkv"].Bytes);
        }

        [Fact]
        public void Activation_buffers_are_sized_for_max_num_batched_tokens_and_logits_for_max_num_seqs()
        {
            var model = TestSpecs.Compile("llama2-70b");
            var slots = model.Memory.Workspace.ToDictionary(s => s.Name, s => s.Bytes);
            Assert.Equal(2048L * 8192 * 2, slots["residual"]);
            Assert.Equal(2048L * (8192 + 2 * 1024) * 2, slots["qkv"]);
            Assert.Equal(2048L * 28672 * 2, slots["mlp_act"]);
            Assert.DoesNotContain("gate_up", slots.Keys);   // SwiGLU runs in the gate/up GEMM's epilogue
            // Stream-K: two fp32 partial tiles for each CTA the GPU holds at once; the largest is the tuned sm_90 INT4 decode
            // batch tile, 64×512 with block_k 256, one CTA an SM (its two stages take ~200 KiB of shared memory), on the 148
            // SMs planned for.
            Assert.Equal(148L * 1 * 2 * 64 * 512 * 4, slots["gemm_stream_k_partials"]);
            Assert.Equal(64L * 32000 * 4, slots["logits"]);
            Assert.Equal(64L * 64 * 16 * (128 * 2 + 8), slots["decode_split_partials"]);   // fp16 rows, fp32 (max, sum)
        }
    }
}
