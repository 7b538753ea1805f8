using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading.Tasks;
using GraphCompiler.Compilation;
using GraphCompiler.Graph;
using GraphCompiler.Kernels;
using GraphCompiler.Runtime.Bench;
using GraphCompiler.Runtime.Compilation;
using GraphCompiler.Runtime.Cuda;
using GraphCompiler.Runtime.SelfTest;
using GraphCompiler.Spec;
using GraphCompiler.Tuning;

namespace GraphCompiler.Runtime.Tuning
{
    /// <summary>One family's outcome: the spec's tiles and the winner, with their summed times over the family's kernels and shapes.</summary>
    public sealed record FamilyTuning(TileFamily Family, string DefaultTiles, double DefaultMicroseconds, string Tiles, double Microseconds,
        int Measured, int Pruned, int Failed)
    {
        public double SpeedUp => DefaultMicroseconds / Microseconds;
    }

    /// <summary>
    /// Tunes a model's kernel families on this GPU: the pruned candidates of each family (<see cref="TileSearchSpace"/>),
    /// searched by <see cref="CoordinateSearch"/> from the spec's tiles; a candidate's kernels are emitted with its tiles,
    /// compiled (NVRTC, through the kernel cache), checked against the CPU reference on every case (a fast wrong
    /// kernel never wins) and timed like `graphc bench` (median of many launches, inputs rotated past L2); its cost is the
    /// sum over the family's kernels and the row counts the model runs.
    /// </summary>
    public sealed class TileTuner
    {
        private readonly GpuKernels _kernels;
        private readonly KernelBench _bench;
        private readonly CudaStream _stream;
        private readonly KernelCaseFactory _cases;
        private readonly SelfTestRunner _checker;

        public TileTuner(GpuKernels kernels, CudaStream stream, KernelCaseFactory cases)
        {
            _kernels = kernels;
            _bench = new KernelBench(kernels);
            _stream = stream;
            _cases = cases;
            _cases.ReuseGemmWeights = true;
            _checker = new SelfTestRunner(kernels);
        }

        /// <summary>The families a model runs that have a search space: its GEMM families and both attention families.</summary>
        public static IReadOnlyList<TileFamily> Families(CompiledModel model, GpuArch arch) =>
            model.KernelsFor(arch).Where(s => s.IsEmitted).Select(s => Family(model.Kernel(s.Name)))
                .Where(f => f != null).Select(f => f!.Value).Distinct().OrderBy(f => f).ToList();

        public FamilyTuning Tune(CompiledModel model, GpuArch arch, TileFamily family, Func<bool> outOfBudget, Action<string> progress)
        {
            var spec = model.Spec;
            var kernels = model.Plan.Kernels.Where(k => Family(k) == family).ToList();
            var (valid, pruned) = TileSearchSpace.Prune(spec, arch, family);
            var start = spec.Tiles.For(arch);
            var validSet = new HashSet<ArchTiles>(valid);
            int failed = 0;
            double? Cost(ArchTiles tiles)
            {
                string tilesText = TileSearchSpace.Describe(tiles, family);
                double total = 0;
                foreach (var kernel in kernels)
                {
                    var source = KernelEmitters.Emit(kernel, tiles);
                    if (!source.IsEmitted) return null;
                    using var loaded = _kernels.Load(source);
                    foreach (var testCase in Cases(kernel, tiles))
                    {
                        var check = _checker.RunCase(loaded, testCase, spec.Model.DType, _stream, viaGraph: false);
                        if (!check.Passed)
                        {
                            failed++;
                            progress($"{family.SpecName()} {tilesText}: {kernel.Name} {testCase.Label} failed its check ({check.Error ?? check.Worst?.RelativeError.ToString("0.0e+0")}); not a candidate");
                            return null;
                        }
                        total += KernelBench.Median(_bench.TimeCase(loaded, testCase, _stream)) * 1000;
                    }
                }
                progress($"{family.SpecName()} {tilesText}: {total:0.0} µs");
                return total;
            }
            var result = CoordinateSearch.Run(start, validSet, Axes(family), Cost, outOfBudget);
            return new FamilyTuning(family, TileSearchSpace.Describe(start, family), result.StartCost, TileSearchSpace.Describe(result.Best, family),
                result.BestCost, result.Measured, pruned.Count, failed);
        }

