using System;
using GraphCompiler.Spec;

namespace GraphCompiler.Kernels.Gemm
{
    /// <summary>
    /// How a GEMM tile's warps share it: first along N (each warp whole 64-column weight tiles), then along M (whole
    /// 16-row MMA tiles), and the warps left over split each K step (their sums are added in shared memory at the end) —
    /// the decode shape, a 16-row tile, has few N tiles per CTA and needs the K split to keep eight warps busy.
    /// </summary>
    public sealed record GemmPartition(int WarpsN, int WarpsM, int WarpsK, int NTilesPerWarp, int MFragsPerWarp, int KTilesPerWarp)
    {
        /// <summary>The partition of <paramref name="t"/>, or why it has none.</summary>
        public static GemmPartition? TryOf(GemmTiles t, out string? error)
        {
            error = null;
            if (t.BlockN % WeightFragments.TileN != 0 || t.BlockM % 16 != 0 || t.BlockK % WeightFragments.TileK != 0)
            {
                error = $"the {t.BlockM}×{t.BlockN}×{t.BlockK} tile must have block_m and block_k multiples of 16 and block_n a multiple of 64 (a warp owns whole 64-column weight tiles)";
                return null;
            }
            int nTiles = t.BlockN / WeightFragments.TileN, mFrags = t.BlockM / 16, kTiles = t.BlockK / WeightFragments.TileK;
            int warpsN = LargestCommonDivisor(nTiles, t.Warps);
            int warpsM = LargestCommonDivisor(mFrags, t.Warps / warpsN);
            int warpsK = t.Warps / warpsN / warpsM;
            if (kTiles % warpsK != 0)
            {
                error = $"{t.Warps} warps over the {t.BlockM}×{t.BlockN}×{t.BlockK} tile leave {warpsK} warps to split each K step of {kTiles} 16-deep MMA steps, which they cannot share evenly";
                return null;
            }
            return new GemmPartition(warpsN, warpsM, warpsK, nTiles / warpsN, mFrags / warpsM, kTiles / warpsK);
        }

        public static GemmPartition Of(GemmTiles t) => TryOf(t, out var error) ?? throw new ArgumentException(error, nameof(t));

        /// <summary>Shared memory for adding the K-split warps' accumulators: all but one share's BlockM × BlockN fp32.</summary>
        public int ReductionBytes(GemmTiles t) => (WarpsK - 1) * t.BlockM * t.BlockN * 4;

        /// <summary>
        /// CTAs per SM the kernel is built for (its __launch_bounds__ minimum): as many as shared memory allows, up to
        /// what leaves each thread 128 registers.
        /// </summary>
        public static int ResidentCtasPerSm(GemmTiles t, int sharedMemoryBytes, GpuArch arch) =>
            arch.ResidentCtas(t.Warps * 32, 128, sharedMemoryBytes);

        /// <summary>About how many CTAs at most share one output tile's K steps (stream-K).</summary>
        public const int MaxContributorsPerTile = 8;

        /// <summary>Output tiles of an M-row launch.</summary>
        public static long Tiles(GemmTiles t, int n, int m) => (long)((n + t.BlockN - 1) / t.BlockN) * ((m + t.BlockM - 1) / t.BlockM);

        /// <summary>
        /// The launch's CTAs (stream-K): one per resident slot of the GPU, so every SM streams until the end, each taking
        /// an equal run of the (output tile × K step) units; never more CTAs than units. A spec's split_k &gt; 0 instead
        /// fixes split_k CTAs per output tile (classic split-K, an even split of each tile's K steps).
        /// </summary>
        public static long Ctas(GemmTiles t, int k, int n, int m, int multiprocessors, int residentPerSm)
        {
            long steps = k / t.BlockK, tiles = Tiles(t, n, m), units = tiles * steps;
            if (t.SplitK > 0) return tiles * t.SplitK;
            // At least an eighth of a tile's K per CTA: the CTA finishing a tile adds every contributor's partial sums, so
            // a small GEMM split a hundred ways would spend its time there rather than streaming weights.
            long fewestUnits = Math.Max(1, steps / MaxContributorsPerTile);
            return Math.Max(1, Math.Min(units / fewestUnits, (long)multiprocessors * residentPerSm));
        }

        /// <summary>fp32 partial sums a launch may write: two output tiles per CTA (the first and last it touches).</summary>
        public static long PartialFloats(GemmTiles t, long ctas) => ctas * 2 * t.BlockM * t.BlockN;

        private static int LargestCommonDivisor(int tiles, int warps)
        {
            for (int d = Math.Min(tiles, warps); d > 1; d--)
                if (tiles % d == 0 && warps % d == 0) return d;
            return 1;
        }
    }
}
