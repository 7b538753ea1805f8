using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Spec;
using Xunit;

namespace GraphCompiler.Tests.Kernels
{
    /// <summary>
    /// The prefill kernel's write jobs (<c>write_new_rows</c>) as emitted, run on the host by tests/reference/write_jobs_sim.py
    /// (g++, three CTAs of host threads taking tickets at once): every new row's K and V of every KV head written once into
    /// its block, each element from its own qkv element and rotated with its own row's angles, nothing else written, the
    /// angles left for the query heads, and every job counted done.
    /// </summary>
    public class WriteJobsSimulationTests
    {
        [HostToolsFact]
        public void Every_new_row_is_written_into_the_cache_once_whatever_CTA_takes_its_job()
        {
            var gptq = TestSpecs.Compile("llama2-70b-gptq");
            var kernels = new List<(string Name, string Source)>
            {
                ("llama2-70b-sm_90", TestSpecs.EmitPrefill(TestSpecs.Compile("llama2-70b"), GpuArch.Sm90).Source!),   // FP8 cache, 384 threads: jobs of 64 rows
                ("llama2-70b-gptq-sm_80", TestSpecs.EmitPrefill(gptq, GpuArch.Sm80).Source!),                       // fp16 cache, mma.sync's 128 threads: jobs of 32 rows
                ("small-llama-sm_90", TestSpecs.EmitPrefill(TestSpecs.Compile("small-llama"), GpuArch.Sm90).Source!),  // head_dim 64
                ("ring-192", TestSpecs.EmitPrefill(gptq, GpuArch.Sm90, new PrefillAttentionTiles(192, 64, 12, 4, AttentionMma.Wgmma)).Source!),  // three jobs a query tile
                ("mma-64", TestSpecs.EmitPrefill(gptq, GpuArch.Sm80, new PrefillAttentionTiles(64, 64, 4, 2)).Source!),                          // a query tile of 64 rows
            };
            Assert.Contains(kernels, k => k.Source.Contains("constexpr int kWriteParts = 3;"));
            Assert.Contains(kernels, k => k.Source.Contains("constexpr int kWriteRows = 32;"));
            Assert.Contains(kernels, k => k.Source.Contains("constexpr int kWriteRows = 64;"));

            string output = HostToolsFactAttribute.Run("write_jobs_sim.py", kernels);
            Assert.Contains("192 jobs on 3 CTAs", output);   // llama2-70b-gptq's 6 query tiles × 8 KV heads × 4 jobs of 32 rows
        }
    }
}
