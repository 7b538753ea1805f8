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

        public static void Print(SpecParseResult parse, IAnsiConsole console)
        {
            foreach (var d in parse.Diagnostics)
                console.MarkupLine((d.IsError ? "[red]" : "[yellow]") + Markup.Escape(d.ToString()) + "[/]");
        }
    }
}
