using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.RegularExpressions;
using GraphCompiler.Common;

namespace GraphCompiler.Spec
{
    /// <summary>The outcome of reading a spec: the spec when it has no errors, every diagnostic, and the source map.</summary>
    public sealed class SpecParseResult
    {
        public SpecParseResult(ModelSpec? spec, IReadOnlyList<SpecDiagnostic> diagnostics, SpecSourceMap sourceMap)
        {
            Spec = spec;
            Diagnostics = diagnostics;
            SourceMap = sourceMap;
        }

        public ModelSpec? Spec { get; }
        public IReadOnlyList<SpecDiagnostic> Diagnostics { get; }
        public SpecSourceMap SourceMap { get; }
        public bool HasErrors => Diagnostics.Any(d => d.IsError);
    }

    /// <summary>
    /// Reads a YAML model spec into a <see cref="ModelSpec"/>: types, names, ranges and defaults here; rules that relate
    /// several values in <see cref="SpecValidator"/>. Every problem is reported with its location; none stops the read.
    /// </summary>
    public static class SpecParser
    {
        public const string DefaultNamespace = "GraphCompiler.Models";

        private static readonly string[] TopKeys = { "name", "class_name", "namespace", "description", "model", "quantization", "kv_cache", "limits", "parallel", "tiles" };

        private static readonly string[] ModelKeys =
        {
            "architecture", "dtype", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
            "intermediate_size", "vocab_size", "rope_theta", "rms_norm_eps", "max_position_embeddings", "tie_word_embeddings",
            "head_dim", "bos_token_id", "eos_token_id",
            // Accepted so a config.json can be pasted as is; checked where they change the math, ignored otherwise.
            "model_type", "hidden_act", "attention_bias", "mlp_bias", "rope_scaling", "torch_dtype", "architectures",
            "initializer_range", "pretraining_tp", "use_cache", "transformers_version", "pad_token_id", "attention_dropout",
        };

        private static readonly string[] KvKeys = { "dtype", "block_size", "scale" };
        private static readonly string[] LimitKeys =
            { "max_seq_len", "max_input_len", "max_num_seqs", "max_num_batched_tokens", "gpu_memory_utilization", "gpu_memory_budget" };

        internal static readonly (string, DType)[] ActivationDTypes =
            { ("fp16", DType.F16), ("bf16", DType.BF16), ("float16", DType.F16), ("bfloat16", DType.BF16) };

        private static readonly (string, DType)[] KvDTypes =
            { ("fp16", DType.F16), ("bf16", DType.BF16), ("fp8_e4m3", DType.F8E4M3), ("fp8_e5m2", DType.F8E5M2) };

        private static readonly (string, KvScaleGranularity)[] KvScales =
            { ("per_layer", KvScaleGranularity.PerLayer), ("per_head", KvScaleGranularity.PerHead) };

        public static SpecParseResult Parse(string filePath, string text)
        {
            var sink = new SpecDiagnosticSink(filePath);
            var spec = Read(sink, filePath, text);
            bool failed = sink.Diagnostics.Any(d => d.IsError);
            var ordered = sink.Diagnostics.OrderBy(d => d.Location.StartOffset).ThenBy(d => d.Id, StringComparer.Ordinal).ToList();
            return new SpecParseResult(failed ? null : spec, ordered, sink.Map);
        }

        private static ModelSpec? Read(SpecDiagnosticSink sink, string filePath, string text)
        {
            YamlTreeNode? root;
            try
            {
                root = YamlTreeReader.Read(filePath, text);
            }
            catch (YamlTreeException e)
            {
                sink.Error(SpecDiagnosticIds.YamlSyntax, e.Message, e.Location);
                return null;
            }
            if (root is null || root is YamlScalarNode { IsNull: true })
            {
                sink.Error(SpecDiagnosticIds.EmptySpec,
                    "the spec is empty; it needs at least 'name' and a 'model' section (see specs/README.md)", SpecLocation.StartOf(filePath));
                return null;
            }
            var top = sink.Mapping(root, "", TopKeys);
            if (top is null) return null;

            string? name = ReadName(sink, top);
            string? className = ReadClassName(sink, top, name);
            string ns = ReadNamespace(sink, top);
            top.Require("model", "the model's shape, in Hugging Face config.json names");
            var model = ReadModel(sink, sink.Mapping(top.Value("model"), "model", ModelKeys));
            var kv = ReadKvCache(sink, sink.Mapping(top.Value("kv_cache"), "kv_cache", KvKeys), model);
            var limits = ReadLimits(sink, sink.Mapping(top.Value("limits"), "limits", LimitKeys), model);
            if (model is null || !SpecValidator.ValidateModel(model, sink)) return null;
            var quantization = QuantizationParser.Read(sink, top.Value("quantization"), model);
            if (kv is null || quantization is null) return null;
            var tiles = TileParser.Read(sink, top.Value("tiles"), model, quantization, kv);
            var parallel = ParallelParser.Read(sink, sink.Mapping(top.Value("parallel"), "parallel", ParallelParser.Keys), model, quantization, kv, tiles);
            if (name is null || className is null || limits is null || tiles is null || parallel is null) return null;
            return new ModelSpec(name, className, ns, model, quantization, kv, limits, tiles, parallel);
        }

