using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Compilation;
using GraphCompiler.Planning;
using GraphCompiler.Spec;

namespace GraphCompiler.Runtime.Checkpoints
{
    public enum ManifestFindingKind { Missing, Extra, WrongShape, WrongDType, SchemeMismatch }

    /// <summary>One way a checkpoint differs from what a spec expects; <see cref="At"/> is the spec value that decided it, where one did.</summary>
    public sealed record ManifestFinding(ManifestFindingKind Kind, string Subject, string Message, SpecLocation? At)
    {
        /// <summary>Compiler style, so editors can jump to the spec: file:line:col: message.</summary>
        public override string ToString() => At is SpecLocation at ? $"{at}: {Message}" : Message;
    }

    /// <summary>A checkpoint tensor the spec does not use and that is harmless to leave out, with why.</summary>
    public sealed record IgnoredTensor(string Name, string Reason);

    public sealed record ManifestCheckResult(IReadOnlyList<ManifestFinding> Findings, IReadOnlyList<IgnoredTensor> Ignored)
    {
        public bool Matches => Findings.Count == 0;

        /// <summary>The error for a checkpoint that does not match: every finding, one a line, located in the spec.</summary>
        public CheckpointException Mismatch(string checkpointPath, string specName) =>
            new CheckpointException($"{checkpointPath} does not match spec {specName}:\n  " + string.Join("\n  ", Findings.Select(f => f.ToString())));
    }

    /// <summary>
    /// Compares a checkpoint with a compiled spec's weight manifest: tensors missing, extra, of the wrong shape or dtype,
    /// and a declared GPTQ/AWQ configuration that disagrees with the spec's int4 schemes. Every finding is collected.
    /// </summary>
    public static class ManifestCheck
    {
        private static readonly Dictionary<string, ModuleKind> Modules =
            Enum.GetValues<ModuleKind>().ToDictionary(m => m.SpecName(), StringComparer.Ordinal);

        public static ManifestCheckResult Run(Checkpoint checkpoint, CompiledModel model, SpecSourceMap sources)
        {
            var spec = model.Spec;
            var findings = SchemeFindings(checkpoint.Quantization, spec, sources).ToList();
            var ignored = new List<IgnoredTensor>();
            var expected = model.Manifest.ToDictionary(w => w.Name, StringComparer.Ordinal);
            var byModule = new Dictionary<string, List<WeightTensor>>(StringComparer.Ordinal);   // module path → its tensors
            foreach (var w in model.Manifest)
            {
                string prefix = w.Name.Substring(0, w.Name.LastIndexOf('.'));
                if (!byModule.TryGetValue(prefix, out var list)) byModule[prefix] = list = new List<WeightTensor>();
                list.Add(w);

                if (!checkpoint.TryGet(w.Name, out var t))
                {
                    findings.Add(new ManifestFinding(ManifestFindingKind.Missing, w.Name,
                        $"missing tensor '{w.Name}': {Role(w, spec)} needs {w.DType.SafetensorsName()} {w.ShapeText}", At(w, sources, shape: false)));
                    continue;
                }
                if (!t.Shape.SequenceEqual(w.Shape.Select(d => (long)d)))
                    findings.Add(new ManifestFinding(ManifestFindingKind.WrongShape, w.Name,
                        $"tensor '{w.Name}' has shape {t.ShapeText}; {Role(w, spec)} needs {w.ShapeText}", At(w, sources, shape: true)));
                if (t.DTypeName != w.DType.SafetensorsName())
                    findings.Add(new ManifestFinding(ManifestFindingKind.WrongDType, w.Name,
                        $"tensor '{w.Name}' is {t.DTypeName}; {Role(w, spec)} needs {w.DType.SafetensorsName()}", At(w, sources, shape: false)));
            }

            foreach (var t in checkpoint.Tensors.Where(t => !expected.ContainsKey(t.Name)))
            {
                if (IgnoreReason(t.Name, spec) is string reason)
                {
                    ignored.Add(new IgnoredTensor(t.Name, reason));
                    continue;
                }
                string what = $"extra tensor '{t.Name}' ({t.DTypeName} {t.ShapeText})";
                int dot = t.Name.LastIndexOf('.');
                if (dot > 0 && byModule.TryGetValue(t.Name.Substring(0, dot), out var moduleTensors))
                {
                    var w = moduleTensors[0];
                    findings.Add(new ManifestFinding(ManifestFindingKind.Extra, t.Name,
                        $"{what}: {Role(w, spec)} stores only {string.Join(", ", moduleTensors.Select(x => x.Name.Substring(dot + 1)))}; the checkpoint holds this module in another scheme",
                        At(w, sources, shape: false)));
                }
                else if (TensorNames.TryParseLayer(t.Name, out int layer, out _) && layer >= spec.Model.NumHiddenLayers)
                    findings.Add(new ManifestFinding(ManifestFindingKind.Extra, t.Name,
                        $"{what}: layer {layer} is past the spec's {spec.Model.NumHiddenLayers} layers (num_hidden_layers); the checkpoint is of a deeper model",
                        sources.Get("model.num_hidden_layers")));
                else
                    findings.Add(new ManifestFinding(ManifestFindingKind.Extra, t.Name, $"{what} belongs to no weight the spec describes", null));
            }
            return new ManifestCheckResult(findings, ignored);
        }

