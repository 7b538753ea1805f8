using System;
using System.Collections.Generic;
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
        /// <remarks>On an interactive console the weights' upload and the kernels' compilation show as progress bars; the
        /// backend's notes follow them. Either way a line says what the kernels cost.</remarks>
        /// <param name="weights">Rank r's weights of the model's split, read when the rank is loaded (<see cref="BackendSelection.Open(BackendKind, CompiledModel, string, string, Func{int, CheckpointTensors}, GpuModelOptions, bool, Action{string}, bool)"/>).</param>
        /// <param name="stagedExchange">--tp-staged: GPU ranks exchange through host memory and may share GPUs.</param>
        public static OpenedBackend Open(string kind, CompiledModel model, SpecText spec, Func<int, CheckpointTensors> weights, GpuModelOptions gpuOptions, string tiles,
            IAnsiConsole console, bool stagedExchange = false)
        {
            var backend = Check(kind);
            GpuCommands.CheckTiles(tiles);
            void Note(string line) => console.MarkupLine("[grey]" + Markup.Escape(line) + "[/]");
            OpenedBackend Run(IProgress<LoadProgress>? progress, Action<string> log) => GpuCommands.Tuned(() =>
                BackendSelection.Open(backend, model, spec.Path, spec.Text, weights, gpuOptions with { Progress = progress }, tiles == GpuCommands.TunedOrSpecTiles, log, stagedExchange));
            try
            {
                OpenedBackend opened;
                if (backend == BackendKind.Cpu || !console.Profile.Capabilities.Interactive) opened = Run(null, Note);
                else
                {
                    var notes = new List<string>();
                    opened = console.Progress().AutoClear(true).Start(context => Run(new ProgressBars(context), line => { lock (notes) notes.Add(line); }));
                    notes.ForEach(Note);
                }
                if (opened.Backend is GpuModel gpu && gpu.KernelLoad is { Kernels: > 0 } k)
                    Note($"kernels: {k.Kernels} for {opened.Device!.Info.Arch}, {k.Kernels - k.FromCache} compiled with NVRTC and {k.FromCache} from the cache, in {k.Elapsed.TotalSeconds:0.00} s");
                return opened;
            }
            catch (BackendUnavailableException e)
            {
                throw new CliException(ExitCodes.Failure, (backend == BackendKind.Gpu ? "--backend gpu: " : "") + e.Message);
            }
        }
    }

    /// <summary>One Spectre progress bar a loading stage, updated from whichever thread reports.</summary>
    internal sealed class ProgressBars : IProgress<LoadProgress>
    {
        private readonly ProgressContext _context;
        private readonly Dictionary<string, ProgressTask> _bars = new Dictionary<string, ProgressTask>();

        public ProgressBars(ProgressContext context) => _context = context;

        public void Report(LoadProgress value)
        {
            lock (_bars)
            {
                if (!_bars.TryGetValue(value.Stage, out var bar)) _bars[value.Stage] = bar = _context.AddTask(value.Stage, maxValue: value.Total);
                bar.Value = value.Done;
            }
        }
    }
}