        private static readonly Regex NamePattern = new Regex("^[a-z0-9][a-z0-9._-]*$", RegexOptions.CultureInvariant);
        private static readonly Regex IdentifierPattern = new Regex("^[A-Za-z_][A-Za-z0-9_]*$", RegexOptions.CultureInvariant);

        private static string? ReadName(SpecDiagnosticSink sink, MappingView top)
        {
            if (!top.Require("name", "a short lower-case model name such as llama2-70b")) return null;
            string? name = top.String("name");
            if (name is null) return null;
            if (!NamePattern.IsMatch(name))
            {
                sink.Error(SpecDiagnosticIds.InvalidName,
                    $"name '{name}' must be lower-case letters, digits, '.', '-' or '_', starting with a letter or digit", top.ValueLocation("name"));
                return null;
            }
            return name;
        }

        private static string? ReadClassName(SpecDiagnosticSink sink, MappingView top, string? name)
        {
            string? explicitName = top.String("class_name");
            if (explicitName is null) return name is null ? null : ClassNameFor(name);
            if (IdentifierPattern.IsMatch(explicitName)) return explicitName;
            sink.Error(SpecDiagnosticIds.InvalidName, $"class_name '{explicitName}' is not a C# identifier", top.ValueLocation("class_name"));
            return null;
        }

        private static string ReadNamespace(SpecDiagnosticSink sink, MappingView top)
        {
            string? ns = top.String("namespace");
            if (ns is null) return DefaultNamespace;
            if (ns.Split('.').All(IdentifierPattern.IsMatch)) return ns;
            sink.Error(SpecDiagnosticIds.InvalidName, $"namespace '{ns}' is not a dotted C# name", top.ValueLocation("namespace"));
            return DefaultNamespace;
        }

        /// <summary>"llama2-70b" → "Llama2_70b", "small-llama" → "SmallLlama": words capitalised, '_' kept before a digit.</summary>
        public static string ClassNameFor(string name)
        {
            var words = name.Split(new[] { '-', '_', '.' }, StringSplitOptions.RemoveEmptyEntries);
            var result = new System.Text.StringBuilder();
            foreach (var word in words)
            {
                if (char.IsDigit(word[0])) result.Append('_');
                result.Append(char.ToUpperInvariant(word[0])).Append(word.Substring(1));
            }
            return result.ToString();
        }

