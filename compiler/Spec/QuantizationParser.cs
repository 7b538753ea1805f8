using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using GraphCompiler.Common;

namespace GraphCompiler.Spec
{
    /// <summary>
    /// Reads `quantization:` and resolves it to one scheme per module per layer. The rule, as specs/README.md states it:
    /// with no `quantization` section every weight is in the activation dtype; otherwise `default` fills every decoder-layer linear module; embed_tokens and lm_head start in the activation dtype;
    /// overrides then apply in file order, a later one replacing an earlier one where both name the same layer and module;
    /// a decoder-layer module left without a scheme is an error; with tie_word_embeddings, lm_head is embed_tokens.
    /// </summary>
    internal static class QuantizationParser
    {
        private static readonly string[] SchemeKeys = { "scheme", "format", "group_size", "symmetric", "desc_act", "weight_scale", "activation_scale" };
        private static readonly string[] SectionKeys = { "default", "overrides" };
        private static readonly string[] OverrideKeys = SchemeKeys.Concat(new[] { "modules", "layers" }).ToArray();

        private static readonly (string, QuantMethod)[] Methods =
            { ("fp16", QuantMethod.Fp16), ("bf16", QuantMethod.Bf16), ("fp8_e4m3", QuantMethod.Fp8E4M3), ("int4", QuantMethod.Int4) };
        private static readonly (string, Int4Format)[] Formats = { ("gptq", Int4Format.Gptq), ("awq", Int4Format.Awq) };
        private static readonly (string, ScaleGranularity)[] Granularities =
            { ("per_channel", ScaleGranularity.PerChannel), ("per_tensor", ScaleGranularity.PerTensor) };
        private static readonly (string, ActivationScaling)[] ActivationScales =
            { ("none", ActivationScaling.None), ("dynamic", ActivationScaling.Dynamic), ("static", ActivationScaling.Static) };

        private static readonly (string, ModuleKind)[] Modules =
            Enum.GetValues(typeof(ModuleKind)).Cast<ModuleKind>().Select(m => (m.SpecName(), m)).ToArray();

        /// <summary>A scheme as written, with where its parts are, so per-module checks can point at them.</summary>
        private sealed class WrittenScheme
        {
            public WrittenScheme(QuantScheme scheme, string path, SpecLocation at, SpecLocation groupSizeAt)
            {
                Scheme = scheme;
                Path = path;
                At = at;
                GroupSizeAt = groupSizeAt;
            }

            public QuantScheme Scheme { get; }

            /// <summary>The source-map path of the value that chose it: "quantization.overrides[1].scheme", or the activation dtype's.</summary>
            public string Path { get; }

            public SpecLocation At { get; }
            public SpecLocation GroupSizeAt { get; }
        }

