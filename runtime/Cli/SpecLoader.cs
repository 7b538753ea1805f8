using System;
using System.IO;
using System.Linq;
using GraphCompiler.Compilation;
using GraphCompiler.Models;
using GraphCompiler.Spec;
using Spectre.Console;

namespace GraphCompiler.Runtime.Cli
{
    /// <summary>A spec's file name and text (for a built-in spec, the text compiled into graphc).</summary>
    internal sealed record SpecText(string Path, string Text);

    /// <summary>Resolves a SPEC argument (a YAML path, or the name of a spec compiled into graphc) and compiles it.</summary>
    internal static class SpecLoader
    {
        public static SpecText Read(string spec)
        {
            if (File.Exists(spec)) return new SpecText(spec, File.ReadAllText(spec));
            var builtIn = SpecCatalog.All.FirstOrDefault(e => e.Name == spec);
            if (builtIn != null) return new SpecText("specs/" + builtIn.File, builtIn.Yaml);
            if (Directory.Exists(spec))
                throw new CliException(ExitCodes.Usage, $"'{spec}' is a folder; give a spec file such as {Path.Combine(spec, "llama2-70b.yaml")}");
            throw new CliException(ExitCodes.Usage,
                $"no spec file '{spec}', and no built-in spec of that name. Built-in specs: {string.Join(", ", SpecCatalog.All.Select(e => e.Name))}");
        }

        /// <summary>Compiles the spec; prints its diagnostics (warnings too) and throws a spec error when it has errors.</summary>
        public static CompiledModel Compile(string spec, IAnsiConsole console) => CompileWithSources(spec, console).Model;

        /// <summary>As <see cref="Compile"/>, with the spec's source map, for reports that point into the spec file.</summary>
        public static (CompiledModel Model, SpecSourceMap Sources) CompileWithSources(string spec, IAnsiConsole console)
        {
            var (path, text) = Read(spec);
            var (parse, model) = ModelCompiler.Compile(path, text);
            Print(parse, console);
            if (model is null)
                throw new CliException(ExitCodes.SpecError, $"{path}: {parse.Diagnostics.Count(d => d.IsError)} error(s); nothing was compiled");
            return (model, parse.SourceMap);
        }

        /// <summary>The model split over <paramref name="ranks"/> GPUs (--tp), checked as `parallel.tensor` would be; a usage error names why not.</summary>
        public static CompiledModel SplitOver(CompiledModel model, int ranks)
        {
            var s = model.Spec;
            if (Array.IndexOf(ParallelSpec.TensorSizes, ranks) < 0)
                throw new CliException(ExitCodes.Usage, $"--tp {ranks}: allowed {string.Join(", ", ParallelSpec.TensorSizes)} (the GPUs of one host)");
            if (ranks == s.Parallel.Tensor) return model;
            var problems = ParallelSpec.Problems(ranks, s).ToList();
            if (problems.Count > 0)
                throw new CliException(ExitCodes.Usage, $"--tp {ranks} does not split {s.Name}: " + string.Join("; ", problems));
            return ModelCompiler.Compile(s with { Parallel = new ParallelSpec(ranks) });
        }

        public static void Print(SpecParseResult parse, IAnsiConsole console)
        {
            foreach (var d in parse.Diagnostics)
                console.MarkupLine((d.IsError ? "[red]" : "[yellow]") + Markup.Escape(d.ToString()) + "[/]");
        }
    }
}
