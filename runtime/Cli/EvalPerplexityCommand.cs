using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Compilation;
using GraphCompiler.Runtime.Cpu;
using GraphCompiler.Spec;
using Spectre.Console;

namespace GraphCompiler.Runtime.Cli
{
    /// <summary>
    /// graphc eval-ppl SPEC --model DIR --text FILE: perplexity of the spec's numerics (weights, KV cache) on held-out text,
    /// on the CPU backend. Each line is a paragraph: BOS, its tokens, EOS, as train_small.py builds its held-out stream.
    /// </summary>
    internal static class EvalPerplexityCommand
    {
        public static int Run(string spec, string modelPath, string textPath, int window, IAnsiConsole console)
        {
            if (!File.Exists(textPath)) throw new CliException(ExitCodes.Usage, $"--text '{textPath}' does not exist");
            if (window < 2) throw new CliException(ExitCodes.Usage, $"--window must be at least 2, not {window}");
            var (model, sources) = SpecLoader.CompileWithSources(spec, console);
            if (window > model.Spec.Limits.MaxSeqLen)
                throw new CliException(ExitCodes.Usage, $"--window {window} exceeds limits.max_seq_len ({model.Spec.Limits.MaxSeqLen})");
            var tokenizer = RunCommand.OpenTokenizer(modelPath);
            var stream = tokenizer.EncodeParagraphs(File.ReadLines(textPath));
            // Perplexity is the whole model's: a split spec is scored on one CPU model.
            if (model.Spec.Parallel.Tensor > 1) model = ModelCompiler.Compile(model.Spec with { Parallel = ParallelSpec.Single });
            CpuModel cpu;
            using (var checkpoint = RunCommand.OpenCheckpoint(modelPath)) cpu = new CpuModel(model, RunCommand.LoadCheckpoint(checkpoint, model, sources, console));
            var clock = Stopwatch.StartNew();
            PerplexityResult result;
            try
            {
                result = Perplexity.Evaluate(cpu, stream, window);
            }
            catch (System.ArgumentException e)
            {
                throw new CliException(ExitCodes.Usage, e.Message);
            }
            console.MarkupLine($"{Markup.Escape(model.Spec.Name)} ({Markup.Escape(string.Join(", ", model.Plan.Kernels.OfType<GraphCompiler.Graph.GemmKernel>().Select(g => g.Scheme.Describe()).Distinct()))}; "
                + $"KV {model.Spec.KvCache.DType.SpecName()}) on {Markup.Escape(Path.GetFileName(textPath))}: {stream.Count} tokens, {result.Windows} windows of {window}");
            console.MarkupLine($"perplexity [bold]{result.Perplexity.ToString("0.00", CultureInfo.InvariantCulture)}[/] over {result.Predictions} predictions "
                + $"(CPU backend, {clock.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s)");
            return ExitCodes.Ok;
        }
    }
}
