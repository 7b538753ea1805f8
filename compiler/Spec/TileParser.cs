using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Common;

namespace GraphCompiler.Spec
{
    /// <summary>Reads `tiles:` (per architecture, per kernel family); what the spec leaves out comes from <see cref="TileDefaults"/>.</summary>
    internal static class TileParser
    {
        private static readonly string[] PrefillKeys = { "block_m", "block_n", "warps", "stages", "mma", "q_operand" };
        private static readonly (string Name, AttentionMma Value)[] MmaChoices = { ("mma_sync", AttentionMma.MmaSync), ("wgmma", AttentionMma.Wgmma), ("wgmma_ws", AttentionMma.WgmmaWarpSpecialized) };
        private static readonly (string Name, bool Value)[] QOperandChoices = { ("shared", false), ("registers", true) };
        private static readonly string[] DecodeKeys = { "block_n", "warps", "stages", "splits" };
        private static readonly string[] GemmKeys = { "block_m", "block_n", "block_k", "warps", "stages", "split_k" };
        private static readonly string[] ElementwiseKeys = { "threads" };

        public static TileTable? Read(SpecDiagnosticSink sink, YamlTreeNode? node, ModelShape model, QuantizationSpec quantization, KvCacheSpec kv)
        {
            var written = new Dictionary<string, MappingView>();
            if (node != null && !(node is YamlScalarNode { IsNull: true }))
            {
                if (node is not YamlMappingNode archs)
                {
                    sink.Error(SpecDiagnosticIds.WrongType, $"'tiles' must map architectures ({GpuArch.ValidNames}) to kernel families", node.Location);
                    return null;
                }
                foreach (var entry in archs.Entries)
                {
                    var arch = GpuArch.Find(entry.Key.Value);
                    if (arch is null)
                    {
                        string? near = MappingView.Nearest(entry.Key.Value, GpuArch.All.Select(a => a.Name));
                        sink.Error(SpecDiagnosticIds.UnknownGpuArch,
                            $"unknown GPU architecture '{entry.Key.Value}'" + (near != null ? $"; did you mean '{near}'?" : "")
                            + $" Known: {GpuArch.ValidNames} (sm_90a kernels are chosen automatically on sm_90)", entry.Key.Location);
                        continue;
                    }
                    if (written.ContainsKey(arch.Name))
                    {
                        sink.Error(SpecDiagnosticIds.DuplicateKey, $"'tiles.{arch.Name}' appears twice; keep one", entry.Key.Location);
                        continue;
                    }
                    var view = sink.Mapping(entry.Value, "tiles." + arch.Name, TileFamilies.All.Select(f => f.SpecName()).ToArray());
                    sink.Map.Add("tiles." + arch.Name, entry.Key.Location);
                    if (view != null) written[arch.Name] = view;
                }
            }

            bool ok = true;
            var table = new List<ArchTiles>();
            foreach (var arch in GpuArch.All)
            {
                var defaults = TileDefaults.For(arch, model, quantization, kv);
                if (!written.TryGetValue(arch.Name, out var view))
                {
                    table.Add(defaults);
                    continue;
                }
                var tiles = ReadArch(sink, view, defaults);
                if (tiles is null) { ok = false; continue; }
                table.Add(tiles);
            }
            if (!ok) return null;
            foreach (var tiles in table)
                ok &= TileValidator.Validate(tiles, model, quantization, kv, sink);
            return ok ? new TileTable(table.ToEquatableArray()) : null;
        }

        private static ArchTiles? ReadArch(SpecDiagnosticSink sink, MappingView view, ArchTiles d)
        {
            bool ok = true;
            MappingView? Family(TileFamily family, string[] keys) => sink.Mapping(view.Value(family.SpecName()), view.Child(family.SpecName()), keys);

            int Get(MappingView? f, string key, int fallback, int min, int max)
            {
                if (f is null || !f.Has(key)) return fallback;
                int? v = f.Int(key, min, max);
                if (v is null) ok = false;
                return v ?? fallback;
            }

            var p = Family(TileFamily.PrefillAttention, PrefillKeys);
            var prefill = new PrefillAttentionTiles(
                Get(p, "block_m", d.PrefillAttention.BlockM, 16, 512), Get(p, "block_n", d.PrefillAttention.BlockN, 16, 512),
                Get(p, "warps", d.PrefillAttention.Warps, 1, 32), Get(p, "stages", d.PrefillAttention.Stages, 1, 8),
                // A family the spec writes is mma.sync unless it says wgmma: the Hopper default's wgmma would not fit its warps.
                Choose(p, "mma", MmaChoices, p is null ? d.PrefillAttention.Mma : AttentionMma.MmaSync),
                Choose(p, "q_operand", QOperandChoices, p is null && d.PrefillAttention.QInRegisters));

            T Choose<T>(MappingView? f, string key, (string Name, T Value)[] choices, T fallback) where T : struct
            {
                if (f is null || !f.Has(key)) return fallback;
                var v = f.Choice(key, choices);
                if (v is null) ok = false;
                return v ?? fallback;
            }

            DecodeAttentionTiles Decode(MappingView? q, DecodeAttentionTiles fallback) => new DecodeAttentionTiles(
                Get(q, "block_n", fallback.BlockN, 8, 1024), Get(q, "warps", fallback.Warps, 1, 32),
                Get(q, "stages", fallback.Stages, 1, 8), Get(q, "splits", fallback.Splits, 0, 256));
            var decode = Decode(Family(TileFamily.DecodeAttention, DecodeKeys), d.DecodeAttention);
            // The wide twin exists only where the spec names it; the keys it leaves out are decode_attention's.
            var wide = Family(TileFamily.DecodeAttentionWide, DecodeKeys) is { } w ? Decode(w, decode) : null;

            GemmTiles Gemm(TileFamily family)
            {
                var g = Family(family, GemmKeys);
                var t = d.Gemm(family);
                return new GemmTiles(
                    Get(g, "block_m", t.BlockM, 16, 512), Get(g, "block_n", t.BlockN, 8, 1024), Get(g, "block_k", t.BlockK, 16, 1024),
                    Get(g, "warps", t.Warps, 1, 32), Get(g, "stages", t.Stages, 1, 8), Get(g, "split_k", t.SplitK, 0, 64));
            }

            var e = Family(TileFamily.Elementwise, ElementwiseKeys);
            var elementwise = new ElementwiseTiles(Get(e, "threads", d.Elementwise.Threads, 32, 1024));

            var tiles = new ArchTiles(d.Arch, FromSpec: true, prefill, decode,
                Gemm(TileFamily.GemmDenseDecode), Gemm(TileFamily.GemmDenseDecodeBatch), Gemm(TileFamily.GemmDensePrefill),
                Gemm(TileFamily.GemmInt4Decode), Gemm(TileFamily.GemmInt4DecodeBatch), Gemm(TileFamily.GemmInt4Prefill),
                Gemm(TileFamily.GemmFp8Decode), Gemm(TileFamily.GemmFp8DecodeBatch), Gemm(TileFamily.GemmFp8Prefill), elementwise)
            { DecodeAttentionWide = wide };
            return ok ? tiles : null;
        }
    }
}
