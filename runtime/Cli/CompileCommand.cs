using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Threading.Tasks;
using GraphCompiler.Runtime.Compilation;
using GraphCompiler.Runtime.Nvrtc;
using Spectre.Console;

namespace GraphCompiler.Runtime.Cli
{
    /// <summary>graphc compile SPEC --arch A: NVRTC-compiles every emitted kernel (no GPU needed) and reports each one.</summary>
    internal static class CompileCommand
    {
        public static int Run(string spec, string arch, bool fillCache, IAnsiConsole console)
        {
            var archs = ArchOption.Parse(arch);
            var model = SpecLoader.Compile(spec, console).Rank;   // a split spec's: what each GPU runs
            (int Major, int Minor) version;
            try
            {
                version = NvrtcCompiler.Version;
            }
            catch (NvrtcUnavailableException e)
            {
                throw new CliException(ExitCodes.Failure, e.Message);
            }
            var cache = fillCache ? KernelCache.Default() : null;
            console.MarkupLine($"NVRTC {version.Major}.{version.Minor}" + (cache != null ? $"; CUBINs cached in {Markup.Escape(cache.Folder)}" : ""));
            cache?.RemoveStaleTemporaries();
            int failed = 0;
            foreach (var (tiles, target) in archs)
            {
                var kernels = model.KernelsFor(tiles);
                var results = new ConcurrentDictionary<string, (KernelCompilation Result, double Seconds)>();
                var fromCache = new ConcurrentDictionary<string, bool>();
                try
                {
                    Parallel.ForEach(kernels.Where(k => k.IsEmitted), k =>
                    {
                        var clock = Stopwatch.StartNew();
                        KernelCompilation result;
                        if (cache != null)
                        {
                            (result, bool cached) = cache.GetOrCompile(k, target);
                            fromCache[k.Name] = cached;
                        }
                        else result = NvrtcCompiler.Compile(k, target);
                        results[k.Name] = (result, clock.Elapsed.TotalSeconds);
                    });
                }
                catch (System.AggregateException e) when (e.InnerExceptions.All(x => x is NvrtcException))
                {
                    throw new CliException(ExitCodes.Failure, e.InnerExceptions[0].Message);
                }
                var table = new Table().Title($"{Markup.Escape(model.Spec.Name)} for {target}").AddColumn("kernel").AddColumn("result")
                    .AddColumn(new TableColumn("CUBIN bytes").RightAligned()).AddColumn(new TableColumn("seconds").RightAligned());
                foreach (var k in kernels)
                {
                    if (!k.IsEmitted)
                    {
                        table.AddRow(Markup.Escape(k.Name), $"[grey]pending: {Markup.Escape(k.PendingReason ?? "")}[/]", "", "");
                        continue;
                    }
                    var (result, seconds) = results[k.Name];
                    if (!result.Succeeded) failed++;
                    string ok = fromCache.TryGetValue(k.Name, out bool hit) ? (hit ? "[green]ok (cached)[/]" : "[green]ok (compiled, cached)[/]") : "[green]ok[/]";
                    table.AddRow(Markup.Escape(k.Name), result.Succeeded ? ok : "[red]FAILED[/]",
                        result.Cubin?.Length.ToString("N0", CultureInfo.InvariantCulture) ?? "", seconds.ToString("0.00", CultureInfo.InvariantCulture));
                }
                console.Write(table);
                foreach (var (name, (result, _)) in results.Where(r => !r.Value.Result.Succeeded).OrderBy(r => r.Key))
                {
                    console.MarkupLine($"[red]{Markup.Escape(name)} ({target}) failed to compile:[/]");
                    foreach (var line in result.OffendingLines) console.WriteLine(line);
                    console.WriteLine(result.Log);
                }
            }
            if (failed > 0)
            {
                console.MarkupLine($"[red]{failed} kernel(s) failed to compile[/]");
                return ExitCodes.Failure;
            }
            return ExitCodes.Ok;
        }
    }
}