        private static string? IgnoreReason(string name, ModelSpec spec)
        {
            if (name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal))
                return "RoPE frequencies older transformers versions saved; the runtime computes them from rope_theta";
            if (name == "lm_head.weight" && spec.Model.TieWordEmbeddings)
                return "tie_word_embeddings: lm_head reuses embed_tokens, so this copy is not read (as transformers ties it)";
            return null;
        }

        /// <summary>"the spec's q_proj in layer 3 (int4 gptq g128 sym)", "the spec's final norm (fp16)".</summary>
        private static string Role(WeightTensor w, ModelSpec spec)
        {
            if (!Modules.TryGetValue(w.Module, out var module))
                return (w.Layer < spec.Model.NumHiddenLayers ? $"the spec's norm in layer {w.Layer}" : "the spec's final norm") + $" ({spec.Model.DType.SpecName()})";
            string scheme = spec.Quantization.For(module, w.Layer).Describe();
            return module.IsLayerModule() ? $"the spec's {w.Module} in layer {w.Layer} ({scheme})" : $"the spec's {w.Module} ({scheme})";
        }

        /// <summary>The scheme that chose the module's tensors; for norms, the width or the activation dtype.</summary>
        private static SpecLocation At(WeightTensor w, SpecSourceMap sources, bool shape) =>
            Modules.TryGetValue(w.Module, out var module) ? sources.Get(sources.SchemeOrigin(module, w.Layer))
            : sources.Get(shape ? "model.hidden_size" : "model.dtype");

        /// <summary>A declared GPTQ/AWQ configuration against each int4 scheme the spec writes: one finding per scheme and parameter.</summary>
        private static IEnumerable<ManifestFinding> SchemeFindings(CheckpointQuantization q, ModelSpec spec, SpecSourceMap sources)
        {
            if (q.Family is not (QuantizationFamily.Gptq or QuantizationFamily.Awq)) yield break;
            var written = new List<(QuantScheme Scheme, string Path)>();
            for (int l = 0; l < spec.Model.NumHiddenLayers; l++)
                foreach (var module in ModuleKinds.LayerLinears)
                {
                    var entry = (spec.Quantization.For(module, l), sources.SchemeOrigin(module, l));
                    if (entry.Item1.Method == QuantMethod.Int4 && !written.Contains(entry)) written.Add(entry);
                }
            if (spec.Quantization.LmHead.Method == QuantMethod.Int4 && !spec.Model.TieWordEmbeddings)
            {
                var entry = (spec.Quantization.LmHead, sources.SchemeOrigin(ModuleKind.LmHead, -1));
                if (!written.Contains(entry)) written.Add(entry);
            }

            var format = q.Family == QuantizationFamily.Gptq ? Int4Format.Gptq : Int4Format.Awq;
            string family = format == Int4Format.Gptq ? "GPTQ" : "AWQ";
            foreach (var (scheme, path) in written)
            {
                // Point at the option itself where the spec writes it, else at the scheme.
                SpecLocation Key(string key)
                {
                    string option = path.Substring(0, path.LastIndexOf('.') + 1) + key;
                    return sources.Get(sources.Contains(option) ? option : path);
                }
                ManifestFinding Finding(string subject, string message, string key) =>
                    new ManifestFinding(ManifestFindingKind.SchemeMismatch, subject, $"the checkpoint is {family} ({q.Source}) {message}", Key(key));

                if (scheme.Format != format)
                    yield return Finding("format", $"but this int4 scheme has format {(scheme.Format == Int4Format.Gptq ? "gptq" : "awq")}; set format: {family.ToLowerInvariant()}", "format");
                if (q.Bits is int bits && bits != 4)
                    yield return Finding("bits", $"with {bits}-bit weights; int4 reads 4-bit weights only. Use a 4-bit checkpoint", "scheme");
                if (q.GroupSize is int g && g != scheme.GroupSize)
                    yield return Finding("group_size", $"with group_size {g}; this scheme says {scheme.GroupSize}. Set group_size: {g}", "group_size");
                if (q.DescAct is bool descAct && descAct != scheme.DescAct)
                    yield return Finding("desc_act", $"with desc_act {Bool(descAct)}; this scheme says {Bool(scheme.DescAct)}. Set desc_act: {Bool(descAct)}", "desc_act");
                if (q.Symmetric is bool sym && sym != scheme.Symmetric)
                    yield return Finding("symmetric", $"with {(sym ? "symmetric" : "asymmetric")} zeros; this scheme says symmetric: {Bool(scheme.Symmetric)}. Set symmetric: {Bool(sym)}", "symmetric");
                if (format == Int4Format.Gptq && q.Version is string v && v != "gptq")
                    yield return Finding("checkpoint_format", $"in checkpoint_format {v}; the gptq layout reads the v1 format (checkpoint_format gptq). Convert the checkpoint to it", "format");
                if (format == Int4Format.Awq && q.Version is string awq && awq != "gemm")
                    yield return Finding("version", $"of version {awq}; the awq layout is AutoAWQ's GEMM version. Use a GEMM checkpoint", "format");
            }
        }

        private static string Bool(bool value) => value ? "true" : "false";
    }
}
