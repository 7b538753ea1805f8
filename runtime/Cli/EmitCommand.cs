using System.IO;
using System.Linq;
using Spectre.Console;

namespace GraphCompiler.Runtime.Cli
{
    /// <summary>graphc emit SPEC --arch A --out DIR: each emitted kernel as DIR/[arch/]name.cu; pending kernels are listed.</summary>
    internal static class EmitCommand
    {
        public static int Run(string spec, string arch, string outDir, IAnsiConsole console)
        {
            var archs = ArchOption.Parse(arch);
            var model = SpecLoader.Compile(spec, console).Rank;   // a split spec's: what each GPU runs
            foreach (var (tiles, target) in archs)
            {
                string dir = archs.Count > 1 ? Path.Combine(outDir, target) : outDir;
                Directory.CreateDirectory(dir);
                var kernels = model.KernelsFor(tiles);
                foreach (var k in kernels.Where(k => k.IsEmitted))
                    File.WriteAllText(Path.Combine(dir, k.FileName), k.Source);
                console.MarkupLine($"{target}: wrote {kernels.Count(k => k.IsEmitted)} kernels to {Markup.Escape(dir)}");
                foreach (var k in kernels.Where(k => !k.IsEmitted))
                    console.MarkupLine($"  [grey]pending {Markup.Escape(k.Name)}: {Markup.Escape(k.PendingReason ?? "")}[/]");
            }
            return ExitCodes.Ok;
        }
    }
}
