using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Compilation;
using GraphCompiler.Runtime.Checkpoints;
using GraphCompiler.Spec;
using Spectre.Console;

namespace GraphCompiler.Runtime.Cli
{
    /// <summary>
    /// graphc inspect PATH [--spec SPEC]: a checkpoint's tensors (repeated layers folded into one line), totals, shards,
    /// quantization and metadata; with --spec, every way it differs from the spec's weight manifest.
    /// </summary>
    internal static class InspectCommand
    {
        public static int Run(string path, string? spec, IAnsiConsole console)
        {
            if (!File.Exists(path) && !Directory.Exists(path))
                throw new CliException(ExitCodes.Usage, $"no checkpoint file or folder '{path}'; give a Hugging Face model folder, its {Checkpoint.IndexFile} or a .safetensors file");
            (CompiledModel Model, SpecSourceMap Sources)? compiled = spec is null ? null : SpecLoader.CompileWithSources(spec, console);
            Checkpoint checkpoint;
            try
            {
                checkpoint = Checkpoint.Open(path);
            }
            catch (CheckpointException e)
            {
                throw new CliException(ExitCodes.CheckpointError, e.Message);
            }
            using (checkpoint)
            {
                Describe(checkpoint, console);
                if (compiled is not var (model, sources)) return ExitCodes.Ok;

                var result = ManifestCheck.Run(checkpoint, model, sources);
                console.WriteLine();
                foreach (var reason in result.Ignored.GroupBy(t => t.Reason))
                    console.MarkupLine("[grey]ignored " + Markup.Escape(reason.Count() == 1 ? reason.First().Name : $"{reason.Count()} tensors like {reason.First().Name}")
                        + $": {Markup.Escape(reason.Key)}[/]");
                string name = Markup.Escape(model.Spec.Name);
                if (result.Matches)
                {
                    console.MarkupLine($"[green]Matches {name}:[/] all {model.Manifest.Count} tensors of its manifest, with the expected shapes and dtypes.");
                    return ExitCodes.Ok;
                }
                foreach (var f in result.Findings) console.MarkupLine($"[red]{Markup.Escape(f.ToString())}[/]");
                var counts = result.Findings.GroupBy(f => f.Kind).Select(g => $"{g.Count()} {KindText(g.Key)}");
                console.MarkupLine($"[red]Does not match {name}:[/] {result.Findings.Count} finding(s): {string.Join(", ", counts)}.");
                return ExitCodes.CheckpointError;
            }
        }

        private static string KindText(ManifestFindingKind kind) => kind switch
        {
            ManifestFindingKind.Missing => "missing",
            ManifestFindingKind.Extra => "extra",
            ManifestFindingKind.WrongShape => "wrong shape",
            ManifestFindingKind.WrongDType => "wrong dtype",
            _ => "quantization setting",
        };

        private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

