using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using GraphCompiler.Runtime.Compilation;
using GraphCompiler.Runtime.Cuda;
using GraphCompiler.Runtime.Nvrtc;
using GraphCompiler.Runtime.SelfTest;
using GraphCompiler.Runtime.Tuning;
using GraphCompiler.Spec;
using GraphCompiler.Tuning;
using Spectre.Console;

namespace GraphCompiler.Runtime.Cli
{
    /// <summary>
    /// graphc tune SPEC: tunes the tiles of the spec's kernel families on this GPU within a budget (checked candidates
    /// only), records each family's winner in the tuning database as it finishes (a rerun resumes: families already tuned
    /// for this GPU, driver and NVRTC are skipped unless --force), prints default against tuned, and with --write-spec
    /// writes the winners into the spec file's tiles section for the next build.
    /// </summary>
    internal static class TuneCommand
    {
        /// <param name="tp">Split the model over N GPUs, as the spec's parallel.tensor would. A split is tuned as what one GPU
        /// runs (<see cref="CompiledModel.Rank"/>: its shapes, recorded under its own model signature, which split runs use).</param>
        public static int Run(string spec, string? families, string budget, string shapes, bool writeSpec, bool force, bool json, IAnsiConsole console, TextWriter output,
            int? tp = null)
        {
            var limit = ParseBudget(budget);
            if (shapes is not ("decode" or "prefill" or "all"))
                throw new CliException(ExitCodes.Usage, $"--shapes '{shapes}': use decode, prefill or all");
            var (path, text) = SpecLoader.Read(spec);
            if (writeSpec && !File.Exists(spec))
                throw new CliException(ExitCodes.Usage, $"--write-spec needs a spec file to write; '{spec}' is a built-in spec: copy specs/{spec}.yaml and tune the copy");
            var model = SpecLoader.Compile(spec, console);
            if (tp is int t) model = SpecLoader.SplitOver(model, t);
            if (writeSpec && model.Spec.Parallel.Tensor > 1)
                throw new CliException(ExitCodes.Usage, "--write-spec on a split would give the spec's tiles a rank's shapes; the database keeps a split's tiles apart, and split runs use them");
            model = model.Rank;   // what each GPU runs: the model itself without a split
            using var device = GpuCommands.OpenDevice();
            using var stream = new CudaStream();
            var arch = device.Info.TileArch;
            var gpu = GpuKernels.For(device);
            var tuner = new TileTuner(gpu, stream, KernelCaseFactory.ForGpu(model.Spec, 7, gpu));

            var chosen = TileTuner.Families(model, arch)
                .Where(f => shapes == "all" || f.Phase() == shapes)
                .Where(f => families is null || families.Split(',').Select(x => x.Trim()).Contains(f.SpecName()))
                .ToList();
            if (families != null)
                foreach (var name in families.Split(',').Select(x => x.Trim()).Where(n => chosen.All(f => f.SpecName() != n)))
                    throw new CliException(ExitCodes.Usage, $"--families: '{name}' is not a tunable family this spec runs on {arch.Name}; it runs {string.Join(", ", TileTuner.Families(model, arch).Select(f => f.SpecName()))}");

            var db = GpuCommands.OpenTuningDatabase(out string dbPath);
            string nvrtc = NvrtcCompiler.VersionText;
            TuningKey Key(TileFamily f) => TuningKey.For(device.Info, nvrtc, model.Spec, f);

            var clock = Stopwatch.StartNew();
            var results = new List<(TileFamily Family, TuningEntry Entry, FamilyTuning? Run)>();
            console.MarkupLine($"{Markup.Escape(device.Info.ToString())}; tuning {string.Join(", ", chosen.Select(f => f.SpecName()))} within {limit.TotalMinutes:0.#} min; database {Markup.Escape(dbPath)}");
            var pending = chosen.Where(f => force || db.Find(Key(f)) is null).ToList();
            foreach (var family in chosen)
            {
                var key = Key(family);
                if (!force && db.Find(key) is { } done)
                {
                    console.MarkupLine($"[grey]{family.SpecName()}: already tuned for this GPU, driver and NVRTC ({done.SpeedUp:0.00}×); --force to tune again[/]");
                    results.Add((family, done, null));
                    continue;
                }
                if (clock.Elapsed >= limit)
                {
                    console.MarkupLine($"[yellow]{family.SpecName()}: not tuned, the budget is spent[/]");
                    continue;
                }
                // Each family gets an equal share of what is left, so every family is searched; a family that converges
                // early leaves its unused time to the ones after it.
                var share = clock.Elapsed + (limit - clock.Elapsed) / (pending.Count - pending.IndexOf(family));
                var run = tuner.Tune(model, arch, family, () => clock.Elapsed >= share, line => console.MarkupLine("[grey]" + Markup.Escape(line) + "[/]"));
                var entry = new TuningEntry(key, run.Tiles, run.Microseconds, run.DefaultMicroseconds);
                db.Set(entry);
                db.Save(dbPath);   // after every family, so an interrupted run resumes where it stopped
                results.Add((family, entry, run));
            }

            if (writeSpec)
            {
                string updated = text;
                foreach (var (family, entry, _) in results) updated = SpecTileWriter.Write(path, updated, arch, family, entry.Tiles);
                File.WriteAllText(path, updated);
                console.MarkupLine($"Wrote the tuned tiles into {Markup.Escape(path)} under tiles.{arch.Name}; rebuild to specialise the kernels.");
            }

            if (json)
            {
                output.WriteLine(JsonSerializer.Serialize(results.Select(r => new TuneReport(r.Family.SpecName(), r.Run?.DefaultTiles, r.Entry.Tiles,
                    r.Entry.DefaultMicroseconds, r.Entry.Microseconds, r.Entry.SpeedUp, r.Run?.Measured, r.Run?.Pruned, r.Run?.Failed)).ToArray(),
                    TuningJson.Default.TuneReportArray));
                return ExitCodes.Ok;
            }
            var table = new Table().AddColumn("family").AddColumn("spec tiles").AddColumn("tuned tiles")
                .AddColumn(new TableColumn("spec µs").RightAligned()).AddColumn(new TableColumn("tuned µs").RightAligned())
                .AddColumn(new TableColumn("speed-up").RightAligned()).AddColumn(new TableColumn("measured / pruned / failed").RightAligned());
            foreach (var (family, entry, run) in results)
                table.AddRow(family.SpecName(), Markup.Escape(run?.DefaultTiles ?? "(earlier run)"), Markup.Escape(entry.Tiles),
                    F(entry.DefaultMicroseconds), F(entry.Microseconds), entry.SpeedUp.ToString("0.00", CultureInfo.InvariantCulture) + "×",
                    run is null ? "" : $"{run.Measured} / {run.Pruned} / {run.Failed}");
            console.Write(table);
            return ExitCodes.Ok;
        }

        private static string F(double microseconds) => microseconds.ToString("0.0", CultureInfo.InvariantCulture);

        /// <summary>"10m", "90s", "1h", "1.5m".</summary>
        internal static TimeSpan ParseBudget(string text)
        {
            text = text.Trim();
            if (text.Length >= 2 && double.TryParse(text.Substring(0, text.Length - 1), NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && value > 0)
                switch (char.ToLowerInvariant(text[text.Length - 1]))
                {
                    case 's': return TimeSpan.FromSeconds(value);
                    case 'm': return TimeSpan.FromMinutes(value);
                    case 'h': return TimeSpan.FromHours(value);
                }
            throw new CliException(ExitCodes.Usage, $"--budget '{text}': a positive number with s, m or h (e.g. 10m)");
        }
    }
}