        public static QuantizationSpec? Read(SpecDiagnosticSink sink, YamlTreeNode? node, ModelShape model)
        {
            var activation = model.DType == DType.BF16 ? QuantScheme.Bf16 : QuantScheme.Fp16;
            int layers = model.NumHiddenLayers;
            var layerSlots = new WrittenScheme?[layers, ModuleKinds.LayerLinears.Length];
            WrittenScheme? embed = null, lmHead = null;
            bool ok = true;

            var section = sink.Mapping(node, "quantization", SectionKeys);
            SpecLocation sectionAt = section?.Node.Location ?? SpecLocation.StartOf(sink.Map.FilePath);
            string activationPath = sink.Map.Contains("model.torch_dtype") && !sink.Map.Contains("model.dtype") ? "model.torch_dtype" : "model.dtype";
            if (node is null || node is YamlScalarNode { IsNull: true })
            {
                // No quantization section: every weight in the activation dtype.
                var dense = new WrittenScheme(activation, activationPath, sectionAt, sectionAt);
                for (int l = 0; l < layers; l++)
                    for (int m = 0; m < ModuleKinds.LayerLinears.Length; m++)
                        layerSlots[l, m] = dense;
            }
            if (section != null)
            {
                var defaultNode = section.Value("default");
                if (defaultNode != null)
                {
                    var written = ReadScheme(sink, defaultNode, "quantization.default");
                    if (written is null) ok = false;
                    else
                        for (int l = 0; l < layers; l++)
                            for (int m = 0; m < ModuleKinds.LayerLinears.Length; m++)
                                layerSlots[l, m] = written;
                }
                ok &= ReadOverrides(sink, section, model, layerSlots, ref embed, ref lmHead);
            }

            if (!ok) return null;
            var gaps = new List<string>();
            for (int m = 0; m < ModuleKinds.LayerLinears.Length; m++)
            {
                var missing = Enumerable.Range(0, layers).Where(l => layerSlots[l, m] is null).ToList();
                if (missing.Count > 0) gaps.Add($"{ModuleKinds.LayerLinears[m].SpecName()} in layers {FormatRanges(missing)}");
            }
            if (gaps.Count > 0)
            {
                sink.Error(SpecDiagnosticIds.QuantizationGap,
                    "no quantization scheme for " + string.Join("; ", gaps) + ". Add 'quantization.default' or an override that covers them",
                    sectionAt);
                return null;
            }

            var embedScheme = embed?.Scheme ?? activation;
            if (model.TieWordEmbeddings)
            {
                if (lmHead != null && lmHead.Scheme != embedScheme)
                {
                    sink.Error(SpecDiagnosticIds.SchemeNotAllowedForModule,
                        $"lm_head is tied to embed_tokens (tie_word_embeddings: true), so it shares its scheme {embedScheme.Describe()}, not {lmHead.Scheme.Describe()}; drop the lm_head override or give both the same scheme",
                        lmHead.At);
                    return null;
                }
                lmHead = embed;
            }

            ok &= CheckModule(sink, ModuleKind.EmbedTokens, embed, model);
            ok &= CheckModule(sink, ModuleKind.LmHead, lmHead, model);
            var checkedWritten = new HashSet<(WrittenScheme, ModuleKind)>();
            var failed = new HashSet<WrittenScheme>();
            for (int l = 0; l < layers; l++)
                for (int m = 0; m < ModuleKinds.LayerLinears.Length; m++)
                {
                    var written = layerSlots[l, m]!;
                    if (!failed.Contains(written) && checkedWritten.Add((written, ModuleKinds.LayerLinears[m]))
                        && !CheckModule(sink, ModuleKinds.LayerLinears[m], written, model))
                    {
                        ok = false;
                        failed.Add(written);   // one report per written scheme, not one per module it covers
                    }
                }
            if (!ok) return null;

            var layerSchemes = new List<LayerQuantization>(layers);
            for (int l = 0; l < layers; l++)
            {
                QuantScheme S(int m) => layerSlots[l, m]!.Scheme;
                layerSchemes.Add(new LayerQuantization(S(0), S(1), S(2), S(3), S(4), S(5), S(6)));
                for (int m = 0; m < ModuleKinds.LayerLinears.Length; m++)
                    sink.Map.AddSchemeOrigin(ModuleKinds.LayerLinears[m], l, layerSlots[l, m]!.Path);
            }
            sink.Map.AddSchemeOrigin(ModuleKind.EmbedTokens, -1, embed?.Path ?? activationPath);
            sink.Map.AddSchemeOrigin(ModuleKind.LmHead, -1, lmHead?.Path ?? activationPath);
            return new QuantizationSpec(embedScheme, lmHead?.Scheme ?? activation, layerSchemes.ToEquatableArray());
        }

