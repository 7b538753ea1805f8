using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using GraphCompiler.Common;
using GraphCompiler.Compilation;
using GraphCompiler.Planning;
using GraphCompiler.Spec;
using Spectre.Console;

namespace GraphCompiler.Runtime.Cli
{
    /// <summary>
    /// graphc plan SPEC: the memory plan (weights per component, KV per token, workspace) and the verdict against a
    /// budget, as a table or JSON; per GPU when the model is split over several (parallel.tensor, or --tp).
    /// </summary>
    internal static class PlanCommand
    {
        public static int Run(string spec, string? gpuMemory, int? maxSeqLen, double pcieGbps, bool json, IAnsiConsole console, TextWriter output, int? tensor = null)
        {
            long? deviceMemory = null;
            if (gpuMemory != null)
            {
                if (!ByteSize.TryParse(gpuMemory, out long bytes))
                    throw new CliException(ExitCodes.Usage, $"--gpu-memory '{gpuMemory}' is not a size; expected {ByteSize.Accepted}");
                deviceMemory = bytes;
            }
            if (pcieGbps <= 0) throw new CliException(ExitCodes.Usage, $"--pcie-gbps must be positive, not {pcieGbps}");
            var model = SpecLoader.Compile(spec, json ? NullConsole() : console);
            if (maxSeqLen is int n)
            {
                var m = model.Spec.Model;
                if (n < 1 || n > m.MaxPositionEmbeddings)
                    throw new CliException(ExitCodes.Usage, $"--max-seq-len {n} must be between 1 and max_position_embeddings ({m.MaxPositionEmbeddings})");
                var limits = model.Spec.Limits with { MaxSeqLen = n, MaxInputLen = Math.Min(model.Spec.Limits.MaxInputLen, n) };
                model = ModelCompiler.Compile(model.Spec with { Limits = limits });
            }
            if (tensor is int t) model = SpecLoader.SplitOver(model, t);
            var budget = MemoryPlanner.Budget(model.Spec.Limits, deviceMemory);
            var verdict = budget is { } b ? MemoryPlanner.Evaluate(model.Memory, b.Bytes, b.Source, pcieGbps * 1e9) : null;
            if (json) output.WriteLine(Json(model, verdict));
            else Table(model, verdict, console);
            return ExitCodes.Ok;
        }

