using System.IO;
using GraphCompiler.Compilation;
using GraphCompiler.Runtime.Cpu;
using GraphCompiler.Runtime.Execution;
using Spectre.Console;

namespace GraphCompiler.Runtime.Cli
{
    /// <summary>--backend auto|gpu|cpu and --tiles auto|spec on the command line (<see cref="BackendSelection"/>).</summary>
    internal static class Backends
    {
        public const string Auto = "auto", Gpu = "gpu", Cpu = "cpu";

        public static BackendKind Check(string kind) => kind switch
        {
            Auto => BackendKind.Auto,
            Gpu => BackendKind.Gpu,
            Cpu => BackendKind.Cpu,
            _ => throw new CliException(ExitCodes.Usage, $"--backend '{kind}' is not one of auto, gpu, cpu"),
        };

        /// <param name="tiles">Where the GPU's tiles come from: auto (tuned where the tuning database has them) or spec.</param>
        public static OpenedBackend Open(string kind, CompiledModel model, SpecText spec, CheckpointTensors weights, GpuModelOptions gpuOptions, string tiles, IAnsiConsole console)
        {
            var backend = Check(kind);
            GpuCommands.CheckTiles(tiles);
            try
            {
                return BackendSelection.Open(backend, model, spec.Path, spec.Text, weights, gpuOptions, tiles == GpuCommands.TunedOrSpecTiles,
                    line => console.MarkupLine("[grey]" + Markup.Escape(line) + "[/]"));
            }
            catch (BackendUnavailableException e)
            {
                throw new CliException(ExitCodes.Failure, (backend == BackendKind.Gpu ? "--backend gpu: " : "") + e.Message);
            }
            catch (InvalidDataException e)
            {
                throw new CliException(ExitCodes.Usage, e.Message);
            }
        }
    }
}
