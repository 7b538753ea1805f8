using GraphCompiler.Common;
using GraphCompiler.Graph;
using GraphCompiler.Spec;

namespace GraphCompiler.Kernels.Gemm
{
    /// <summary>
    /// Tiled GEMMs (dense, INT4 GPTQ/AWQ, FP8), stream-K over gemm_ctas CTAs (<see cref="GemmPartition.Ctas"/>: one per
    /// resident slot, or split_k per output tile when the spec fixes it); the tiles come from the phase's family
    /// (gemm_*_decode or gemm_*_prefill).
    /// </summary>
    public static class GemmFamily
    {
        public static KernelSource Plan(GemmKernel k, ArchTiles tiles)
        {
            var t = tiles.Gemm(k.Tiles);
            string? unsupported = GemmEmitter.Unsupported(k);
            var launch = new LaunchShape(
                GridExtent.Of("gemm_ctas"),
                GridExtent.One,
                GridExtent.One,
                t.Warps * 32,
                unsupported is null ? GemmEmitter.SharedMemoryBytes(k, t) : 0);
            return unsupported is null
                ? GemmEmitter.Emit(k, tiles, launch)
                : new KernelSource(k.Name, k.Family, k.Summary, tiles.Arch.Name, null, EquatableArray<KernelParameter>.Empty, launch, unsupported);
        }
    }
}
