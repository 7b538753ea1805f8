using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Runtime.Checkpoints;
using GraphCompiler.Runtime.Cpu;
using GraphCompiler.Runtime.Sampling;
using GraphCompiler.Runtime.Text;
using Spectre.Console;

namespace GraphCompiler.Runtime.Cli
{
    /// <summary>
    /// graphc run SPEC (--model DIR | --random-weights): prefill then greedy decode on the CPU backend, printing the
    /// generated token ids and the prompt and generation throughput. Text in and out comes with the tokenizer.
    /// </summary>
    internal static class RunCommand
    {
        private const int DefaultPromptLength = 16;
        /// <summary>The model folder's tokenizer.model; its absence is a usage error that says where it looked.</summary>
        internal static LlamaTextTokenizer OpenTokenizer(string modelPath)
        {
            try
            {
                return LlamaTextTokenizer.Open(modelPath);
            }
            catch (FileNotFoundException e)
            {
                throw new CliException(ExitCodes.Usage, e.Message);
            }
        }

        internal static CheckpointTensors LoadCheckpoint(string path, GraphCompiler.Compilation.CompiledModel model, GraphCompiler.Spec.SpecSourceMap sources, IAnsiConsole console)
        {
            try
            {
                using var checkpoint = Checkpoint.Open(path);
                var tensors = CheckpointLoader.Load(checkpoint, model, sources, out var report);
                if (report.QuantizedModules > 0)
                    console.MarkupLine($"quantized {report.QuantizedModules} modules on load (round-to-nearest, the spec's schemes) in {Seconds(report.QuantizeTime)}");
                return tensors;
            }
            catch (CheckpointException e)
            {
                throw new CliException(ExitCodes.SpecError, e.Message);
            }
        }

        private static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(0.5);