        private static bool ReadOverrides(SpecDiagnosticSink sink, MappingView section, ModelShape model,
            WrittenScheme?[,] layerSlots, ref WrittenScheme? embed, ref WrittenScheme? lmHead)
        {
            var overridesNode = section.Value("overrides");
            if (overridesNode is null) return true;
            if (overridesNode is not YamlSequenceNode list)
            {
                sink.Error(SpecDiagnosticIds.WrongType, "'quantization.overrides' must be a list of overrides, each with 'modules' and 'scheme'",
                    overridesNode.Location);
                return false;
            }
            bool ok = true;
            var winners = new Dictionary<object, int>();   // slot → index of the override that holds it
            var overrideAt = new List<SpecLocation>();
            for (int i = 0; i < list.Items.Count; i++)
            {
                string path = $"quantization.overrides[{i}]";
                var o = sink.Mapping(list.Items[i], path, OverrideKeys);
                overrideAt.Add(list.Items[i].Location);
                if (o is null) { ok = false; continue; }
                if (!o.Require("modules", "the modules it applies to, e.g. [q_proj, k_proj, v_proj]") | !o.Require("scheme", "fp16, bf16, fp8_e4m3 or int4"))
                {
                    ok = false;
                    continue;
                }
                var modules = ReadModules(sink, o.Value("modules")!, path + ".modules");
                var written = ReadScheme(sink, o);
                bool anyLayerModule = modules?.Any(m => m.IsLayerModule()) ?? false;
                List<int>? layerList = Enumerable.Range(0, model.NumHiddenLayers).ToList();
                if (o.Has("layers"))
                {
                    if (modules != null && !anyLayerModule)
                    {
                        sink.Error(SpecDiagnosticIds.OptionNotApplicable,
                            "'layers' applies to decoder-layer modules; embed_tokens and lm_head are outside the layers. Remove 'layers' here",
                            o.KeyLocation("layers"));
                        ok = false;
                    }
                    layerList = ReadLayers(sink, o.Value("layers")!, path + ".layers", model.NumHiddenLayers);
                }
                if (modules is null || written is null || layerList is null) { ok = false; continue; }
                foreach (var module in modules)
                {
                    if (module == ModuleKind.EmbedTokens) { embed = written; winners[module] = i; }
                    else if (module == ModuleKind.LmHead) { lmHead = written; winners[module] = i; }
                    else
                    {
                        int m = Array.IndexOf(ModuleKinds.LayerLinears, module);
                        foreach (int l in layerList)
                        {
                            layerSlots[l, m] = written;
                            winners[(l, m)] = i;
                        }
                    }
                }
            }
            var live = new HashSet<int>(winners.Values);
            for (int i = 0; i < overrideAt.Count; i++)
                if (ok && !live.Contains(i))
                    sink.Warning(SpecDiagnosticIds.ShadowedOverride,
                        $"quantization.overrides[{i}] never applies: later overrides replace it on every layer and module it names. Remove it or narrow the later ones",
                        overrideAt[i]);
            return ok;
        }

        /// <summary>`default:` is a scheme name or a mapping of scheme keys.</summary>
        private static WrittenScheme? ReadScheme(SpecDiagnosticSink sink, YamlTreeNode node, string path)
        {
            if (node is YamlScalarNode scalar)
            {
                sink.Map.Add(path + ".scheme", scalar.Location);
                var method = MappingView.ChoiceOf(sink, scalar, path, Methods);
                return method is null ? null : new WrittenScheme(Defaults(method.Value), path + ".scheme", scalar.Location, scalar.Location);
            }
            var view = sink.Mapping(node, path, SchemeKeys);
            if (view is null || !view.Require("scheme", "fp16, bf16, fp8_e4m3 or int4")) return null;
            return ReadScheme(sink, view);
        }

