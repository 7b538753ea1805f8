using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;
using GraphCompiler.Common;
using GraphCompiler.Runtime.Bench;
using GraphCompiler.Runtime.Compilation;
using GraphCompiler.Runtime.Cuda;
using GraphCompiler.Runtime.Execution;
using GraphCompiler.Runtime.Memory;
using GraphCompiler.Runtime.TensorParallel;
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
        /// <summary>What to run: prompt lengths and batch sizes as given on the command line, the decode context and timed
        /// steps, whether to profile one decode step per batch size, where the tiles come from (--tiles), and a tensor-parallel
        /// split (--tp, --tp-staged).</summary>
        /// <param name="OneRank">With a split: time rank 0's share alone on this GPU, no exchange (what one GPU of the split computes a step).</param>
        /// <param name="StepTokens">Tokens a sequence brings to a decode step, as given (--step-tokens): above 1, verification steps are timed too.</param>
        internal sealed record Options(string Prompts, string Batches, int Context, int Steps, bool Profile, string Tiles, int? Tp = null, bool TpStaged = false,
            bool OneRank = false, string StepTokens = "1");

        public static int Run(string spec, Options options, bool json, IAnsiConsole console, TextWriter output)
        {
            var (context, steps) = (options.Context, options.Steps);
            var promptLengths = BenchCommand.ParseRows(options.Prompts, "--prompts", "prompt length");
            var batchSizes = BenchCommand.ParseRows(options.Batches, "--batches", "batch size");
            var stepTokens = BenchCommand.ParseRows(options.StepTokens, "--step-tokens", "tokens a step");
            if (stepTokens.Max() > Spec.DecodeQueries.MaxStepTokens)
                throw new CliException(ExitCodes.Usage, $"--step-tokens: a decode step takes at most {Spec.DecodeQueries.MaxStepTokens} tokens a sequence, not {stepTokens.Max()}");
            GpuCommands.CheckTiles(options.Tiles);
            var model = SpecLoader.Compile(spec, console);
            if (options.Tp is int tp) model = SpecLoader.SplitOver(model, tp);
            if (options.OneRank)
            {
                if (model.Spec.Parallel.Tensor == 1) throw new CliException(ExitCodes.Usage, "--one-rank times one GPU's share of a split: give --tp N (or a spec with parallel.tensor)");
                if (!json) console.MarkupLine($"one rank of {model.Spec.Parallel.Tensor}: {model.Rank.Spec.Model.NumAttentionHeads} query / {model.Rank.Spec.Model.NumKeyValueHeads} KV heads, "
                    + $"MLP {model.Rank.Spec.Model.IntermediateSize}, alone on this GPU; the {2 * model.Spec.Model.NumHiddenLayers} all-reduces a step are not in these times");
            }
            bool split = model.Spec.Parallel.Tensor > 1 && !options.OneRank;
            if (split && options.Profile)
                throw new CliException(ExitCodes.Usage, "--profile times one GPU's launches one by one; a split model's ranks step together, so profile without --tp");
            var limits = model.Spec.Limits;
            if (batchSizes.Max() > limits.MaxNumSeqs)
                throw new CliException(ExitCodes.Usage, $"--batches: {batchSizes.Max()} sequences exceed limits.max_num_seqs ({limits.MaxNumSeqs})");
            if (context + steps + 8 > limits.MaxSeqLen || promptLengths.Max() > Math.Min(limits.MaxSeqLen, limits.MaxInputLen))
                throw new CliException(ExitCodes.Usage, $"--context {context} + --steps {steps} and --prompts up to {promptLengths.Max()} must fit limits.max_seq_len ({limits.MaxSeqLen}) and max_input_len ({limits.MaxInputLen})");
            if (steps < 1) throw new CliException(ExitCodes.Usage, $"--steps must be at least 1, not {steps}");

            using var device = GpuCommands.OpenDevice();
            // --json keeps stdout for the JSON: the tile lines go to stderr there.
            var notes = json ? AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) }) : console;
            var specText = SpecLoader.Read(spec);
            if (!split) model = GpuCommands.WithTiles(model, specText, device.Info, options.Tiles, notes).Rank;   // the model, or with --one-rank its rank
            var allocator = DeviceAllocator.WithinBudget(limits, device.Info.TotalMemoryBytes);
            var kernels = GpuKernels.For(device);
            double copy;
            using (var stream = new CudaStream()) copy = new KernelBench(kernels).CopyBandwidth(stream);
            // Whole blocks per sequence: the context, the untimed and timed steps, and a block of slack.
            int blockSize = model.Spec.KvCache.BlockSize;
            long perSequence = ((long)context + steps + 8 + blockSize - 1) / blockSize * blockSize + blockSize;
            long kvTokens = Math.Max(batchSizes.Max() * perSequence, promptLengths.Max() + 2L * blockSize);
            var gpuOptions = new GpuModelOptions(KvTokens: kvTokens);
            OpenedBackend opened;
            try
            {
                opened = split
                    ? GpuCommands.Tuned(() => BackendSelection.OpenGpuRanks(model, (r, rank, k, a, o) => GpuModel.Synthetic(rank, k, a, 1234 + r, o), gpuOptions, options.TpStaged,
                        specText.Path, specText.Text, options.Tiles == GpuCommands.TunedOrSpecTiles, line => notes.MarkupLine("[grey]" + Markup.Escape(line) + "[/]")))
                    : new OpenedBackend(GpuModel.Synthetic(model, kernels, allocator, 1234, gpuOptions), null, allocator);
            }
            catch (Exception e) when (e is MemoryBudgetException or NotSupportedException or KernelCompileException or GpuUnavailableException or NcclException or DllNotFoundException)
            {
                throw new CliException(ExitCodes.Failure, e.Message);
            }
            using (opened)
            {
                var backend = opened.Backend;
                var gpu = backend as GpuModel;
                var target = gpu != null ? ModelBench.Target.Of(gpu) : ModelBench.Target.Of((TensorParallelBackend)backend);
                var timings = ModelBench.Run(target, promptLengths, batchSizes, context, steps, copy, 7, stepTokens).ToList();
                var profiles = options.Profile ? batchSizes.Select(b => (Batch: b, Kernels: ModelBench.ProfileDecode(gpu!, b, context, 11))).ToList() : null;
                var ledger = allocator.Ledger;
                // A split model's ranks charge ledgers of their own: graphc plan --tp shows one GPU's share.
                var memory = split ? new List<(MemoryComponent c, long)>()
                    : new[] { MemoryComponent.Weights, MemoryComponent.KvCache, MemoryComponent.Workspace }.Select(c => (c, ledger.Used(c))).ToList();
                if (json)
                {
                    var report = new ModelBenchReport(model.Spec.Name, device.Info.ToString(), backend.Description, copy, memory.ToDictionary(x => x.c.ToString(), x => x.Item2),
                        timings, profiles?.Select(p => new DecodeProfile(p.Batch, p.Kernels)).ToList());
                    output.WriteLine(JsonSerializer.Serialize(report, ModelBenchJson.Default.ModelBenchReport));
                    return ExitCodes.Ok;
                }
 console.MarkupLine($"{Markup.Escape(backend.Description)}; synthetic weights; measured copy bandwidth {copy / 1e9:0} GB/s"
                    + (split ? "; decode's bound is one GPU's: its weight shards and its KV heads' cache" : ""));
                if (!split) console.MarkupLine("device memory: " + string.Join(", ", memory.Select(x => $"{x.c} {ByteSize.Format(x.Item2)}")) + $" of a {ByteSize.Format(ledger.BudgetBytes)} budget");
                var table = new Table().AddColumn("phase").AddColumn(new TableColumn("batch").RightAligned()).AddColumn(new TableColumn("tokens / context").RightAligned())
                    .AddColumn(new TableColumn("ms/step").RightAligned()).AddColumn(new TableColumn("tokens/s").RightAligned())
                    .AddColumn(new TableColumn("bound tokens/s").RightAligned()).AddColumn(new TableColumn("% of bound").RightAligned()).AddColumn(new TableColumn("TFLOP/s").RightAligned());
                foreach (var t in timings)
                    table.AddRow(t.Phase, t.Batch.ToString(CultureInfo.InvariantCulture), t.Tokens.ToString(CultureInfo.InvariantCulture), F(t.MillisecondsPerStep, "0.00"),
                        F(t.TokensPerSecond, "0.0"), t.BoundTokensPerSecond is double b ? F(b, "0.0") : "", t.FractionOfBound is double f ? F(100 * f, "0") : "", F(t.Tflops ?? 0, "0.0"));
                console.Write(table);
                foreach (var (batch, profile) in profiles ?? new())
                {
                    double total = profile.Sum(k => k.Microseconds);
                    var rows = new Table().Title($"decode step, batch {batch}, context {context}: {F(total / 1000, "0.00")} ms of kernels, launched one by one")
                        .AddColumn("kernel").AddColumn(new TableColumn("launches").RightAligned()).AddColumn(new TableColumn("µs").RightAligned())
                        .AddColumn(new TableColumn("% of step").RightAligned()).AddColumn(new TableColumn("weights GB/s").RightAligned())
                        .AddColumn(new TableColumn("% copy BW").RightAligned());
                    foreach (var k in profile)
                        rows.AddRow(Markup.Escape(k.Kernel), k.Launches.ToString(CultureInfo.InvariantCulture), F(k.Microseconds, "0"), F(100 * k.Share, "0.0"),
                            k.WeightBytesPerSecond is double r ? F(r / 1e9, "0") : "", k.WeightBytesPerSecond is double q ? F(100 * q / copy, "0") : "");
                    console.Write(rows);
                }
            }
            return ExitCodes.Ok;
        }

        private static string F(double x, string format) => x.ToString(format, CultureInfo.InvariantCulture);
    }

    /// <summary>graphc bench --synthetic --json: the run's figures, memory by component and the decode profiles (--profile).</summary>
    internal sealed record ModelBenchReport(string Spec, string Gpu, string Backend, double CopyBytesPerSecond, Dictionary<string, long> MemoryBytes,
        IReadOnlyList<ModelTiming> Timings, IReadOnlyList<DecodeProfile>? DecodeProfiles);

    internal sealed record DecodeProfile(int Batch, IReadOnlyList<KernelProfile> Kernels);

    /// <summary>Generated at build time: a trimmed graphc has no reflection-based serializer.</summary>
    [JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
    [JsonSerializable(typeof(ModelBenchReport))]
    internal sealed partial class ModelBenchJson : JsonSerializerContext
    {
    }
}
