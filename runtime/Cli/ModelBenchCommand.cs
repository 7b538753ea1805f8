using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Runtime.Bench;
using GraphCompiler.Runtime.Compilation;
using GraphCompiler.Runtime.Cuda;
using GraphCompiler.Runtime.Execution;
using GraphCompiler.Runtime.Memory;
using Spectre.Console;

namespace GraphCompiler.Runtime.Cli
{
    /// <summary>
    /// graphc bench SPEC --synthetic: the whole model with random weights made on the GPU, prefill tokens/s per prompt
    /// length and decode tokens/s per batch size at a context, against the bandwidth bound, plus device memory by
    /// component (<see cref="ModelBench"/>).
    /// </summary>
    internal static class ModelBenchCommand
    {
        public static int Run(string spec, string prompts, string batches, int context, int steps, bool json, IAnsiConsole console, TextWriter output)
        {
            var promptLengths = BenchCommand.ParseRows(prompts, "--prompts", "prompt length");
            var batchSizes = BenchCommand.ParseRows(batches, "--batches", "batch size");
            var model = SpecLoader.Compile(spec, console);
            var limits = model.Spec.Limits;
            if (batchSizes.Max() > limits.MaxNumSeqs)
                throw new CliException(ExitCodes.Usage, $"--batches: {batchSizes.Max()} sequences exceed limits.max_num_seqs ({limits.MaxNumSeqs})");
            if (context + steps + 8 > limits.MaxSeqLen || promptLengths.Max() > Math.Min(limits.MaxSeqLen, limits.MaxInputLen))
                throw new CliException(ExitCodes.Usage, $"--context {context} + --steps {steps} and --prompts up to {promptLengths.Max()} must fit limits.max_seq_len ({limits.MaxSeqLen}) and max_input_len ({limits.MaxInputLen})");
            if (steps < 1) throw new CliException(ExitCodes.Usage, $"--steps must be at least 1, not {steps}");

            using var device = GpuCommands.OpenDevice();
            var allocator = GpuCommands.BudgetAllocator(limits, device.Info.TotalMemoryBytes);
            var kernels = new GpuKernels(device, KernelCache.Default(), GpuCommands.Target(device));
            double copy;
            using (var stream = new CudaStream()) copy = new KernelBench(kernels).CopyBandwidth(stream);
            // Whole blocks per sequence: the context, the untimed and timed steps, and a block of slack.
            int blockSize = model.Spec.KvCache.BlockSize;
            long perSequence = ((long)context + steps + 8 + blockSize - 1) / blockSize * blockSize + blockSize;
            long kvTokens = Math.Max(batchSizes.Max() * perSequence, promptLengths.Max() + 2L * blockSize);
            GpuModel gpu;
            try
            {
                gpu = GpuModel.Synthetic(model, kernels, allocator, 1234, new GpuModelOptions(KvTokens: kvTokens));
            }
            catch (Exception e) when (e is MemoryBudgetException or NotSupportedException or KernelCompileException)
            {
                throw new CliException(ExitCodes.Failure, e.Message);
            }
            using (gpu)
            {
                var timings = ModelBench.Run(gpu, promptLengths, batchSizes, context, steps, copy, 7).ToList();
                var ledger = allocator.Ledger;
                var memory = new[] { MemoryComponent.Weights, MemoryComponent.KvCache, MemoryComponent.Workspace }.Select(c => (c, ledger.Used(c))).ToList();
                if (json)
                {
                    output.WriteLine(Json(model.Spec.Name, device.Info, copy, gpu, timings, memory));
                    return ExitCodes.Ok;
                }
                console.MarkupLine($"{Markup.Escape(gpu.Description)}; synthetic weights; measured copy bandwidth {copy / 1e9:0} GB/s");
                console.MarkupLine("device memory: " + string.Join(", ", memory.Select(x => $"{x.c} {ByteSize.Format(x.Item2)}")) + $" of a {ByteSize.Format(ledger.BudgetBytes)} budget");
                var table = new Table().AddColumn("phase").AddColumn(new TableColumn("batch").RightAligned()).AddColumn(new TableColumn("tokens / context").RightAligned())
                    .AddColumn(new TableColumn("ms/step").RightAligned()).AddColumn(new TableColumn("tokens/s").RightAligned())
                    .AddColumn(new TableColumn("bound tokens/s").RightAligned()).AddColumn(new TableColumn("% of bound").RightAligned()).AddColumn(new TableColumn("TFLOP/s").RightAligned());
                foreach (var t in timings)
                    table.AddRow(t.Phase, t.Batch.ToString(CultureInfo.InvariantCulture), t.Tokens.ToString(CultureInfo.InvariantCulture), F(t.MillisecondsPerStep, "0.00"),
                        F(t.TokensPerSecond, "0.0"), t.BoundTokensPerSecond is double b ? F(b, "0.0") : "", t.FractionOfBound is double f ? F(100 * f, "0") : "", F(t.Tflops ?? 0, "0.0"));
                console.Write(table);
            }
            return ExitCodes.Ok;
        }

        private static string F(double x, string format) => x.ToString(format, CultureInfo.InvariantCulture);

        private static string Json(string spec, CudaDeviceInfo device, double copy, GpuModel gpu, List<ModelTiming> timings, List<(MemoryComponent Component, long Bytes)> memory)
        {
            using var stream = new MemoryStream();
            using (var w = new System.Text.Json.Utf8JsonWriter(stream, new System.Text.Json.JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteString("spec", spec);
                w.WriteString("gpu", device.ToString());
                w.WriteString("backend", gpu.Description);
                w.WriteNumber("copy_bytes_per_second", copy);
                w.WriteStartObject("memory_bytes");
                foreach (var (c, b) in memory) w.WriteNumber(c.ToString(), b);
                w.WriteEndObject();
                w.WriteStartArray("timings");
                foreach (var t in timings)
                {
                    w.WriteStartObject();
                    w.WriteString("phase", t.Phase);
                    w.WriteNumber("batch", t.Batch);
                    w.WriteNumber("tokens", t.Tokens);
                    w.WriteNumber("ms_per_step", t.MillisecondsPerStep);
                    w.WriteNumber("tokens_per_second", t.TokensPerSecond);
                    if (t.BoundTokensPerSecond is double b) w.WriteNumber("bound_tokens_per_second", b);
                    if (t.FractionOfBound is double f) w.WriteNumber("fraction_of_bound", f);
                    if (t.Tflops is double tf) w.WriteNumber("tflops", tf);
                    w.WriteNumber("bytes_per_step", t.BytesPerStep);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            return System.Text.Encoding.UTF8.GetString(stream.ToArray());
        }
    }
}