        private static WrittenScheme? ReadScheme(SpecDiagnosticSink sink, MappingView s)
        {
            var m = s.Choice("scheme", Methods);
            if (m is null) return null;
            var scheme = Defaults(m.Value);
            bool ok = true;

            bool Inapplicable(string key, string appliesTo)
            {
                if (!s.Has(key)) return false;
                sink.Error(SpecDiagnosticIds.OptionNotApplicable,
                    $"'{key}' applies to {appliesTo} only; scheme here is {Methods.First(x => x.Item2 == m.Value).Item1}. Remove it",
                    s.KeyLocation(key));
                ok = false;
                return true;
            }

            if (m.Value == QuantMethod.Int4)
            {
                var format = s.Has("format") ? s.Choice("format", Formats) : Int4Format.Gptq;
                int? group = s.Has("group_size") ? s.Int("group_size", -1, 1 << 20) : 128;
                if (group is int g && g != -1 && g != 32 && g != 64 && g != 128)
                {
                    sink.Error(SpecDiagnosticIds.OutOfRange, $"'{s.Child("group_size")}' is {g}; allowed: 32, 64, 128 or -1 (one group per output channel)",
                        s.ValueLocation("group_size"));
                    group = null;
                }
                bool symmetric = s.Bool("symmetric") ?? format != Int4Format.Awq;
                bool descAct = s.Bool("desc_act") ?? false;
                if (format == Int4Format.Awq && s.Has("symmetric") && symmetric)
                {
                    sink.Error(SpecDiagnosticIds.OptionNotApplicable, "AWQ checkpoints store zero points; 'symmetric: true' is not an AWQ layout. Use format: gptq or drop 'symmetric'",
                        s.ValueLocation("symmetric"));
                    ok = false;
                }
                if (format == Int4Format.Awq && descAct)
                {
                    sink.Error(SpecDiagnosticIds.OptionNotApplicable, "AWQ has no act-order; 'desc_act: true' needs format: gptq", s.ValueLocation("desc_act"));
                    ok = false;
                }
                Inapplicable("weight_scale", "fp8_e4m3");
                Inapplicable("activation_scale", "fp8_e4m3");
                if (format is null || group is null) return null;
                scheme = scheme with { Format = format.Value, GroupSize = group.Value, Symmetric = symmetric, DescAct = descAct };
            }
            else
            {
                foreach (var key in new[] { "format", "group_size", "symmetric", "desc_act" }) Inapplicable(key, "int4");
                if (m.Value == QuantMethod.Fp8E4M3)
                {
                    var granularity = s.Has("weight_scale") ? s.Choice("weight_scale", Granularities) : ScaleGranularity.PerChannel;
                    var activationScale = s.Has("activation_scale") ? s.Choice("activation_scale", ActivationScales) : ActivationScaling.None;
                    if (granularity is null || activationScale is null) return null;
                    scheme = scheme with { WeightScale = granularity.Value, ActivationScale = activationScale.Value };
                }
                else
                {
                    Inapplicable("weight_scale", "fp8_e4m3");
                    Inapplicable("activation_scale", "fp8_e4m3");
                }
            }
            return ok ? new WrittenScheme(scheme, s.Child("scheme"), s.ValueLocation("scheme"), s.Has("group_size") ? s.ValueLocation("group_size") : s.ValueLocation("scheme")) : null;
        }

        private static QuantScheme Defaults(QuantMethod method) => method switch
        {
            QuantMethod.Int4 => new QuantScheme(QuantMethod.Int4, Int4Format.Gptq, 128, Symmetric: true),
            _ => new QuantScheme(method),
        };

        private static bool CheckModule(SpecDiagnosticSink sink, ModuleKind module, WrittenScheme? written, ModelShape model)
        {
            if (written is null) return true;
            var scheme = written.Scheme;
            if (scheme.IsDense && scheme.Method != (model.DType == DType.BF16 ? QuantMethod.Bf16 : QuantMethod.Fp16))
            {
                sink.Error(SpecDiagnosticIds.WeightDTypeMismatch,
                    $"{module.SpecName()} is {scheme.Describe()} but the activations are {model.DType.SpecName()}; dense weights use the activation dtype ({model.DType.SpecName()}) or a quantized scheme",
                    written.At);
                return false;
            }
            if (module == ModuleKind.EmbedTokens && scheme.Method == QuantMethod.Int4)
            {
                sink.Error(SpecDiagnosticIds.SchemeNotAllowedForModule,
                    "embed_tokens cannot be int4: the embedding gather reads rows, and INT4 layouts pack along the input dimension; use fp16/bf16 or fp8_e4m3",
                    written.At);
                return false;
            }
            if (module == ModuleKind.EmbedTokens && scheme.Method == QuantMethod.Fp8E4M3 && scheme.ActivationScale != ActivationScaling.None)
            {
                sink.Error(SpecDiagnosticIds.SchemeNotAllowedForModule,
                    "embed_tokens has no input activations to scale; use 'activation_scale: none' for an FP8 embedding", written.At);
                return false;
            }
            if (scheme.Method == QuantMethod.Int4 && module != ModuleKind.EmbedTokens)
            {
                var (k, n) = model.LinearShape(module);
                int g = scheme.GroupSizeFor(k);
                if (n % 8 != 0)
                {
                    sink.Error(SpecDiagnosticIds.GroupSizeDoesNotDivideK,
                        $"{module.SpecName()} has N = {n} outputs; int4 packs 8 output columns per 32-bit word, so N must be divisible by 8. Keep {module.SpecName()} in {model.DType.SpecName()} or fp8_e4m3",
                        written.At);
                    return false;
                }
                if (k % g != 0 || k % 8 != 0)
                {
                    sink.Error(SpecDiagnosticIds.GroupSizeDoesNotDivideK,
                        $"{module.SpecName()} has K = {k} input features; int4 needs K divisible by group_size {g} and by 8. Use a group_size that divides {k}, or -1",
                        written.GroupSizeAt);
                    return false;
                }
            }
            return true;
        }

