using GraphCompiler.Common;
using GraphCompiler.Graph;
using GraphCompiler.Spec;

namespace GraphCompiler.Kernels.Gemm
{
    /// <summary>
    /// Tiled GEMMs (dense, INT4 GPTQ/AWQ, FP8): one CTA per block_m × block_n output tile and K split; the tiles come from
    /// the phase's family (gemm_*_decode or gemm_*_prefill). The emitters come with issue #6.
    /// </summary>
    public static class GemmFamily
    {
        public const string PendingReason = "the quantized and dense GEMM emitters come with issue #6";

        public static KernelSource Plan(GemmKernel k, ArchTiles tiles)
        {
            var t = tiles.Gemm(k.Tiles);
            bool w8a8 = k.Scheme.Method == QuantMethod.Fp8E4M3 && k.Scheme.ActivationScale != ActivationScaling.None;
            var launch = new LaunchShape(
                new GridExtent("1", 1, (k.N + t.BlockN - 1) / t.BlockN),
                new GridExtent("M", t.BlockM, 1),
                t.SplitK > 0 ? GridExtent.Constant(t.SplitK) : GridExtent.Of("split_k"),
                t.Warps * 32,
                t.SharedMemoryBytes(k.Tiles, w8a8 ? 1 : 2, k.Scheme.Method == QuantMethod.Int4 ? k.Scheme.GroupSizeFor(k.K) : 128));
            return new KernelSource(k.Name, k.Family, k.Summary, tiles.Arch.Name, null, EquatableArray<KernelParameter>.Empty, launch, PendingReason);
        }
    }
}
