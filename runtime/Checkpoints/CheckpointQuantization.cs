using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;

namespace GraphCompiler.Runtime.Checkpoints
{
    /// <summary>How a checkpoint stores its linear weights.</summary>
    public enum QuantizationFamily
    {
        /// <summary>fp16/bf16 (or fp32) weights as trained.</summary>
        Plain,
        /// <summary>AutoGPTQ / transformers GPTQ: qweight, qzeros, scales, g_idx.</summary>
        Gptq,
        /// <summary>AutoAWQ: qweight, qzeros, scales.</summary>
        Awq,
        /// <summary>FP8 e4m3 weights with weight_scale (compressed-tensors / llm-compressor, or quant_method fp8).</summary>
        Fp8,
        /// <summary>A quantization the compiler has no layout for (bitsandbytes, compressed-tensors int, …).</summary>
        Unsupported,
    }

    /// <summary>
    /// The quantization a checkpoint declares: config.json's quantization_config first (as transformers reads it), then
    /// AutoGPTQ's quantize_config.json, then what the tensors show. Parameters the files leave out are null.
    /// </summary>
    public sealed record CheckpointQuantization(QuantizationFamily Family, string Source)
    {
        public const string ConfigFile = "config.json";
        public const string GptqConfigFile = "quantize_config.json";

        /// <summary>quant_method as the config writes it.</summary>
        public string? Method { get; init; }
        public int? Bits { get; init; }
        public int? GroupSize { get; init; }
        public bool? DescAct { get; init; }
        public bool? Symmetric { get; init; }

        /// <summary>AWQ's kernel version ("gemm"), or GPTQ's checkpoint_format ("gptq", "gptq_v2").</summary>
        public string? Version { get; init; }

        /// <summary>For plain checkpoints, the dtype that holds most weight bytes.</summary>
        public string? WeightDType { get; init; }

        public string Describe()
        {
            var parts = new List<string>();
            if (Bits is int b) parts.Add($"{b}-bit");
            if (Version != null) parts.Add(Version);
            if (GroupSize is int g) parts.Add($"group_size {g}");
            if (DescAct is bool d) parts.Add($"desc_act {(d ? "true" : "false")}");
            if (Symmetric is bool s) parts.Add(s ? "symmetric" : "asymmetric");
            string family = Family switch
            {
                QuantizationFamily.Plain => "plain" + (WeightDType != null ? " " + WeightDType : ""),
                QuantizationFamily.Gptq => "GPTQ",
                QuantizationFamily.Awq => "AWQ",
                QuantizationFamily.Fp8 => "FP8",
                _ => "unsupported" + (Method != null ? $" ({Method})" : ""),
            };
            return family + (parts.Count > 0 ? " " + string.Join(", ", parts) : "") + $" (from {Source})";
        }

        internal static CheckpointQuantization Detect(string folder, IReadOnlyList<SafetensorsTensor> tensors, Func<string, bool> holds)
        {
            string configPath = Path.Combine(folder, ConfigFile);
            if (File.Exists(configPath))
            {
                using var config = JsonFiles.ReadObject(configPath);
                if (JsonFiles.Value(config.RootElement, "quantization_config") is JsonElement qc)
                    return FromConfig(qc, configPath, "quantization_config.", $"{ConfigFile} quantization_config");
            }
            string gptqPath = Path.Combine(folder, GptqConfigFile);
            if (File.Exists(gptqPath))
            {
                using var config = JsonFiles.ReadObject(gptqPath);
                return Gptq(config.RootElement, gptqPath, "", GptqConfigFile);
            }
            if (tensors.Any(t => t.DTypeName == "F8_E4M3" && t.Name.EndsWith(".weight", StringComparison.Ordinal) && holds(t.Name + "_scale")))
                return new CheckpointQuantization(QuantizationFamily.Fp8, "the tensors: F8_E4M3 weights with weight_scale");
            if (tensors.Any(t => t.Name.EndsWith(".qweight", StringComparison.Ordinal)))
                return new CheckpointQuantization(QuantizationFamily.Unsupported,
                    $"the tensors: packed qweight tensors, but neither {ConfigFile} quantization_config nor {GptqConfigFile} says GPTQ or AWQ");
            var weightDType = tensors.Where(t => t.Name.EndsWith(".weight", StringComparison.Ordinal))
                .GroupBy(t => t.DTypeName).OrderByDescending(g => g.Sum(t => t.ByteLength)).Select(g => g.Key).FirstOrDefault();
            return new CheckpointQuantization(QuantizationFamily.Plain, "the tensors; no quantization config") { WeightDType = weightDType };
        }

