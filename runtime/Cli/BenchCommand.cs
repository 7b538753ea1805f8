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
using Spectre.Console;

namespace GraphCompiler.Runtime.Cli
{
    /// <summary>
    /// graphc bench [SPEC]: per-kernel timings (median of many, rotating inputs larger than L2) with achieved GB/s and the
    /// fraction of the measured copy bandwidth; --peer adds PyTorch's time for the same work (tests/reference/peer_bench.py).
    /// </summary>
    internal static class BenchCommand
    {
        public static int Run(string spec, bool json, string? peerFile, IAnsiConsole console, TextWriter output)
        {
            var model = SpecLoader.Compile(spec, console);
            var peers = peerFile is null ? new Dictionary<string, (string Peer, double Microseconds)>() : ReadPeers(peerFile);
            using var device = GpuCommands.OpenDevice();
            using var stream = new CudaStream();
            var bench = new KernelBench(new GpuKernels(device, KernelCache.Default(), GpuCommands.Target(device)));
            double copy = bench.CopyBandwidth(stream);
            List<KernelTiming> timings;
            try
            {
                timings = bench.Run(model, new KernelCaseFactory(model.Spec, 1234), copy, stream).ToList();
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
                .AddColumn(new TableColumn("regs").RightAligned()).AddColumn("peer").AddColumn(new TableColumn("peer µs").RightAligned())
                .AddColumn(new TableColumn("speed-up").RightAligned());
            foreach (var t in timings)
            {
                var hasPeer = peers.TryGetValue(Key(t), out var peer);
                table.AddRow(Markup.Escape(t.Kernel), Markup.Escape(t.Case), F(t.MedianMicroseconds, "0.0"), F(t.GigabytesPerSecond, "0"),
                    F(100 * t.RooflineFraction, "0") + "%", t.Registers + (t.SpillBytes > 0 ? $" ({t.SpillBytes} B spill)" : ""),
                    hasPeer ? Markup.Escape(peer.Peer) : "", hasPeer ? F(peer.Microseconds, "0.0") : "",
                    hasPeer ? F(peer.Microseconds / t.MedianMicroseconds, "0.00") + "×" : "");
            }
            console.Write(table);
            return ExitCodes.Ok;
        }

        private static string F(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);

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
                    w.WriteNumber("spill_bytes", t.SpillBytes);
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