        private static ModelShape? ReadModel(SpecDiagnosticSink sink, MappingView? m)
        {
            if (m is null) return null;
            bool ok = true;
            string architecture = m.String("architecture") ?? "llama";
            foreach (var key in new[] { "architecture", "model_type" })
            {
                string? value = m.String(key);
                if (value is null || value == "llama") continue;
                sink.Error(SpecDiagnosticIds.UnsupportedArchitecture,
                    $"{key} '{value}' is not supported; supported: llama (Llama, Llama-2 and Llama-compatible models)", m.ValueLocation(key));
                ok = false;
            }
            ok &= CheckFixed(sink, m, "hidden_act", "silu", "Llama's MLP uses SiLU (SwiGLU)");
            ok &= CheckFixed(sink, m, "attention_bias", "false", "the kernels have no bias terms");
            ok &= CheckFixed(sink, m, "mlp_bias", "false", "the kernels have no bias terms");
            if (m.Has("rope_scaling"))
            {
                sink.Error(SpecDiagnosticIds.OutOfRange, "rope_scaling is not supported; remove it (or set it to null) and keep max_seq_len within max_position_embeddings",
                    m.ValueLocation("rope_scaling"));
                ok = false;
            }
            ok &= m.Require("hidden_size", "the model width (config.json hidden_size)");
            ok &= m.Require("num_hidden_layers", "the number of decoder layers");
            ok &= m.Require("num_attention_heads", "the number of query heads");
            ok &= m.Require("intermediate_size", "the MLP width");
            ok &= m.Require("vocab_size", "the tokenizer's vocabulary size");

            int? hidden = m.Int("hidden_size", 64, 65_536);
            int? layers = m.Int("num_hidden_layers", 1, 1024);
            int? heads = m.Int("num_attention_heads", 1, 1024);
            int? kvHeads = m.Has("num_key_value_heads") ? m.Int("num_key_value_heads", 1, 1024) : heads;
            int? intermediate = m.Int("intermediate_size", 16, 1 << 20);
            int? vocab = m.Int("vocab_size", 2, 1 << 22);
            double ropeTheta = m.Number("rope_theta", 1, 1e12, false) ?? 10_000.0;
            double eps = m.Number("rms_norm_eps", 0, 0.1, true) ?? 1e-6;
            int maxPos = m.Int("max_position_embeddings", 1, 1 << 22) ?? 2048;
            bool tie = m.Bool("tie_word_embeddings") ?? false;
            var dtype = m.Has("dtype") ? m.Choice("dtype", ActivationDTypes) : m.Has("torch_dtype") ? m.Choice("torch_dtype", ActivationDTypes) : DType.F16;
            int bos = m.Int("bos_token_id", 0, 1 << 22) ?? 1;
            int eos = m.Int("eos_token_id", 0, 1 << 22) ?? 2;
            int? headDim = m.Int("head_dim", 1, 1024);
            if (!ok || hidden is null || layers is null || heads is null || kvHeads is null || intermediate is null || vocab is null || dtype is null)
                return null;
            if (headDim is int d && hidden % heads == 0 && d != hidden / heads)
            {
                sink.Error(SpecDiagnosticIds.UnsupportedHeadDim,
                    $"head_dim {d} differs from hidden_size / num_attention_heads = {hidden / heads}; the kernels need head_dim = hidden_size / num_attention_heads",
                    m.ValueLocation("head_dim"));
                return null;
            }
            foreach (var (key, limit) in new[] { ("bos_token_id", bos), ("eos_token_id", eos) })
            {
                if (limit >= vocab)
                {
                    sink.Error(SpecDiagnosticIds.OutOfRange, $"'model.{key}' is {limit}, outside the vocabulary (vocab_size {vocab})", m.ValueLocation(key));
                    return null;
                }
            }
            return new ModelShape(architecture, hidden.Value, layers.Value, heads.Value, kvHeads.Value, intermediate.Value, vocab.Value,
                ropeTheta, eps, maxPos, tie, dtype.Value, bos, eos);
        }

        private static bool CheckFixed(SpecDiagnosticSink sink, MappingView m, string key, string required, string why)
        {
            string? value = m.String(key);
            if (value is null || string.Equals(value, required, StringComparison.OrdinalIgnoreCase)) return true;
            sink.Error(SpecDiagnosticIds.InvalidEnum, $"'model.{key}' is '{value}'; only '{required}' is supported ({why})", m.ValueLocation(key));
            return false;
        }

