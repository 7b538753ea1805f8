using GraphCompiler.Graph;
using GraphCompiler.Spec;

namespace GraphCompiler.Kernels.Elementwise
{
    /// <summary>The launch shape shared by the row-wise elementwise kernels: one block of elementwise.threads per row.</summary>
    internal static class ElementwiseLaunch
    {
        public static KernelSource Source(FusedKernel kernel, ArchTiles tiles, CudaSourceBuilder builder, string body, GridExtent rows)
        {
            string source = builder.Finish("kThreads", body);
            var launch = new LaunchShape(rows, GridExtent.One, GridExtent.One, tiles.Elementwise.Threads, 0);
            return new KernelSource(kernel.Name, kernel.Family, kernel.Summary, tiles.Arch.Name, source,
                GraphCompiler.Common.EquatableArray.ToEquatableArray(builder.Parameters), launch, null);
        }
    }
}
