using System.Linq;
using System.Collections.Generic;
using GraphCompiler.Runtime.Cuda;

namespace GraphCompiler.Tests.Runtime
{
    public class NativeLibrariesTests
    {
        private static IReadOnlyList<string> Nvrtc(Dictionary<string, string> environment) =>
            NativeLibraries.Candidates(NativeLibraries.NvrtcEnvironmentVariable, new[] { "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2" },
                name => environment.TryGetValue(name, out var v) ? v : null);

        [Fact]
        public void The_environment_override_comes_first_then_versioned_names_newest_first()
        {
            var candidates = Nvrtc(new Dictionary<string, string> { [NativeLibraries.NvrtcEnvironmentVariable] = "/opt/x/libnvrtc.so.12" });
            Assert.Equal(new[] { "/opt/x/libnvrtc.so.12", "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2" }, candidates.Take(4));
        }

        [Fact]
        public void Without_an_override_the_sonames_come_first_and_cuda_folders_follow_cuda_home_first()
        {
            var candidates = Nvrtc(new Dictionary<string, string> { ["CUDA_HOME"] = "/opt/cuda-13" });
            Assert.Equal("libnvrtc.so.13", candidates[0]);
            int home = candidates.ToList().IndexOf("/opt/cuda-13/lib64/libnvrtc.so.13");
            int usual = candidates.ToList().IndexOf("/usr/local/cuda/lib64/libnvrtc.so.13");
            Assert.True(home > 0 && usual > home);
            Assert.Contains("/usr/lib/x86_64-linux-gnu/libnvrtc.so.12", candidates);
        }
    }
}
