using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using GraphCompiler.Runtime.Compilation;
using GraphCompiler.Planning;
using GraphCompiler.Runtime.Cuda;
using GraphCompiler.Runtime.Memory;
using GraphCompiler.Runtime.SelfTest;
using GraphCompiler.Spec;
using Spectre.Console;

namespace GraphCompiler.Runtime.Cli
{
    /// <summary>
    /// graphc selftest [SPEC]: every emitted kernel of the spec on this GPU, over fresh random inputs at the spec's shapes
    /// and at 1, 7, 77 and 1000 rows, against the CPU reference; a table, and a non-zero exit on any failure.
    /// </summary>
    internal static class SelfTestCommand
    {
        /// <param name="kernels">Comma-separated name prefixes: only the kernels they start (null: every kernel).</param>
        public static int Run(IReadOnlyList<string> specs, int? seed, string? kernels, IAnsiConsole console)
        {
            var prefixes = kernels?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var models = specs.Select(spec => SpecLoader.Compile(spec, console).Rank).ToList();   // a split spec's: what each GPU runs
            using var device = GpuCommands.OpenDevice();
            var gpu = GpuKernels.For(device);
            int s = seed ?? Environment.TickCount;
            console.MarkupLine($"{Markup.Escape(device.Info.ToString())}; kernels for {gpu.Target}; seed {s}");
            var runner = new SelfTestRunner(gpu);
            int failed = 0, total = 0;
            foreach (var model in models)
            {
                var table = new Table().Title(Markup.Escape(model.Spec.Name)).AddColumn("kernel").AddColumn("case").AddColumn("output")
                    .AddColumn(new TableColumn("rel. error").RightAligned()).AddColumn(new TableColumn("tolerance").RightAligned()).AddColumn("result");
                var cases = KernelCaseFactory.ForGpu(model.Spec, s, gpu);
                foreach (var r in runner.Run(model, cases, name => prefixes is null || prefixes.Any(p => name.StartsWith(p, StringComparison.Ordinal))))
                {
                    total++;
                    if (!r.Passed) failed++;
                    string error = r.Worst is { } c ? c.RelativeError.ToString("0.0e+0", CultureInfo.InvariantCulture) + (c.NaNs > 0 ? $" ({c.NaNs} NaN)" : "") : "";
                    string tol = r.Worst is { } t ? t.Tolerance.ToString("0.0e+0", CultureInfo.InvariantCulture) : "";
                    table.AddRow(Markup.Escape(r.Kernel), Markup.Escape(r.Case), Markup.Escape(r.WorstOutput ?? ""), error, tol,
                        r.Passed ? "[green]pass[/]" : "[red]FAIL[/]" + (r.Error != null ? " " + Markup.Escape(r.Error) : ""));
                }
                console.Write(table);
                foreach (var pending in model.KernelsFor(device.Info.TileArch).Where(k => !k.IsEmitted))
                    console.MarkupLine($"[grey]not tested (no emitter yet): {Markup.Escape(pending.Name)}[/]");
            }
            console.MarkupLine(failed == 0 ? $"[green]selftest passed: {total} cases[/]" : $"[red]selftest FAILED: {failed} of {total} cases[/]");
            return failed == 0 ? ExitCodes.Ok : ExitCodes.Failure;
        }
    }
}
