using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Runtime.Checkpoints;
using GraphCompiler.Runtime.Cpu;
using GraphCompiler.Runtime.Execution;
using GraphCompiler.Runtime.Generation;
using GraphCompiler.Runtime.Memory;
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

        /// <summary>Rank <paramref name="rank"/>'s weights of the model's split (all of them without one), read from its
        /// shards of the open checkpoint; a checkpoint that does not match the spec is a spec error naming every difference.</summary>
        internal static CheckpointTensors LoadCheckpoint(Checkpoint checkpoint, GraphCompiler.Compilation.CompiledModel model, GraphCompiler.Spec.SpecSourceMap sources,
            IAnsiConsole console, int rank = 0)
        {
            try
            {
                var tensors = CheckpointLoader.Load(checkpoint, model, sources, out var report, rank);
                if (report.QuantizedModules > 0)
                    console.MarkupLine($"quantized {report.QuantizedModules} modules on load (round-to-nearest, the spec's schemes) in {Seconds(report.QuantizeTime)}"
                        + (model.Spec.Parallel.Tensor > 1 ? $" for rank {rank}" : ""));
                return tensors;
            }
            catch (CheckpointException e)
            {
                throw new CliException(ExitCodes.SpecError, e.Message);
            }
        }

        internal static Checkpoint OpenCheckpoint(string path)
        {
            try
            {
                return Checkpoint.Open(path);
            }
            catch (CheckpointException e)
            {
                throw new CliException(ExitCodes.SpecError, e.Message);
            }
        }

        private static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(0.5);

        /// <summary>How a run is set up and reported, beyond the prompt and sampling.</summary>
        /// <param name="Backend">auto, gpu or cpu (<see cref="Backends"/>).</param>
        /// <param name="Stream">Print the text as each token comes.</param>
        /// <param name="LogitsOut">Write every step's logits (fp32 [steps, vocab]) here and the tokens to the same path + .json.</param>
        /// <param name="Tiles">GPU tiles: auto (tuned where the tuning database has them for this GPU) or spec.</param>
        /// <param name="Stop">Strings that end generation (the text ends before them); they need text, so --prompt.</param>
        /// <param name="Logprobs">Print each generated token's log-probability (as the sampler chose it, on either backend).</param>
        /// <param name="Tp">Tensor-parallel ranks instead of the spec's parallel.tensor.</param>
        /// <param name="TpStaged">GPU ranks exchange through host memory and may share GPUs.</param>
        internal sealed record RunOptions(string Backend = Backends.Auto, bool Stream = false, string? LogitsOut = null, bool CudaGraphs = true,
            string Tiles = GpuCommands.TunedOrSpecTiles, IReadOnlyList<string>? Stop = null, bool Logprobs = false, int? Tp = null, bool TpStaged = false,
            int DraftTokens = 0);

        public static int Run(string spec, string? modelPath, bool randomWeights, int seed, string? promptText, string? promptTokens, int steps,
            bool chat, string? system, SamplingParams sampling, IAnsiConsole console, RunOptions? options = null)
        {
            options ??= new RunOptions();
            Backends.Check(options.Backend);
            GpuCommands.CheckTiles(options.Tiles);
            if (steps < 1) throw new CliException(ExitCodes.Usage, $"--steps must be at least 1, not {steps}");
            // With text, generation ends at the end-of-sentence token (as a chat would) or a stop string.
            var parameters = new GenerationParams(steps, sampling, options.Stop, IgnoreEos: promptText is null, DraftTokens: options.DraftTokens);
            if (parameters.Problem() is string problem) throw new CliException(ExitCodes.Usage, problem.Replace("_", "-", StringComparison.Ordinal) + " (see --help)");
            if ((chat || system != null) && promptText is null)
                throw new CliException(ExitCodes.Usage, "--chat and --system format a --prompt TEXT as Llama-2-chat's [INST] … [/INST]; give --prompt");
            if (promptText != null && promptTokens != null)
                throw new CliException(ExitCodes.Usage, "give the prompt as --prompt TEXT or as --prompt-tokens IDS, not both");
            if (options.Stream && promptText is null)
                throw new CliException(ExitCodes.Usage, "--stream prints text as it is generated; it needs --prompt TEXT (and the model's tokenizer)");
            if (options.Stop is { Count: > 0 } && promptText is null)
                throw new CliException(ExitCodes.Usage, "--stop ends generation at a string of the text; it needs --prompt TEXT (and the model's tokenizer)");
            LlamaTextTokenizer? tokenizer = null;
            if (promptText != null)
            {
                if (modelPath is null)
                    throw new CliException(ExitCodes.Usage, "--prompt needs --model DIR: the text is tokenized with the model's tokenizer.model");
                tokenizer = OpenTokenizer(modelPath);
            }
            if (randomWeights == (modelPath != null))
                throw new CliException(ExitCodes.Usage, "graphc run needs either --model DIR (a safetensors checkpoint) or --random-weights");
            var (model, sources) = SpecLoader.CompileWithSources(spec, console);
            if (options.Tp is int tp) model = SpecLoader.SplitOver(model, tp);
            var m = model.Spec.Model;
            int[] prompt = tokenizer != null
                ? (chat || system != null ? LlamaChatTemplate.Encode(tokenizer, new[] { new ChatTurn(promptText!) }, system) : tokenizer.Encode(promptText!))
                : promptTokens is null ? DefaultPrompt(m.BosTokenId, m.VocabSize, seed) : ParseTokens(promptTokens);
            // The last generated token is not fed back, so the cache holds prompt + steps − 1 tokens.
            if (prompt.Length + steps - 1 > model.Spec.Limits.MaxSeqLen)
                throw new CliException(ExitCodes.Usage,
                    $"{prompt.Length} prompt tokens and {steps} steps need {prompt.Length + steps - 1} positions, more than limits.max_seq_len ({model.Spec.Limits.MaxSeqLen})");

            var clock = Stopwatch.StartNew();
            using var checkpoint = modelPath is null ? null : OpenCheckpoint(modelPath);
            var random = checkpoint is null ? RandomCheckpoint.ForRanks(model, seed) : null;
            var weights = random != null ? (rank => random[rank]) : CheckpointLoader.ByRank(rank => LoadCheckpoint(checkpoint!, model, sources, console, rank));
            using var opened = Backends.Open(options.Backend, model, SpecLoader.Read(spec), weights, new GpuModelOptions(CudaGraphs: options.CudaGraphs), options.Tiles, console, options.TpStaged);
            var backend = opened.Backend;
            console.MarkupLine(Markup.Escape(backend.Description) + "; " + (modelPath is null ? $"random weights, seed {seed}" : "weights from " + Markup.Escape(modelPath)));
            console.MarkupLine($"weights ready in {Seconds(clock.Elapsed)}"
                + (opened.Allocator is { } a ? $" (device: {ByteSize.Format(a.Ledger.Used(MemoryComponent.Weights))} weights, {ByteSize.Format(a.Ledger.Used(MemoryComponent.KvCache))} KV cache, "
                    + $"{ByteSize.Format(a.Ledger.Used(MemoryComponent.Workspace))} workspace of a {ByteSize.Format(a.Ledger.BudgetBytes)} budget)" : ""));

            try
            {
                // An untimed prefill and decode steps (half a second at most) first, so that the timings below are of
                // optimised code (.NET tiers up hot methods; the GPU backend captures its decode graph).
                using (var warm = backend.NewSequence())
                {
                    int first = Sampler.Argmax(backend.Prefill(new[] { (warm, prompt) })[0]);
                    clock.Restart();
                    for (int i = 1; i < steps && clock.Elapsed < WarmUp; i++) first = Sampler.Argmax(backend.Decode(new[] { (warm, first) })[0]);
                    // Each verification length once (the GPU captures a graph a step shape), within the sequence's room.
                    for (int n = 2; n <= Math.Min(options.DraftTokens + 1, model.Spec.Limits.MaxNumSeqs) && warm.Length + n <= model.Spec.Limits.MaxSeqLen; n++)
                    {
                        backend.Verify(new[] { (warm, Enumerable.Repeat(first, n).ToArray()) });
                        backend.Rewind(warm, warm.Length - n);
                    }
                }

                var logits = new List<float[]>();
                var generated = new List<int>();
                var logprobs = new List<float>();
                var completion = new System.Text.StringBuilder();
                var prefill = TimeSpan.Zero;
                if (options.Stream) console.Write(new Spectre.Console.Text(tokenizer!.Decode(prompt)));
                clock.Restart();
                var speculation = new SpeculationCounts();
                foreach (var token in GenerationLoop.Run(backend, new[] { prompt }, parameters, tokenizer, options.LogitsOut is null ? null : (_, l) => logits.Add(l), speculation))
                {
                    if (generated.Count == 0)
                    {
                        prefill = clock.Elapsed;   // the first token comes from the prefill's logits
                        clock.Restart();
                    }
                    generated.Add(token.Id);
                    logprobs.Add(token.Logprob);
                    completion.Append(token.Text);
                    if (options.Stream) console.Write(new Spectre.Console.Text(token.Text));
                }
                var decode = clock.Elapsed;
                if (options.Stream) console.WriteLine();

                console.MarkupLine($"prompt ({prompt.Length} tokens): {string.Join(" ", prompt)}");
                string how = sampling.IsGreedy ? "greedy"
                    : string.Create(CultureInfo.InvariantCulture, $"sampled: temperature {sampling.Temperature}, top-k {sampling.TopK}, top-p {sampling.TopP}, min-p {sampling.MinP}, seed {sampling.Seed}");
                console.MarkupLine($"generated ({generated.Count} tokens, {Markup.Escape(how)}): {string.Join(" ", generated)}");
                if (options.Logprobs)
                    console.MarkupLine("logprobs: " + string.Join(" ", logprobs.Select(l => l.ToString("0.######", CultureInfo.InvariantCulture))));
                if (tokenizer != null && !options.Stream)
                    console.MarkupLine(Markup.Escape(tokenizer.Decode(prompt) + completion));
                if (options.LogitsOut != null) WriteLogits(options.LogitsOut, backend.Description, prompt, generated, logits);
                // The first generated token comes from the prefill's logits; each decode step yields one more.
                string decodeRate = generated.Count > 1 ? Rate(generated.Count - 1, decode) : "n/a (the one token came from the prefill)";
                string name = opened.Device is null ? "CPU backend" : "GPU backend";
                console.MarkupLine($"{name}: prompt {prompt.Length} tokens at {Rate(prompt.Length, prefill)}, generated {generated.Count} tokens at {decodeRate}");
                if (options.DraftTokens > 0)
                    console.MarkupLine($"speculative decoding (prompt lookup, up to {options.DraftTokens} draft tokens): {speculation.Steps} verification steps, "
                        + $"{speculation.Accepted} of {speculation.Drafted} draft tokens accepted, {generated.Count - 1} tokens in {generated.Count - 1 - speculation.Accepted} decode steps");
            }
            catch (ArgumentException e)
            {
                // A bad token id: the backend's message, without the parameter name it appends.
                string suffix = e.ParamName is null ? "" : $" (Parameter '{e.ParamName}')";
                throw new CliException(ExitCodes.Usage, e.Message.EndsWith(suffix, StringComparison.Ordinal) ? e.Message[..^suffix.Length] : e.Message);
            }
            return ExitCodes.Ok;
        }

        /// <summary>fp32 logits [steps, vocab] little-endian at <paramref name="path"/>; prompt, generated tokens and backend at path + ".json".</summary>
        private static void WriteLogits(string path, string backend, int[] prompt, List<int> generated, List<float[]> logits)
        {
            using (var file = File.Create(path))
                foreach (var row in logits) file.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(row.AsSpan()));
            using var stream = File.Create(path + ".json");
            using var json = new System.Text.Json.Utf8JsonWriter(stream, new System.Text.Json.JsonWriterOptions { Indented = true });
            json.WriteStartObject();
            json.WriteString("backend", backend);
            json.WriteNumber("vocab", logits[0].Length);
            json.WriteStartArray("prompt");
            foreach (int t in prompt) json.WriteNumberValue(t);
            json.WriteEndArray();
            json.WriteStartArray("generated");
            foreach (int t in generated) json.WriteNumberValue(t);
            json.WriteEndArray();
            json.WriteEndObject();
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

        private static string Rate(int tokens, TimeSpan elapsed) =>
            (tokens / Math.Max(elapsed.TotalSeconds, 1e-9)).ToString("0.0", CultureInfo.InvariantCulture) + " tokens/s";

        private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture) + " s";
    }
}
