using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using GraphCompiler.Runtime.Cli;
using GraphCompiler.Runtime.Compilation;
using GraphCompiler.Spec;
using GraphCompiler.Tests.Kernels;
using static GraphCompiler.Tests.Cli.GraphcInvocation;

namespace GraphCompiler.Tests.Runtime
{
    public class GpuCommandTests
    {
        [NoGpuFact]
        public void Without_a_gpu_selftest_and_bench_say_so_plainly()
        {
            foreach (var command in new[] { "selftest", "bench" })
            {
                var (code, _, error) = Run(command, "small-llama");
                Assert.Equal(ExitCodes.Failure, code);
                Assert.Contains("this command needs a GPU", error);
                Assert.DoesNotContain("   at ", error);
            }
        }

        [GpuFact]
        public void Selftest_of_the_small_model_passes_on_this_gpu()
        {
            var (code, output, error) = Run("selftest", "small-llama", "--seed", "7");
            Assert.True(code == ExitCodes.Ok, output + error);
            Assert.Contains("selftest passed", output);
        }

        [NvrtcTheory]
        [InlineData("llama2-70b")]
        public void Killing_graphc_mid_compile_leaves_a_kernel_cache_that_still_works(string spec)
        {
            string folder = Path.Combine(Path.GetTempPath(), "graphc-kill-" + Guid.NewGuid().ToString("N"));
            string graphc = typeof(GraphcCommand).Assembly.Location;
            var start = new ProcessStartInfo("dotnet", $"exec \"{graphc}\" compile {spec} --arch all --cubin")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            start.Environment[KernelCache.EnvironmentVariable] = folder;
            using (var process = Process.Start(start)!)
            {
                // Kill as soon as the cache starts filling: some entries written, others mid-compile or mid-write.
                var deadline = DateTime.UtcNow.AddSeconds(60);
                while (!process.HasExited && DateTime.UtcNow < deadline && !(Directory.Exists(folder) && Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Any()))
                    Thread.Sleep(5);
                if (!process.HasExited) process.Kill(entireProcessTree: true);
                process.WaitForExit();
            }
            var cache = new KernelCache(folder);
            var kernels = TestSpecs.Compile(spec).KernelsFor(GpuArch.Sm90).Where(k => k.IsEmitted).ToList();
            foreach (var k in kernels)
            {
                var (result, _) = cache.GetOrCompile(k, "sm_90");
                Assert.True(result.Succeeded, result.Log);
            }
            Assert.All(kernels, k => Assert.NotNull(cache.TryRead(cache.PathFor(k, "sm_90", GraphCompiler.Runtime.Nvrtc.NvrtcCompiler.Version))));
            Directory.Delete(folder, true);
        }
    }
}
