using System;
using System.Collections.Generic;
using System.Linq;

namespace GraphCompiler.Spec
{
    /// <summary>
    /// The tiles an architecture gets when the spec does not name them (specs/README.md lists the same table).
    /// GEMM block_k shrinks from its preferred size to the largest power of two (at least 16) that divides every K the
    /// family multiplies, so small models get valid defaults; elementwise threads follow the row width.
    /// </summary>
    public static class TileDefaults
    {
        public static ArchTiles For(GpuArch arch, ModelShape model, QuantizationSpec quantization, KvCacheSpec kv)
        {
            bool hopper = arch.ComputeCapability >= 90;
            bool smallSmem = arch.SharedMemoryPerBlockOptIn < 128 * 1024;
            // FlashAttention-2's shape: 4 warps of 32 query rows, two CTAs an SM. On Hopper FlashAttention-3's: a loading
            // warpgroup and two wgmma warpgroups of 64 rows taking turns, where their registers fit (head_dim up to 128);
            // 128-key tiles three deep with a 2-byte cache, 64-key tiles four deep with FP8, whose widened pairs would not
            // fit three of 128 keys (H200, persistent: 500 and 386 TFLOP/s at 4096, tests/bench/NOTES.md).
            var prefill = !(hopper && model.HeadDim <= 128) ? new PrefillAttentionTiles(128, 64, 4, 2)
                : kv.IsFp8 ? new PrefillAttentionTiles(128, 64, 12, 4, AttentionMma.WgmmaWarpSpecialized)
                : new PrefillAttentionTiles(128, 128, 12, 3, AttentionMma.WgmmaWarpSpecialized);
            var decode = new DecodeAttentionTiles(64, 4, 2, 0);
            int prefillStages = hopper ? 4 : 3;

            GemmTiles Gemm(TileFamily family, int blockM, int blockN, int preferredK, int warps, int stages, int splitK) =>
                new GemmTiles(blockM, blockN, FitBlockK(preferredK, KsOf(family, model, quantization)), warps, stages, splitK);

            return new ArchTiles(
                arch,
                FromSpec: false,
                prefill,
                decode,
                Gemm(TileFamily.GemmDenseDecode, 16, 128, 64, 4, 4, 0),
                // Batch twins: 64 rows, so a step of up to 64 sequences reads and dequantizes each weight once.
                Gemm(TileFamily.GemmDenseDecodeBatch, 64, 128, 64, 4, 3, 0),
                Gemm(TileFamily.GemmDensePrefill, 128, 128, 32, 8, prefillStages, 1),
                Gemm(TileFamily.GemmInt4Decode, 16, 256, 64, 8, 4, 0),
                Gemm(TileFamily.GemmInt4DecodeBatch, 64, 256, 64, 8, 3, 0),
                Gemm(TileFamily.GemmInt4Prefill, 128, 128, 64, hopper ? 4 : 8, hopper ? 4 : 3, 1),
                Gemm(TileFamily.GemmFp8Decode, 16, 128, 128, 4, smallSmem ? 3 : 4, 0),
                Gemm(TileFamily.GemmFp8DecodeBatch, 64, 128, 64, 8, 3, 0),
                Gemm(TileFamily.GemmFp8Prefill, 128, 128, 64, hopper ? 4 : 8, hopper ? 4 : smallSmem ? 2 : 3, 1),
                new ElementwiseTiles(ElementwiseThreads(model)));
        }

        /// <summary>One thread per 16-byte vector of the widest row (hidden or intermediate), 64 to 256 threads.</summary>
        public static int ElementwiseThreads(ModelShape model)
        {
            int vectors = Math.Max(model.HiddenSize, model.IntermediateSize) / 8;
            int threads = 64;
            while (threads < vectors && threads < 256) threads *= 2;
            return threads;
        }

        internal static int FitBlockK(int preferred, IReadOnlyCollection<int> ks)
        {
            for (int k = preferred; k > 16; k /= 2)
                if (ks.All(x => x % k == 0)) return k;
            return 16;
        }

        /// <summary>The input widths K of every module (any layer) whose scheme runs on <paramref name="family"/>.</summary>
        public static IReadOnlyCollection<int> KsOf(TileFamily family, ModelShape model, QuantizationSpec quantization)
        {
            var ks = new SortedSet<int>();
            foreach (var (module, scheme) in LinearSchemes(model, quantization))
                if (family.Runs(scheme.Method))
                    ks.Add(model.LinearShape(module).K);
            return ks;
        }

        /// <summary>Every (module, scheme) pair of the linear layers, lm_head included, once each.</summary>
        public static IEnumerable<(ModuleKind Module, QuantScheme Scheme)> LinearSchemes(ModelShape model, QuantizationSpec quantization)
        {
            var seen = new HashSet<(ModuleKind, QuantScheme)>();
            foreach (var layer in quantization.Layers)
                foreach (var module in ModuleKinds.LayerLinears)
                    if (seen.Add((module, layer.For(module)))) yield return (module, layer.For(module));
            if (seen.Add((ModuleKind.LmHead, quantization.LmHead))) yield return (ModuleKind.LmHead, quantization.LmHead);
        }
    }
}
