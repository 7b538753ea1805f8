using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using GraphCompiler.Runtime.Bench;
using GraphCompiler.Runtime.Compilation;
using GraphCompiler.Runtime.Cuda;
using GraphCompiler.Runtime.SelfTest;
using GraphCompiler.Kernels.Gemm;
using GraphCompiler.Spec;
using Spectre.Console;

namespace GraphCompiler.Runtime.Cli
{
    /// <summary>
    /// graphc bench [SPEC]: per-kernel timings (median of many, rotating inputs larger than L2) with achieved GB/s and the
    /// fraction of the measured copy bandwidth; --peer adds PyTorch's time for the same work (tests/reference/peer_bench.py).
    /// </summary>
    internal static class BenchCommand
    {
        public static int Run(string spec, bool json, string? peerFile, string? gemmShapes, string gemmRows, string? gemmTiles, string? attentionPoints,
            string? prefillPoints, IAnsiConsole console, TextWriter output)
        {
            var shapes = gemmShapes is null ? null : ParseShapes(gemmShapes);
            var points = attentionPoints is null ? null : ParseShapes(attentionPoints, "--attention-points", "BATCHxCONTEXT", "16x2048");
            var prefill = prefillPoints is null ? null : ParseShapes(prefillPoints, "--prefill-points", "BATCHxTOKENS", "1x4096");
            var rows = ParseRows(gemmRows);
            var model = SpecLoader.Compile(spec, console).Rank;   // a split spec's: what each GPU runs
            var peers = peerFile is null ? new Dictionary<string, (string Peer, double Microseconds)>() : ReadPeers(peerFile);
            using var device = GpuCommands.OpenDevice();
            using var stream = new CudaStream();
            var gpu = GpuKernels.For(device);
            var bench = new KernelBench(gpu);
            double copy = bench.CopyBandwidth(stream);
            List<KernelTiming> timings;
            try
            {
                var cases = KernelCaseFactory.ForGpu(model.Spec, 1234, gpu);
                // The attention sweeps (either or both) replace the spec's kernels; else the GEMM sweep, else every kernel.
                timings = points != null || prefill != null
                    ? (points is null ? Enumerable.Empty<KernelTiming>() : bench.RunDecodeAttentionSweep(model, points, cases, copy, stream))
                        .Concat(prefill is null ? Enumerable.Empty<KernelTiming>() : bench.RunPrefillAttentionSweep(model, prefill, cases, copy, stream)).ToList()
                    : shapes is null ? bench.Run(model, cases, copy, stream).ToList()
                    : bench.RunGemmSweep(model, shapes, rows, cases, WithOverrides(model.Spec.Tiles.For(device.Info.TileArch), gemmTiles), copy, stream).ToList();
            }
            catch (KernelCompileException e)
            {
                throw new CliException(ExitCodes.Failure, e.Message);
            }
            if (json)
            {
                output.WriteLine(Json(model.Spec.Name, device.Info, copy, timings, peers));
                return ExitCodes.Ok;
            }
            console.MarkupLine($"{Markup.Escape(device.Info.ToString())}; measured copy bandwidth {copy / 1e9:0} GB/s (read + write)");
            var table = new Table().AddColumn("kernel").AddColumn("case").AddColumn(new TableColumn("µs").RightAligned())
                .AddColumn(new TableColumn("GB/s").RightAligned()).AddColumn(new TableColumn("% copy BW").RightAligned())
                .AddColumn(new TableColumn("TFLOP/s").RightAligned()).AddColumn("check")
                .AddColumn(new TableColumn("regs").RightAligned()).AddColumn("peer").AddColumn(new TableColumn("peer µs").RightAligned())
                .AddColumn(new TableColumn("speed-up").RightAligned());
            foreach (var t in timings)
            {
                var hasPeer = peers.TryGetValue(Key(t), out var peer);
                table.AddRow(Markup.Escape(t.Kernel), Markup.Escape(t.Case), F(t.MedianMicroseconds, "0.0"), F(t.GigabytesPerSecond, "0"),
                    F(100 * t.RooflineFraction, "0") + "%", t.Teraflops is double tf ? F(tf, "0.0") : "", CheckText(t.Check), t.Registers + (t.LocalBytes > 0 ? $" ({t.LocalBytes} B local)" : ""),
                    hasPeer ? Markup.Escape(peer.Peer) : "", hasPeer ? F(peer.Microseconds, "0.0") : "",
                    hasPeer ? F(peer.Microseconds / t.MedianMicroseconds, "0.00") + "×" : "");
            }
            console.Write(table);
            return ExitCodes.Ok;
        }

        private static string F(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);

        private static string CheckText(SelfTestResult? check) => check is null ? ""
            : (check.Passed ? "[green]pass[/]" : "[red]FAIL[/]") + (check.Worst is { } c ? " " + F(c.RelativeError, "0.0e+0") : " " + Markup.Escape(check.Error ?? ""));