        private IEnumerable<KernelTestCase> Cases(FusedKernel kernel, ArchTiles tiles) => kernel switch
        {
            GemmKernel g => _cases.Gemm(g, _cases.GemmRowCounts(g), tiles),
            DecodeAttentionKernel a => _cases.DecodeAttentionTuning(a, tiles.Decode(a.Tiles)),
            PrefillAttentionKernel p => _cases.PrefillAttention(p, tiles.PrefillAttention),
            _ => Array.Empty<KernelTestCase>(),
        };

        private static TileFamily? Family(FusedKernel kernel) => kernel switch
        {
            GemmKernel g => g.Tiles,
            DecodeAttentionKernel a => a.Tiles,
            PrefillAttentionKernel => TileFamily.PrefillAttention,
            _ => null,
        };

        /// <summary>Prefill tiles on <paramref name="mma"/>: wgmma gives each computing warp 16 query rows, so its warps follow
        /// block_m (plus the loading warpgroup with warp specialization); mma.sync has no choice of Q operand.</summary>
        private static PrefillAttentionTiles WithMma(PrefillAttentionTiles t, AttentionMma mma) => mma switch
        {
            AttentionMma.Wgmma or AttentionMma.WgmmaWarpSpecialized => t with { Mma = mma, Warps = PrefillAttentionTiles.WgmmaWarps(t.BlockM, mma) },
            _ => t with { Mma = mma, QInRegisters = false },
        };

        /// <summary>The axes the search moves along, with TileSearchSpace's values.</summary>
        internal static IReadOnlyList<Axis<ArchTiles>> Axes(TileFamily family)
        {
            if (family.IsDecodeAttention())
            {
                Axis<ArchTiles> Decode(string name, IReadOnlyList<int> values, Func<DecodeAttentionTiles, int, DecodeAttentionTiles> set) =>
                    new Axis<ArchTiles>(name, values, (t, v) => t.WithDecode(family, set(t.Decode(family), v)));
                return new[]
                {
                    Decode("block_n", TileSearchSpace.AttentionBlockN, (d, v) => d with { BlockN = v }),
                    Decode("warps", TileSearchSpace.AttentionWarps, (d, v) => d with { Warps = v }),
                    Decode("stages", TileSearchSpace.AttentionStages, (d, v) => d with { Stages = v }),
                };
            }
            if (family == TileFamily.PrefillAttention)
                return new[]
                {
                    new Axis<ArchTiles>("mma", TileSearchSpace.FlashMma, (t, v) => t with { PrefillAttention = WithMma(t.PrefillAttention, (AttentionMma)v) }),
                    new Axis<ArchTiles>("block_m", TileSearchSpace.FlashBlockM, (t, v) => t with { PrefillAttention = WithMma(t.PrefillAttention with { BlockM = v }, t.PrefillAttention.Mma) }),
                    new Axis<ArchTiles>("block_n", TileSearchSpace.FlashBlockN, (t, v) => t with { PrefillAttention = t.PrefillAttention with { BlockN = v } }),
                    new Axis<ArchTiles>("warps", TileSearchSpace.Warps, (t, v) => t with { PrefillAttention = t.PrefillAttention with { Warps = v } }),
                    new Axis<ArchTiles>("stages", TileSearchSpace.FlashStages, (t, v) => t with { PrefillAttention = t.PrefillAttention with { Stages = v } }),
                    new Axis<ArchTiles>("q_operand", TileSearchSpace.FlashQOperand, (t, v) => t with { PrefillAttention = t.PrefillAttention with { QInRegisters = v == 1 } }),
                };
            Axis<ArchTiles> Gemm(string name, IReadOnlyList<int> values, Func<GemmTiles, int, GemmTiles> set) =>
                new Axis<ArchTiles>(name, values, (t, v) => t.WithGemm(family, set(t.Gemm(family), v)));
            bool decode = family.IsDecodeGemm();
            var axes = new List<Axis<ArchTiles>>
            {
                Gemm("block_n", decode ? TileSearchSpace.DecodeBlockN : TileSearchSpace.PrefillBlockN, (g, v) => g with { BlockN = v }),
                Gemm("block_k", TileSearchSpace.BlockK, (g, v) => g with { BlockK = v }),
                Gemm("warps", TileSearchSpace.Warps, (g, v) => g with { Warps = v }),
                Gemm("stages", TileSearchSpace.GemmStages, (g, v) => g with { Stages = v }),
            };
            if (TileSearchSpace.BlockMs(family).Count > 1) axes.Insert(0, Gemm("block_m", TileSearchSpace.BlockMs(family), (g, v) => g with { BlockM = v }));
            return axes;
        }
    }
}
