using GraphCompiler.Spec;
using Xunit;

namespace GraphCompiler.Tests.Kernels
{
    /// <summary>
    /// The persistent prefill CTAs' job schedule, run on the host (tests/reference/job_schedule_sim.py): every job taken by
    /// exactly one CTA, and each CTA's work within three tiles of the mean for short and long prompts, fewer jobs than CTAs,
    /// and CTA counts that do not divide the jobs.
    /// </summary>
    public class JobScheduleSimulationTests
    {
        [HostToolsFact]
        public void Every_prefill_job_is_taken_once_and_the_ctas_work_comes_out_even()
        {
            var model = TestSpecs.Compile("llama2-70b");
            var kernels = new[] { ("prefill", TestSpecs.EmitPrefill(model, GpuArch.Sm90).Source!) };

            string output = HostToolsFactAttribute.Run("job_schedule_sim.py", kernels);
            Assert.Contains("43 tiles x 64 heads on 132 CTAs", output);
        }
    }
}