        /// <summary>"8192x8192,28672x8192" → pairs (K×N for --gemm-shapes, batch×context for --attention-points, batch×tokens for --prefill-points).</summary>
        private static List<(int, int)> ParseShapes(string text, string option = "--gemm-shapes", string form = "KxN", string example = "8192x28672")
        {
            var result = new List<(int, int)>();
            foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var kn = part.Split('x');
                if (kn.Length != 2 || !int.TryParse(kn[0], NumberStyles.None, CultureInfo.InvariantCulture, out int k) || !int.TryParse(kn[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n) || k <= 0 || n <= 0)
                    throw new CliException(ExitCodes.Usage, $"{option}: '{part}' is not {form} with positive integers (e.g. {example})");
                result.Add((k, n));
            }
            return result;
        }

        /// <summary>
        /// --gemm-tiles "gemm_int4_decode=16,256,128,8,4,0;…": block_m, block_n, block_k, warps, stages, split_k per family,
        /// replacing the spec's for the sweep (a manual tuning candidate; the kernels' names say which tiles they ran).
        /// </summary>
        private static ArchTiles WithOverrides(ArchTiles tiles, string? text)
        {
            if (text is null) return tiles;
            foreach (var part in text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var kv = part.Split('=');
                var family = TileFamilies.All.FirstOrDefault(f => f.IsGemm() && kv.Length == 2 && f.SpecName() == kv[0].Trim());
                var values = kv.Length == 2 ? kv[1].Split(',').Select(v => int.TryParse(v.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int x) ? x : -1).ToArray() : Array.Empty<int>();
                if (kv.Length != 2 || !family.IsGemm() || family.SpecName() != kv[0].Trim() || values.Length != 6 || values.Any(v => v < 0))
                    throw new CliException(ExitCodes.Usage, $"--gemm-tiles: '{part}' is not FAMILY=block_m,block_n,block_k,warps,stages,split_k with a gemm_* family (e.g. gemm_int4_decode=16,256,128,8,4,0)");
                var candidate = new GemmTiles(values[0], values[1], values[2], values[3], values[4], values[5]);
                if (GemmPartition.TryOf(candidate, out var error) is null)
                    throw new CliException(ExitCodes.Usage, $"--gemm-tiles: {part}: {error}");
                tiles = tiles.WithGemm(family, candidate);
            }
            return tiles;
        }

        internal static List<int> ParseRows(string text, string option = "--rows", string what = "row count")
        {
            var result = new List<int>();
            foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int m) || m <= 0)
                    throw new CliException(ExitCodes.Usage, $"{option}: '{part}' is not a positive {what}");
                result.Add(m);
            }
            return result;
        }

        /// <summary>How a timing is named in the peer file: "kernel|case".</summary>
        public static string Key(KernelTiming t) => t.Kernel + "|" + t.Case;

        private static Dictionary<string, (string Peer, double Microseconds)> ReadPeers(string path)
        {
            if (!File.Exists(path)) throw new CliException(ExitCodes.Usage, $"--peer '{path}' does not exist; produce it with tests/reference/peer_bench.py");
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var result = new Dictionary<string, (string Peer, double Microseconds)>();
            if (doc.RootElement.TryGetProperty("kernels", out var kernels))
                foreach (var p in kernels.EnumerateObject())
                    result[p.Name] = (p.Value.GetProperty("peer").GetString() ?? "", p.Value.GetProperty("microseconds").GetDouble());
            return result;
        }

        private static string Json(string spec, CudaDeviceInfo device, double copy, List<KernelTiming> timings, Dictionary<string, (string Peer, double Microseconds)> peers)
        {
            var stream = new MemoryStream();
            using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteString("spec", spec);
                w.WriteString("device", device.Name);
                w.WriteString("arch", device.Arch);
                w.WriteNumber("copy_bytes_per_second", copy);
                w.WriteStartArray("kernels");
                foreach (var t in timings)
                {
                    w.WriteStartObject();
                    w.WriteString("key", Key(t));
                    w.WriteString("kernel", t.Kernel);
                    w.WriteString("family", t.Family.ToString());
                    w.WriteString("case", t.Case);
                    w.WriteNumber("rows", t.Rows);
                    w.WriteNumber("median_us", t.MedianMicroseconds);
                    w.WriteNumber("min_us", t.MinMicroseconds);
                    w.WriteNumber("bytes", t.Bytes);
                    w.WriteNumber("gb_per_s", t.GigabytesPerSecond);
                    w.WriteNumber("roofline_fraction", t.RooflineFraction);
                    w.WriteNumber("registers", t.Registers);
                    w.WriteNumber("local_bytes", t.LocalBytes);
                    if (t.Teraflops is double tf) w.WriteNumber("tflops", tf);
                    if (t.Check is { } check)
                    {
                        w.WriteBoolean("check_passed", check.Passed);
                        if (check.Worst is { } c) w.WriteNumber("check_relative_error", c.RelativeError);
                    }
                    if (peers.TryGetValue(Key(t), out var peer))
                    {
                        w.WriteString("peer", peer.Peer);
                        w.WriteNumber("peer_us", peer.Microseconds);
                    }
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            return Encoding.UTF8.GetString(stream.ToArray());
        }
    }
}