        private static IAnsiConsole NullConsole() =>
            AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(TextWriter.Null), Ansi = AnsiSupport.No });

        private static string Gb(long bytes) => (bytes / 1e9).ToString("0.00", CultureInfo.InvariantCulture) + " GB";

        private static void Table(CompiledModel model, BudgetVerdict? v, IAnsiConsole console)
        {
            var spec = model.Spec;
            var p = model.Memory;
            var m = spec.Model;
            int ranks = p.TensorRanks;
            var rank = model.Rank.Spec.Model;
            console.MarkupLine($"[bold]{Markup.Escape(spec.Name)}[/]: {m.NumHiddenLayers} layers, hidden {m.HiddenSize}, {m.NumAttentionHeads} query / {m.NumKeyValueHeads} KV heads, vocabulary {m.VocabSize}, activations {m.DType.SpecName()}");
            if (ranks > 1)
                console.MarkupLine($"Tensor parallel over [bold]{ranks} GPUs[/]: q/k/v and gate/up split by output features, o_proj and down_proj by input features, embed_tokens and lm_head whole on each; "
                    + $"each GPU holds {rank.NumAttentionHeads} query / {rank.NumKeyValueHeads} KV heads and all-reduces "
                    + $"{ByteSize.Format(TensorShards.AllReduceBytesPerToken(m))} a token a step (two per layer). Every figure below is one GPU's.");
            var weights = new Table().Title(ranks > 1 ? $"Weights on each of {ranks} GPUs (after repacking)" : "Weights on the device (after repacking)").AddColumn("component").AddColumn("scheme")
                .AddColumn(new TableColumn("bytes").RightAligned()).AddColumn(new TableColumn("GiB").RightAligned()).AddColumn(new TableColumn("share").RightAligned());
            foreach (var c in p.Weights)
                weights.AddRow(c.Name, Markup.Escape(SchemesOf(spec, c.Name)), c.Bytes.ToString("N0", CultureInfo.InvariantCulture),
                    ByteSize.Format(c.Bytes), (100.0 * c.Bytes / p.WeightsBytes).ToString("0.0", CultureInfo.InvariantCulture) + "%");
            weights.AddRow("[bold]total[/]", "", $"[bold]{p.WeightsBytes.ToString("N0", CultureInfo.InvariantCulture)}[/]", $"[bold]{ByteSize.Format(p.WeightsBytes)}[/]", "100%");
            console.Write(weights);

            long fp16 = Fp16Bytes(spec);
            console.MarkupLine($"fp16 would need {ByteSize.Format(fp16)} ({Gb(fp16)}); this recipe keeps {(100.0 * p.WeightsBytes * ranks / fp16).ToString("0.0", CultureInfo.InvariantCulture)}% of that"
                + (ranks > 1 ? $" across its {ranks} GPUs." : "."));
            console.MarkupLine($"KV cache: {p.KvBytesPerToken.ToString("N0", CultureInfo.InvariantCulture)} bytes per token ({spec.KvCache.DType.SpecName()}: 2 × {m.NumHiddenLayers} layers × {rank.NumKeyValueHeads} KV heads × {m.HeadDim}), "
                + $"{ByteSize.Format(p.KvBytesPerToken * spec.Limits.MaxSeqLen)} per sequence at max_seq_len {spec.Limits.MaxSeqLen}.");
            console.MarkupLine($"Workspace: {ByteSize.Format(p.WorkspaceBytes)} for {spec.Limits.MaxNumBatchedTokens} tokens per step and {spec.Limits.MaxNumSeqs} sequences "
                + $"({ByteSize.Format(p.WorkspaceBytesWithoutReuse)} without sharing buffers whose lifetimes do not overlap).");

            if (v is null)
            {
                console.MarkupLine("[yellow]No budget: pass --gpu-memory SIZE (the GPU's memory) or set limits.gpu_memory_budget to get a verdict.[/]");
                return;
            }
            console.WriteLine();
            console.MarkupLine($"Budget: {ByteSize.Format(v.BudgetBytes)} = {Markup.Escape(v.BudgetSource)}.");
            foreach (var line in Verdict(model, v)) console.MarkupLine(line);
        }

        /// <summary>The verdict in sentences: fits and how many KV tokens, or what streams and what that costs, or the shortfall.</summary>
        internal static IEnumerable<string> Verdict(CompiledModel model, BudgetVerdict v)
        {
            var p = model.Memory;
            int seqLen = model.Spec.Limits.MaxSeqLen;
            long need = p.WeightsBytes + p.WorkspaceBytes + p.KvScaleBytes + p.KvBytesPerToken * seqLen;
            if (v.Fits)
            {
                yield return $"[green]Fits.[/] Weights {ByteSize.Format(p.WeightsBytes)} + workspace {ByteSize.Format(p.WorkspaceBytes)} leave room for "
                    + $"[bold]{v.MaxKvTokens.ToString("N0", CultureInfo.InvariantCulture)} KV tokens[/] ({KvBlocks(model, v)}) = {v.MaxConcurrentSequences} concurrent sequences at max_seq_len {seqLen}"
                    + (v.MaxConcurrentSequences > model.Spec.Limits.MaxNumSeqs ? $" (max_num_seqs caps it at {model.Spec.Limits.MaxNumSeqs})" : "") + ".";
                yield break;
            }
            yield return $"[red]Does not fit resident.[/] Weights {ByteSize.Format(p.WeightsBytes)} + workspace {ByteSize.Format(p.WorkspaceBytes)} + one sequence of KV "
                + $"({ByteSize.Format(p.KvBytesPerToken * seqLen)}) = {ByteSize.Format(need)}, {ByteSize.Format(need - v.BudgetBytes)} over the budget.";
            if (v.Infeasible)
            {
                yield return $"[red]Not even streaming every layer fits:[/] embeddings, lm_head and norms ({ByteSize.Format(p.NonLayerWeightsBytes)}), two staging buffers "
                    + $"({ByteSize.Format(v.StagingBytes)}), the workspace and one sequence of KV need {ByteSize.Format(v.ShortfallBytes)} more than the budget. "
                    + "Quantize the embeddings or lm_head, lower max_num_batched_tokens or max_seq_len, or use a larger GPU.";
                yield break;
            }
            int layers = p.LayerBytes.Count;
            yield return $"To run it anyway: keep embeddings, lm_head, norms and [bold]{v.ResidentLayers} of {layers} layers[/] resident, and stream the other "
                + $"{layers - v.ResidentLayers} layers ([bold]{ByteSize.Format(v.StreamBytes)}[/] = {Gb(v.StreamBytes)}) from pinned host memory through two staging buffers "
                + $"({ByteSize.Format(v.StagingBytes)}) every forward pass.";
            yield return $"At {(v.PcieBytesPerSecond / 1e9).ToString("0.#", CultureInfo.InvariantCulture)} GB/s over PCIe that is at least "
                + $"[bold]{(v.StreamSecondsPerToken * 1000).ToString("0", CultureInfo.InvariantCulture)} ms per decode step[/] "
                + $"(≤ {(1 / v.StreamSecondsPerToken).ToString("0.00", CultureInfo.InvariantCulture)} steps/s, whatever the batch: batching is the lever), "
                + $"with {v.MaxKvTokens.ToString("N0", CultureInfo.InvariantCulture)} KV tokens ({KvBlocks(model, v)}; {v.MaxConcurrentSequences} sequence(s) at max_seq_len {seqLen}).";
        }

        /// <summary>The paged pool the KV tokens make: whole blocks of kv_cache.block_size tokens.</summary>
        private static string KvBlocks(CompiledModel model, BudgetVerdict v)
        {
            int blockSize = model.Spec.KvCache.BlockSize;
            return $"{(v.MaxKvTokens / blockSize).ToString("N0", CultureInfo.InvariantCulture)} blocks of {blockSize}";
        }

        private static string SchemesOf(ModelSpec spec, string component)
        {
            var schemes = new List<string>();
            void Add(QuantScheme s)
            {
                if (!schemes.Contains(s.Describe())) schemes.Add(s.Describe());
            }
            switch (component)
            {
                case "embed_tokens": Add(spec.Quantization.EmbedTokens); break;
                case "lm_head":
                    if (spec.Model.TieWordEmbeddings) return "tied to embed_tokens";
                    Add(spec.Quantization.LmHead);
                    break;
                case "norms": return spec.Model.DType.SpecName();
                default:
                    var module = ModuleKinds.LayerLinears.First(x => x.SpecName() == component);
                    foreach (var layer in spec.Quantization.Layers) Add(layer.For(module));
                    break;
            }
            return string.Join(", ", schemes);
        }

        private static long Fp16Bytes(ModelSpec spec)
        {
            var m = spec.Model;
            long linear = ModuleKinds.LayerLinears.Sum(x => { var (k, n) = m.LinearShape(x); return 2L * k * n; });
            return m.NumHiddenLayers * (linear + 4L * m.HiddenSize) + 2L * m.HiddenSize
                + 2L * m.VocabSize * m.HiddenSize * (m.TieWordEmbeddings ? 1 : 2);
        }

        internal static string Json(CompiledModel model, BudgetVerdict? v)
        {
            var p = model.Memory;
            var stream = new MemoryStream();
            using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteString("spec", model.Spec.Name);
                w.WriteNumber("tensor_parallel", p.TensorRanks);
                w.WriteStartObject("weights_bytes");
                w.WriteNumber("total", p.WeightsBytes);
                w.WriteStartObject("components");
                foreach (var c in p.Weights) w.WriteNumber(c.Name, c.Bytes);
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteNumber("layers", p.LayerBytes.Count);
                w.WriteNumber("kv_bytes_per_token", p.KvBytesPerToken);
                w.WriteNumber("kv_scale_bytes", p.KvScaleBytes);
                w.WriteNumber("max_seq_len", model.Spec.Limits.MaxSeqLen);
                w.WriteNumber("workspace_bytes", p.WorkspaceBytes);
                w.WriteNumber("workspace_bytes_without_reuse", p.WorkspaceBytesWithoutReuse);
                w.WriteStartObject("workspace");
                foreach (var s in p.Workspace) w.WriteNumber(s.Name, s.Bytes);
                w.WriteEndObject();
                if (v is null)
                {
                    foreach (var key in new[] { "budget_bytes", "fits", "max_kv_tokens", "max_concurrent_sequences", "stream_bytes" }) w.WriteNull(key);
                }
                else
                {
                    w.WriteNumber("budget_bytes", v.BudgetBytes);
                    w.WriteString("budget_source", v.BudgetSource);
                    w.WriteBoolean("fits", v.Fits);
                    w.WriteNumber("max_kv_tokens", v.MaxKvTokens);
                    w.WriteNumber("max_concurrent_sequences", v.MaxConcurrentSequences);
                    w.WriteNumber("stream_bytes", v.StreamBytes);
                    w.WriteNumber("resident_layers", v.ResidentLayers);
                    w.WriteNumber("staging_bytes", v.StagingBytes);
                    w.WriteNumber("shortfall_bytes", v.ShortfallBytes);
                    w.WriteNumber("pcie_bytes_per_second", v.PcieBytesPerSecond);
                    w.WriteNumber("stream_seconds_per_token", v.StreamSecondsPerToken);
                }
                w.WriteEndObject();
            }
            return Encoding.UTF8.GetString(stream.ToArray());
        }
    }
}
