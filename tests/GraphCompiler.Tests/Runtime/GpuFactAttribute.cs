using GraphCompiler.Runtime.Cuda;

namespace GraphCompiler.Tests.Runtime
{
    /// <summary>Probes for a GPU once; tests that need one skip with the driver's reason, and tests of the no-GPU path skip on a GPU.</summary>
    internal static class GpuProbe
    {
        public static readonly string? Unavailable = Probe();

        private static string? Probe()
        {
            try
            {
                using var device = CudaDevice.Open();
                return null;
            }
            catch (GpuUnavailableException e)
            {
                return e.Message;
            }
        }
    }

    public sealed class GpuFactAttribute : FactAttribute
    {
        public GpuFactAttribute()
        {
            if (GpuProbe.Unavailable is string reason) Skip = "needs a GPU: " + reason;
        }
    }

    public sealed class NoGpuFactAttribute : FactAttribute
    {
        public NoGpuFactAttribute()
        {
            if (GpuProbe.Unavailable is null) Skip = "checks the no-GPU path; this machine has a GPU";
        }
    }
}
