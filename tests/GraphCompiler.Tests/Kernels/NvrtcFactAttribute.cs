using System;
using GraphCompiler.Runtime.Cuda;
using GraphCompiler.Runtime.Nvrtc;

namespace GraphCompiler.Tests.Kernels
{
    /// <summary>
    /// A test that needs NVRTC (no GPU). Skipped, saying why, on a developer machine without it; in CI (CI=true) the
    /// test runs and fails instead, since .ci/run installs NVRTC and a silent skip would hide a broken setup.
    /// </summary>
    public sealed class NvrtcTheoryAttribute : TheoryAttribute
    {
        public NvrtcTheoryAttribute()
        {
            if (!NvrtcCompiler.IsAvailable && Environment.GetEnvironmentVariable("CI") != "true")
                Skip = $"NVRTC not found: run tests/setup/install-nvrtc.sh and set {NativeLibraries.NvrtcEnvironmentVariable} to the path it prints";
        }
    }
}
