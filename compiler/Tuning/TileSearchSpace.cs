using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Spec;

namespace GraphCompiler.Tuning
{
    /// <summary>A candidate the static rules turned down before anything was compiled, and why.</summary>
    public sealed record PrunedCandidate(TileFamily Family, string Tiles, string Reason);

    /// <summary>
    /// The tiles the autotuner may try per kernel family (the axes of each family are the arrays below), pruned by the
    /// spec's own tile rules for the model and architecture — partition of the tile
    /// among warps, shared memory per block, the register estimate, MMA and page divisibility, group sizes — so that no
    /// candidate that cannot compile or launch is ever timed.
    /// </summary>
    public static class TileSearchSpace
    {
        public static readonly IReadOnlyList<int> DecodeBlockN = new[] { 64, 128, 256, 512 };
        public static readonly IReadOnlyList<int> DecodeBatchBlockM = new[] { 32, 64, 128 };
        public static readonly IReadOnlyList<int> PrefillBlockM = new[] { 64, 128, 256 };
        public static readonly IReadOnlyList<int> PrefillBlockN = new[] { 64, 128, 256 };
        public static readonly IReadOnlyList<int> BlockK = new[] { 32, 64, 128, 256 };
        public static readonly IReadOnlyList<int> Warps = new[] { 4, 8 };
        public static readonly IReadOnlyList<int> GemmStages = new[] { 2, 3, 4, 6 };
        public static readonly IReadOnlyList<int> AttentionBlockN = new[] { 32, 64, 128, 256 };
        public static readonly IReadOnlyList<int> AttentionWarps = new[] { 2, 4, 8 };
        /// <summary>cp.async stages of a decode-attention warp's K/V tiles: how much each warp keeps in flight.</summary>
        public static readonly IReadOnlyList<int> AttentionStages = new[] { 2, 3, 4, 6 };
        public static readonly IReadOnlyList<int> FlashBlockM = new[] { 64, 128, 192, 256 };
        /// <summary>The MMA instruction of prefill attention as an axis (<see cref="AttentionMma"/>): 0 mma.sync, 1 wgmma, 2 wgmma
        /// with a loading warpgroup (Hopper; warps follow block_m / 16).</summary>
        public static readonly IReadOnlyList<int> FlashMma = new[] { 0, 1, 2 };
        /// <summary>Where wgmma's Q·Kᵀ takes Q from as an axis: 0 shared memory, 1 registers (<see cref="PrefillAttentionTiles.QInRegisters"/>).</summary>
        public static readonly IReadOnlyList<int> FlashQOperand = new[] { 0, 1 };
        public static readonly IReadOnlyList<int> FlashBlockN = new[] { 32, 64, 128 };
        /// <summary>Prefill K/V stages: four and more are wgmma's ring (PrefillAttentionTiles.Ring).</summary>
        public static readonly IReadOnlyList<int> FlashStages = new[] { 2, 3, 4 };

        /// <summary>Every candidate of <paramref name="family"/> on <paramref name="arch"/>, before pruning: the spec's tiles with that family's replaced.</summary>
        public static IEnumerable<ArchTiles> Candidates(ModelSpec spec, GpuArch arch, TileFamily family)
        {
            var baseline = spec.Tiles.For(arch);
            if (family.IsGemm())
            {
                bool decode = family.IsDecodeGemm();
                foreach (int bm in BlockMs(family))
                    foreach (int bn in decode ? DecodeBlockN : PrefillBlockN)
                        foreach (int bk in BlockK)
                            foreach (int w in Warps)
                                foreach (int st in GemmStages)
                                    yield return baseline.WithGemm(family, new GemmTiles(bm, bn, bk, w, st, decode ? 0 : 1));
            }
            else if (family.IsDecodeAttention())
            {
                foreach (int bn in AttentionBlockN)
                    foreach (int w in AttentionWarps)
                        foreach (int st in AttentionStages)
                            yield return baseline.WithDecode(family, new DecodeAttentionTiles(bn, w, st, 0));
            }
            else if (family == TileFamily.PrefillAttention)
            {
                foreach (int bm in FlashBlockM)
                    foreach (int bn in FlashBlockN)
                        foreach (int st in FlashStages)
                        {
                            foreach (int w in Warps)
                                yield return baseline with { PrefillAttention = new PrefillAttentionTiles(bm, bn, w, st) };
                            if (arch.HasWgmma)
                                foreach (var mma in new[] { AttentionMma.Wgmma, AttentionMma.WgmmaWarpSpecialized })
                                    foreach (int q in FlashQOperand)
                                        yield return baseline with { PrefillAttention = new PrefillAttentionTiles(bm, bn, PrefillAttentionTiles.WgmmaWarps(bm, mma), st, mma, q == 1) };
                        }
            }
        }

        /// <summary>block_m of a GEMM family's candidates: 16 for few-row decode, wider for its batch twin and prefill.</summary>
        public static IReadOnlyList<int> BlockMs(TileFamily family) =>
            family.IsDecodeBatch() ? DecodeBatchBlockM : family.IsDecodeGemm() ? new[] { 16 } : PrefillBlockM;

        /// <summary>The candidates that pass every static rule, and those that do not with the rule's message.</summary>
        public static (IReadOnlyList<ArchTiles> Valid, IReadOnlyList<PrunedCandidate> Pruned) Prune(ModelSpec spec, GpuArch arch, TileFamily family)
        {
            var valid = new List<ArchTiles>();
            var pruned = new List<PrunedCandidate>();
            string prefix = $"{arch.Name} {family.SpecName()}: ";
            foreach (var candidate in Candidates(spec, arch, family))
            {
                var sink = new SpecDiagnosticSink("candidate");
                TileValidator.Validate(candidate, spec.Model, spec.Quantization, spec.KvCache, sink);
                var reasons = sink.Diagnostics.Where(d => d.Message.StartsWith(prefix, StringComparison.Ordinal)).Select(d => d.Message.Substring(prefix.Length)).ToList();
                if (reasons.Count == 0) valid.Add(candidate);
                else pruned.Add(new PrunedCandidate(family, Describe(candidate, family), string.Join("; ", reasons.Select(StripDefaultsNote))));
            }
            return (valid, pruned);
        }

        /// <summary>A family's tiles as the spec writes them: { block_m: 16, block_n: 256, … }.</summary>
        public static string Describe(ArchTiles tiles, TileFamily family)
        {
            if (family.IsGemm())
            {
                var t = tiles.Gemm(family);
                return $"{{ block_m: {t.BlockM}, block_n: {t.BlockN}, block_k: {t.BlockK}, warps: {t.Warps}, stages: {t.Stages}, split_k: {t.SplitK} }}";
            }
            if (family.IsDecodeAttention())
            {
                var d = tiles.Decode(family);
                return $"{{ block_n: {d.BlockN}, warps: {d.Warps}, stages: {d.Stages}, splits: {d.Splits} }}";
            }
            if (family == TileFamily.PrefillAttention)
                return tiles.PrefillAttention.FlowMapping();
            throw new ArgumentOutOfRangeException(nameof(family), family, "no search space for this family yet");
        }

        private static string StripDefaultsNote(string message)
        {
            int at = message.IndexOf(" (default tiles for", StringComparison.Ordinal);
            return at < 0 ? message : message.Substring(0, at);
        }
    }
}
