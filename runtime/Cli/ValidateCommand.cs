using System.Linq;
using GraphCompiler.Compilation;
using Spectre.Console;

namespace GraphCompiler.Runtime.Cli
{
    /// <summary>graphc validate SPEC: every diagnostic of the spec, or a one-line summary of what it describes.</summary>
    internal static class ValidateCommand
    {
        public static int Run(string spec, IAnsiConsole console)
        {
            var (path, text) = SpecLoader.Read(spec);
            var (parse, model) = ModelCompiler.Compile(path, text);
            SpecLoader.Print(parse, console);
            if (model is null)
            {
                console.MarkupLine($"[red]{Markup.Escape(path)}: {parse.Diagnostics.Count(d => d.IsError)} error(s)[/]");
                return ExitCodes.SpecError;
            }
            var s = model.Spec;
            var m = s.Model;
            console.MarkupLine($"[green]{Markup.Escape(path)}: valid[/] — {Markup.Escape(s.Name)} ({Markup.Escape(s.Namespace)}.{Markup.Escape(s.ClassName)}): "
                + $"{m.NumHiddenLayers} layers, hidden {m.HiddenSize}, {m.NumAttentionHeads}/{m.NumKeyValueHeads} heads of {m.HeadDim}, "
                + $"{model.Plan.Kernels.Count} kernels, {model.Manifest.Count} checkpoint tensors");
            return ExitCodes.Ok;
        }
    }
}