        private static CheckpointQuantization FromConfig(JsonElement qc, string path, string at, string source)
        {
            if (qc.ValueKind != JsonValueKind.Object)
                throw new CheckpointException($"{path}: '{at.TrimEnd('.')}' must be an object, not {qc.GetRawText()}");
            string? method = JsonFiles.String(qc, "quant_method", path, at);
            switch (method?.ToLowerInvariant())
            {
                case "gptq":
                    return Gptq(qc, path, at, source);
                case "awq":
                    bool? zeroPoint = JsonFiles.Bool(qc, "zero_point", path, at);
                    return new CheckpointQuantization(QuantizationFamily.Awq, source)
                    {
                        Method = method,
                        Bits = JsonFiles.Int(qc, "bits", path, at) ?? JsonFiles.Int(qc, "w_bit", path, at),
                        GroupSize = JsonFiles.Int(qc, "group_size", path, at) ?? JsonFiles.Int(qc, "q_group_size", path, at),
                        Symmetric = zeroPoint is bool z ? !z : null,
                        Version = JsonFiles.String(qc, "version", path, at)?.ToLowerInvariant(),
                    };
                case "fp8":
                    return new CheckpointQuantization(QuantizationFamily.Fp8, source) { Method = method, Bits = 8 };
                case "compressed-tensors":
                    return FloatEightWeights(qc)
                        ? new CheckpointQuantization(QuantizationFamily.Fp8, source + ", float 8-bit weights") { Method = method, Bits = 8 }
                        : new CheckpointQuantization(QuantizationFamily.Unsupported, source + ", weights other than float 8-bit") { Method = method };
                default:
                    return new CheckpointQuantization(QuantizationFamily.Unsupported, source) { Method = method ?? "no quant_method" };
            }
        }

        private static CheckpointQuantization Gptq(JsonElement qc, string path, string at, string source) =>
            new CheckpointQuantization(QuantizationFamily.Gptq, source)
            {
                Method = "gptq",
                Bits = JsonFiles.Int(qc, "bits", path, at),
                GroupSize = JsonFiles.Int(qc, "group_size", path, at),
                DescAct = JsonFiles.Bool(qc, "desc_act", path, at),
                Symmetric = JsonFiles.Bool(qc, "sym", path, at),
                Version = JsonFiles.String(qc, "checkpoint_format", path, at),
            };

        /// <summary>compressed-tensors: some config group quantizes weights as {"type": "float", "num_bits": 8}.</summary>
        private static bool FloatEightWeights(JsonElement qc)
        {
            if (JsonFiles.Value(qc, "config_groups") is not JsonElement { ValueKind: JsonValueKind.Object } groups) return false;
            foreach (var group in groups.EnumerateObject())
            {
                if (group.Value.ValueKind != JsonValueKind.Object
                    || JsonFiles.Value(group.Value, "weights") is not JsonElement { ValueKind: JsonValueKind.Object } weights)
                    continue;
                if (weights.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == "float"
                    && weights.TryGetProperty("num_bits", out var bits) && bits.ValueKind == JsonValueKind.Number && bits.TryGetInt32(out int n) && n == 8)
                    return true;
            }
            return false;
        }
    }
}
