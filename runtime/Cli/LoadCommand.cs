using System;
using System.Globalization;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Runtime.Checkpoints;
using GraphCompiler.Runtime.Cuda;
using GraphCompiler.Runtime.Memory;
using GraphCompiler.Runtime.Weights;
using Spectre.Console;

namespace GraphCompiler.Runtime.Cli
{
    /// <summary>
    /// graphc load SPEC --model DIR [--gpu-memory SIZE]: checks a checkpoint against the spec, streams its weights to the
    /// GPU within the spec's memory budget (progress with rate and ETA), then reads a sample back to verify the copy.
    /// </summary>
    internal static class LoadCommand
    {
        public static int Run(string spec, string modelPath, string? gpuMemory, IAnsiConsole console)
        {
            var (model, sources) = SpecLoader.CompileWithSources(spec, console);
            if (model.Spec.Parallel.Tensor > 1)
                throw new CliException(ExitCodes.Usage, $"{model.Spec.Name} is split over {model.Spec.Parallel.Tensor} GPUs, and graphc load streams a whole checkpoint to one GPU; "
                    + "a split's ranks each read their shards as generate or run opens them (--tp N), and graphc inspect --spec checks the checkpoint");
            using var checkpoint = OpenChecked(modelPath, model, sources);
            using var device = GpuCommands.OpenDevice();
            long? memory = device.Info.TotalMemoryBytes;
            if (gpuMemory != null)
                memory = ByteSize.TryParse(gpuMemory, out long b) ? b : throw new CliException(ExitCodes.Usage, $"--gpu-memory '{gpuMemory}' is not a size; expected {ByteSize.Accepted}");
            var allocator = DeviceAllocator.WithinBudget(model.Spec.Limits, memory.Value);
            console.MarkupLine($"{Markup.Escape(device.Info.ToString())}; budget {ByteSize.Format(allocator.Ledger.BudgetBytes)} ({Markup.Escape(allocator.Ledger.BudgetSource)})");

            using var stream = new CudaStream();
            int reported = -1;
            var progress = new Progress(p =>
            {
                int tenth = (int)(10 * p.BytesDone / Math.Max(1, p.BytesTotal));
                if (tenth == reported) return;
                reported = tenth;
                console.MarkupLine($"  {100.0 * p.BytesDone / Math.Max(1, p.BytesTotal),5:0}%  {ByteSize.Format(p.BytesDone)} of {ByteSize.Format(p.BytesTotal)}"
                    + $"  {p.BytesPerSecond / 1e9:0.0} GB/s  ETA {p.Remaining.TotalSeconds:0.0} s");
            });
            DeviceWeights weights;
            try
            {
                weights = GpuWeightLoader.Load(checkpoint, model, allocator, stream, progress);
            }
            catch (MemoryBudgetException e)
            {
                throw new CliException(ExitCodes.Failure, e.Message);
            }
            using (weights)
            {
                var verified = Verify(checkpoint, weights, stream);
                var last = progress.Last;
                console.MarkupLine($"loaded {weights.Tensors.Count} tensors, {ByteSize.Format(weights.Bytes)} in {last.Elapsed.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture)} s "
                    + $"= [bold]{(last.BytesPerSecond / 1e9).ToString("0.0", CultureInfo.InvariantCulture)} GB/s[/]; read back {verified} tensors: identical");
            }
            return ExitCodes.Ok;
        }

        private static Checkpoint OpenChecked(string path, GraphCompiler.Compilation.CompiledModel model, GraphCompiler.Spec.SpecSourceMap sources)
        {
            Checkpoint? checkpoint = null;
            try
            {
                checkpoint = Checkpoint.Open(path);
                var check = ManifestCheck.Run(checkpoint, model, sources);
                if (!check.Matches)
                    throw check.Mismatch(path, model.Spec.Name);
                return checkpoint;
            }
            catch (CheckpointException e)
            {
                checkpoint?.Dispose();
                throw new CliException(ExitCodes.SpecError, e.Message);
            }
        }

        /// <summary>Reads the first, a middle and the last tensor back from the GPU and compares them with the file.</summary>
        private static int Verify(Checkpoint checkpoint, DeviceWeights weights, CudaStream stream)
        {
            var names = weights.Tensors.Keys.ToList();
            var sample = new[] { names[0], names[names.Count / 2], names[^1] }.Distinct().ToList();
            foreach (var name in sample)
            {
                checkpoint.TryGet(name, out var tensor);
                var back = weights.Tensors[name].Buffer.Download<byte>(stream);
                if (!tensor.Span.SequenceEqual(back.AsSpan(0, (int)tensor.ByteLength)))
                    throw new CliException(ExitCodes.Failure, $"{name} differs after the copy to the GPU");
            }
            return sample.Count;
        }

        /// <summary>Reports synchronously (the loader runs on this thread) and keeps the last report.</summary>
        private sealed class Progress : IProgress<LoadProgress>
        {
            private readonly Action<LoadProgress> _report;
            public Progress(Action<LoadProgress> report) => _report = report;
            public LoadProgress Last { get; private set; }

            public void Report(LoadProgress value)
            {
                Last = value;
                _report(value);
            }
        }
    }
}