        private static void Describe(Checkpoint checkpoint, IAnsiConsole console)
        {
            string files = checkpoint.IndexPath is null
                ? $"1 file ({Path.GetFileName(checkpoint.Shards[0].FilePath)})"
                : $"{checkpoint.Shards.Count} shards listed by {Path.GetFileName(checkpoint.IndexPath)}";
            console.MarkupLine($"[bold]{Markup.Escape(checkpoint.Path)}[/]: {Markup.Escape(files)}");
            console.MarkupLine($"Quantization: {Markup.Escape(checkpoint.Quantization.Describe())}");

            var table = new Table().AddColumn("tensor").AddColumn("dtype").AddColumn("shape").AddColumn(new TableColumn("bytes").RightAligned());
            foreach (var row in Rows(checkpoint.Tensors)) table.AddRow(row.Select(Markup.Escape).ToArray());
            console.Write(table);

            var dtypes = checkpoint.Tensors.GroupBy(t => t.DTypeName).OrderByDescending(g => g.Sum(t => t.ByteLength))
                .Select(g => $"{g.Key} {g.Count()} ({ByteSize.Format(g.Sum(t => t.ByteLength))})");
            console.MarkupLine($"Total: {checkpoint.Tensors.Count} tensors, {N(checkpoint.TotalBytes)} bytes ({ByteSize.Format(checkpoint.TotalBytes)}); "
                + Markup.Escape(string.Join(", ", dtypes)));
            var unused = checkpoint.Tensors.Where(t => t.DType is null).GroupBy(t => t.DTypeName).Select(g => $"{g.Key} ({g.Count()})").ToList();
            if (unused.Count > 0)
                console.MarkupLine($"[yellow]Dtypes graphc has no use for: {Markup.Escape(string.Join(", ", unused))}[/]");

            if (checkpoint.IndexPath != null)
            {
                var shards = new Table().AddColumn("shard").AddColumn(new TableColumn("tensors").RightAligned()).AddColumn(new TableColumn("bytes").RightAligned());
                foreach (var s in checkpoint.Shards)
                    shards.AddRow(Markup.Escape(Path.GetFileName(s.FilePath)), N(s.Tensors.Count), N(s.Tensors.Sum(t => t.ByteLength)));
                console.Write(shards);
            }
            foreach (var (key, value) in checkpoint.IndexMetadata)
            {
                // transformers writes the tensors' byte total; a different number hints at a stale or hand-edited index.
                string note = key == "total_size" && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out long total) && total != checkpoint.TotalBytes
                    ? $" [yellow](the tensors hold {N(checkpoint.TotalBytes)} bytes)[/]" : "";
                console.MarkupLine($"Index metadata: {Markup.Escape(key)} = {Markup.Escape(value)}{note}");
            }
            foreach (var entry in checkpoint.Shards.SelectMany(s => s.Metadata.Select(m => (m.Key, m.Value, File: Path.GetFileName(s.FilePath))))
                         .GroupBy(m => (m.Key, m.Value)))
            {
                string where = checkpoint.Shards.Count == 1 || entry.Count() == checkpoint.Shards.Count ? "" : $" ({string.Join(", ", entry.Select(e => e.File))})";
                console.MarkupLine($"Metadata: {Markup.Escape(entry.Key.Key)} = {Markup.Escape(entry.Key.Value + where)}");
            }
        }

        /// <summary>
        /// One row per tensor, except that a run of decoder layers laid out exactly like a layer printed in full becomes
        /// one line ("model.layers.1-79.*"), so an 80-layer checkpoint prints as one layer and a summary.
        /// </summary>
        internal static List<string[]> Rows(IReadOnlyList<SafetensorsTensor> tensors)
        {
            var rows = new List<string[]>();
            var printed = new List<(int Layer, List<(string Suffix, string DType, string Shape)> Layout)>();
            int runLike = -1, runFirst = -1, runLast = -1, runTensors = 0;
            long runBytes = 0;

            void Flush()
            {
                if (runFirst < 0) return;
                string layers = runFirst == runLast ? $"{runFirst}" : $"{runFirst}-{runLast}";
                rows.Add(new[] { $"{TensorNames.LayerPrefix}{layers}.*", $"as layer {runLike}", $"{runTensors} tensors each", N(runBytes) });
                runFirst = -1;
            }

            for (int i = 0; i < tensors.Count;)
            {
                if (!TensorNames.TryParseLayer(tensors[i].Name, out int layer, out _))
                {
                    Flush();
                    rows.Add(Row(tensors[i++]));
                    continue;
                }
                // Natural order keeps a layer's tensors together.
                int end = i;
                while (end < tensors.Count && TensorNames.TryParseLayer(tensors[end].Name, out int l, out _) && l == layer) end++;
                var group = tensors.Skip(i).Take(end - i).ToList();
                i = end;
                var layout = group.Select(t => (t.Name.Substring(t.Name.IndexOf('.', TensorNames.LayerPrefix.Length) + 1), t.DTypeName, t.ShapeText)).ToList();
                int like = printed.FindIndex(p => p.Layout.SequenceEqual(layout));
                if (like < 0)
                {
                    Flush();
                    rows.AddRange(group.Select(Row));
                    printed.Add((layer, layout));
                    continue;
                }
                if (runFirst < 0 || runLike != printed[like].Layer || layer != runLast + 1)
                {
                    Flush();
                    (runFirst, runLike, runTensors, runBytes) = (layer, printed[like].Layer, group.Count, 0);
                }
                runLast = layer;
                runBytes += group.Sum(t => t.ByteLength);
            }
            Flush();
            return rows;
        }

        private static string[] Row(SafetensorsTensor t) => new[] { t.Name, t.DTypeName, t.ShapeText, N(t.ByteLength) };
    }
}