        private static KvCacheSpec? ReadKvCache(SpecDiagnosticSink sink, MappingView? kv, ModelShape? model)
        {
            var activation = model?.DType ?? DType.F16;
            if (kv is null) return new KvCacheSpec(activation, 16, KvScaleGranularity.PerLayer);
            var dtype = kv.Has("dtype") ? kv.Choice("dtype", KvDTypes) : activation;
            int? blockSize = kv.Has("block_size") ? kv.Int("block_size", int.MinValue, int.MaxValue) : 16;
            if (blockSize is int b && (b < 8 || b > 256 || (b & (b - 1)) != 0))
            {
                sink.Error(SpecDiagnosticIds.OutOfRange, $"'kv_cache.block_size' is {b}; allowed: 8, 16, 32, 64, 128 or 256 tokens per page",
                    kv.ValueLocation("block_size"));
                blockSize = null;
            }
            var scale = kv.Has("scale") ? kv.Choice("scale", KvScales) : KvScaleGranularity.PerLayer;
            if (dtype is DType d && d is DType.F16 or DType.BF16 && kv.Has("scale"))
                sink.Error(SpecDiagnosticIds.OptionNotApplicable,
                    $"'kv_cache.scale' applies to FP8 caches only; the cache dtype is {d.SpecName()}. Remove it or use fp8_e4m3/fp8_e5m2",
                    kv.KeyLocation("scale"));
            if (dtype is DType d2 && model is not null && d2 is DType.F16 or DType.BF16 && d2 != model.DType)
            {
                sink.Error(SpecDiagnosticIds.WeightDTypeMismatch,
                    $"'kv_cache.dtype' {d2.SpecName()} differs from the activation dtype {model.DType.SpecName()}; use {model.DType.SpecName()} or an FP8 cache",
                    kv.ValueLocation("dtype"));
                return null;
            }
            if (dtype is null || blockSize is null || scale is null) return null;
            return new KvCacheSpec(dtype.Value, blockSize.Value, scale.Value);
        }

        private static LimitsSpec? ReadLimits(SpecDiagnosticSink sink, MappingView? l, ModelShape? model)
        {
            int maxPos = model?.MaxPositionEmbeddings ?? 4096;
            if (l is null) return new LimitsSpec(maxPos, maxPos, 64, Math.Max(2048, 64), 0.90, null);
            int? maxSeq = l.Has("max_seq_len") ? l.Int("max_seq_len", 1, 1 << 22) : maxPos;
            int? maxInput = l.Has("max_input_len") ? l.Int("max_input_len", 1, 1 << 22) : maxSeq;
            int? maxSeqs = l.Has("max_num_seqs") ? l.Int("max_num_seqs", 1, 8192) : 64;
            int? maxTokens = l.Has("max_num_batched_tokens") ? l.Int("max_num_batched_tokens", 1, 1 << 22) : Math.Max(2048, maxSeqs ?? 64);
            double? utilization = l.Has("gpu_memory_utilization") ? l.Number("gpu_memory_utilization", 0, 1, true) : 0.90;
            long? budget = l.Has("gpu_memory_budget") ? l.Bytes("gpu_memory_budget") : null;
            bool ok = true;
            if (l.Has("gpu_memory_utilization") && l.Has("gpu_memory_budget"))
            {
                sink.Error(SpecDiagnosticIds.LimitsInconsistent,
                    "set either 'gpu_memory_utilization' (a fraction of the GPU's memory) or 'gpu_memory_budget' (bytes), not both",
                    l.KeyLocation("gpu_memory_budget"));
                ok = false;
            }
            if (maxSeq is int s && model is not null && s > model.MaxPositionEmbeddings)
            {
                sink.Error(SpecDiagnosticIds.LimitsInconsistent,
                    $"'limits.max_seq_len' {s} exceeds 'model.max_position_embeddings' {model.MaxPositionEmbeddings}; RoPE scaling is not supported, so lower max_seq_len",
                    l.ValueLocation("max_seq_len"));
                ok = false;
            }
            if (maxInput is int i && maxSeq is int s2 && i > s2)
            {
                sink.Error(SpecDiagnosticIds.LimitsInconsistent,
                    $"'limits.max_input_len' {i} exceeds 'limits.max_seq_len' {s2}; a prompt must leave room for at least one generated token",
                    l.ValueLocation("max_input_len"));
                ok = false;
            }
            if (maxTokens is int t && maxSeqs is int n && t < n)
            {
                sink.Error(SpecDiagnosticIds.LimitsInconsistent,
                    $"'limits.max_num_batched_tokens' {t} is below 'limits.max_num_seqs' {n}; a decode step of every sequence needs {n} tokens",
                    l.ValueLocation("max_num_batched_tokens"));
                ok = false;
            }
            if (!ok || maxSeq is null || maxInput is null || maxSeqs is null || maxTokens is null || utilization is null) return null;
            if (l.Has("gpu_memory_budget") && budget is null) return null;
            return new LimitsSpec(maxSeq.Value, maxInput.Value, maxSeqs.Value, maxTokens.Value, utilization.Value, budget);
        }
    }
}