        private static List<ModuleKind>? ReadModules(SpecDiagnosticSink sink, YamlTreeNode node, string path)
        {
            var items = node is YamlSequenceNode seq ? seq.Items : new[] { node };
            var result = new List<ModuleKind>();
            bool ok = true;
            foreach (var item in items)
            {
                if (item is not YamlScalarNode scalar)
                {
                    sink.Error(SpecDiagnosticIds.WrongType, $"'{path}' must list module names", item.Location);
                    ok = false;
                    continue;
                }
                var module = MappingView.ChoiceOf(sink, scalar, path, Modules);
                if (module is null) ok = false;
                else if (!result.Contains(module.Value)) result.Add(module.Value);
            }
            return ok ? result : null;
        }

        /// <summary>`all`, a layer number, a range "a-b" (inclusive), or a list of those.</summary>
        private static List<int>? ReadLayers(SpecDiagnosticSink sink, YamlTreeNode node, string path, int layers)
        {
            var items = node is YamlSequenceNode seq ? seq.Items : new[] { node };
            var result = new SortedSet<int>();
            bool ok = true;
            foreach (var item in items)
            {
                if (item is not YamlScalarNode scalar)
                {
                    sink.Error(SpecDiagnosticIds.WrongType, $"'{path}' must be 'all', a layer number, a range like 0-39, or a list of those", item.Location);
                    ok = false;
                    continue;
                }
                string text = scalar.Value.Trim();
                if (text == "all")
                {
                    for (int l = 0; l < layers; l++) result.Add(l);
                    continue;
                }
                var parts = text.Split('-');
                if (parts.Length > 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int from)
                    || !int.TryParse(parts[parts.Length - 1], NumberStyles.None, CultureInfo.InvariantCulture, out int to))
                {
                    sink.Error(SpecDiagnosticIds.BadLayerRange, $"'{path}' has '{text}'; write 'all', a layer number, or a range like 0-{layers - 1}", scalar.Location);
                    ok = false;
                    continue;
                }
                if (from > to)
                {
                    sink.Error(SpecDiagnosticIds.BadLayerRange, $"layer range '{text}' runs backwards; write {to}-{from}", scalar.Location);
                    ok = false;
                    continue;
                }
                if (to >= layers)
                {
                    sink.Error(SpecDiagnosticIds.BadLayerRange,
                        $"layer range '{text}' goes past the last layer: the model has {layers} layers, numbered 0-{layers - 1}", scalar.Location);
                    ok = false;
                    continue;
                }
                for (int l = from; l <= to; l++) result.Add(l);
            }
            if (ok && result.Count == 0)
            {
                sink.Error(SpecDiagnosticIds.BadLayerRange, $"'{path}' names no layers; write 'all', a layer number or a range like 0-{layers - 1}", node.Location);
                return null;
            }
            return ok ? result.ToList() : null;
        }

        /// <summary>[0,1,2,5,7,8] → "0-2, 5, 7-8".</summary>
        internal static string FormatRanges(IReadOnlyList<int> sorted)
        {
            var parts = new List<string>();
            for (int i = 0; i < sorted.Count;)
            {
                int j = i;
                while (j + 1 < sorted.Count && sorted[j + 1] == sorted[j] + 1) j++;
                parts.Add(i == j ? sorted[i].ToString(CultureInfo.InvariantCulture) : $"{sorted[i]}-{sorted[j]}");
                i = j + 1;
            }
            return string.Join(", ", parts);
        }
    }
}