        public static int Run(string spec, string? modelPath, bool randomWeights, int seed, string? promptText, string? promptTokens, int steps,
            bool chat, string? system, SamplingParams sampling, IAnsiConsole console)
        {
            if (sampling.Problem() is string problem) throw new CliException(ExitCodes.Usage, problem.Replace("_", "-", StringComparison.Ordinal) + " (see --help)");
            if ((chat || system != null) && promptText is null)
                throw new CliException(ExitCodes.Usage, "--chat and --system format a --prompt TEXT as Llama-2-chat's [INST] … [/INST]; give --prompt");
            if (promptText != null && promptTokens != null)
                throw new CliException(ExitCodes.Usage, "give the prompt as --prompt TEXT or as --prompt-tokens IDS, not both");
            LlamaTextTokenizer? tokenizer = null;
            if (promptText != null)
            {
                if (modelPath is null)
                    throw new CliException(ExitCodes.Usage, "--prompt needs --model DIR: the text is tokenized with the model's tokenizer.model");
                tokenizer = OpenTokenizer(modelPath);
            }
            if (randomWeights == (modelPath != null))
                throw new CliException(ExitCodes.Usage, "graphc run needs either --model DIR (a safetensors checkpoint) or --random-weights");
            if (steps < 1) throw new CliException(ExitCodes.Usage, $"--steps must be at least 1, not {steps}");
            var (model, sources) = SpecLoader.CompileWithSources(spec, console);
            var m = model.Spec.Model;
            int[] prompt = tokenizer != null
                ? (chat || system != null ? LlamaChatTemplate.Encode(tokenizer, new[] { new ChatTurn(promptText!) }, system) : tokenizer.Encode(promptText!))
                : promptTokens is null ? DefaultPrompt(m.BosTokenId, m.VocabSize, seed) : ParseTokens(promptTokens);
            // The last generated token is not fed back, so the cache holds prompt + steps − 1 tokens.
            if (prompt.Length + steps - 1 > model.Spec.Limits.MaxSeqLen)
                throw new CliException(ExitCodes.Usage,
                    $"{prompt.Length} prompt tokens and {steps} steps need {prompt.Length + steps - 1} positions, more than limits.max_seq_len ({model.Spec.Limits.MaxSeqLen})");

            long need = CpuWeights.EstimateHostBytes(model), have = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
            if (need > have * 0.9)
                throw new CliException(ExitCodes.Failure,
                    $"the CPU backend keeps every weight as float32: {model.Spec.Name} needs about {ByteSize.Format(need)} of host memory, and this machine has "
                    + $"{ByteSize.Format(have)}. Use a smaller model on the CPU, or a GPU");
            console.MarkupLine($"CPU backend (no GPU used): {Markup.Escape(model.Spec.Name)}, {m.NumHiddenLayers} layers, {m.DType.SpecName()} activations, "
                + $"{model.Spec.KvCache.DType.SpecName()} KV cache; " + (modelPath is null ? $"random weights, seed {seed}" : "weights from " + Markup.Escape(modelPath))
                + $"; {Environment.ProcessorCount} threads");
            var clock = Stopwatch.StartNew();
            var cpu = new CpuModel(model, modelPath is null ? RandomCheckpoint.Create(model, seed) : LoadCheckpoint(modelPath, model, sources, console));
            console.MarkupLine($"weights ready in {Seconds(clock.Elapsed)} ({ByteSize.Format(cpu.Weights.LinearBytes)} of float32 GEMM weights)");

            try
            {
                // An untimed prefill and decode steps (half a second at most) first, so that the timings below are of
                // optimised code: .NET compiles a method quickly at first and optimises it once it has been called a while.
                var warm = cpu.NewSequence();
                int first = Argmax(cpu.Prefill(warm, prompt));
                clock.Restart();
                for (int i = 1; i < steps && clock.Elapsed < WarmUp; i++) first = Argmax(cpu.Decode(warm, first));

                var sequence = cpu.NewSequence();
                var sampler = new Sampler(sampling, prompt);
                clock.Restart();
                int next = sampler.Next(cpu.Prefill(sequence, prompt)).Token;
                var prefill = clock.Elapsed;
                var generated = new List<int> { next };
                clock.Restart();
                // With text, generation ends at the end-of-sentence token, as a chat would.
                while (generated.Count < steps && !(tokenizer != null && next == m.EosTokenId))
                    generated.Add(next = sampler.Next(cpu.Decode(sequence, next)).Token);
                var decode = clock.Elapsed;

                console.MarkupLine($"prompt ({prompt.Length} tokens): {string.Join(" ", prompt)}");
                string how = sampling.IsGreedy ? "greedy"
                    : string.Create(CultureInfo.InvariantCulture, $"sampled: temperature {sampling.Temperature}, top-k {sampling.TopK}, top-p {sampling.TopP}, min-p {sampling.MinP}, seed {sampling.Seed}");
                console.MarkupLine($"generated ({generated.Count} tokens, {Markup.Escape(how)}): {string.Join(" ", generated)}");
                if (tokenizer != null)
                    console.MarkupLine(Markup.Escape(tokenizer.Decode(prompt.Concat(generated))));
                // The first generated token comes from the prefill's logits; each decode step yields one more.
                string decodeRate = generated.Count > 1 ? Rate(generated.Count - 1, decode) : "n/a (the one token came from the prefill)";
                console.MarkupLine($"CPU backend: prompt {prompt.Length} tokens at {Rate(prompt.Length, prefill)}, generated {generated.Count} tokens at {decodeRate}");
            }
            catch (ArgumentException e)
            {
                // A bad token id: the backend's message, without the parameter name it appends.
                string suffix = e.ParamName is null ? "" : $" (Parameter '{e.ParamName}')";
                throw new CliException(ExitCodes.Usage, e.Message.EndsWith(suffix, StringComparison.Ordinal) ? e.Message[..^suffix.Length] : e.Message);
            }
            return ExitCodes.Ok;
        }

        /// <summary>BOS, then ids drawn from the seed: a stand-in prompt until text comes with the tokenizer.</summary>
        private static int[] DefaultPrompt(int bos, int vocab, int seed)
        {
            var rng = new Random(seed);
            return new[] { bos }.Concat(Enumerable.Range(1, DefaultPromptLength - 1).Select(_ => rng.Next(vocab))).ToArray();
        }

        private static int[] ParseTokens(string text)
        {
            var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            var ids = new int[parts.Length];
            for (int i = 0; i < parts.Length; i++)
                if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out ids[i]))
                    throw new CliException(ExitCodes.Usage, $"--prompt-tokens: '{parts[i]}' is not a token id; expected ids separated by commas, e.g. 1,2,3");
            if (ids.Length == 0) throw new CliException(ExitCodes.Usage, "--prompt-tokens is empty; expected ids separated by commas, e.g. 1,2,3");
            return ids;
        }

        private static int Argmax(float[] logits)
        {
            int best = 0;
            for (int i = 1; i < logits.Length; i++)
                if (logits[i] > logits[best]) best = i;
            return best;
        }

        private static string Rate(int tokens, TimeSpan elapsed) =>
            (tokens / Math.Max(elapsed.TotalSeconds, 1e-9)).ToString("0.0", CultureInfo.InvariantCulture) + " tokens/s";

        private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture) + " s";
    }
}
