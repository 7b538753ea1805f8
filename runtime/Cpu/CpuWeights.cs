using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading.Tasks;
using GraphCompiler.Compilation;
using GraphCompiler.Graph;
using GraphCompiler.Runtime.Reference;
using GraphCompiler.Spec;

namespace GraphCompiler.Runtime.Cpu
{
    /// <summary>
    /// The weights as the CPU executor uses them, prepared once at load: every GEMM's weight as float32 [N, K] row-major
    /// (dequantized exactly as the GPU's dequantization kernel does, into the activation dtype, then widened), with the
    /// rows of q/k/v or gate/up concatenated where the plan fuses them into one GEMM; RMSNorm weights and the embedding
    /// table as the checkpoint stores them, for the reference elementwise functions.
    /// </summary>
    public sealed class CpuWeights
    {
        private readonly Dictionary<string, float[]> _linear;
        private readonly Dictionary<string, float> _inputScales;
        private readonly Dictionary<string, ushort[]> _norms;

        private CpuWeights(Dictionary<string, float[]> linear, Dictionary<string, float> inputScales, Dictionary<string, ushort[]> norms,
            ushort[]? embedding, byte[]? fp8Embedding, float[]? embeddingScale)
        {
            _linear = linear;
            _inputScales = inputScales;
            _norms = norms;
            Embedding = embedding;
            Fp8Embedding = fp8Embedding;
            EmbeddingScale = embeddingScale;
        }

        /// <summary>The fp16/bf16 embedding table [vocab, hidden] as bits, or null when it is FP8.</summary>
        public ushort[]? Embedding { get; }

        /// <summary>The FP8 embedding table's e4m3 codes [vocab, hidden] and its per-row or per-tensor scales.</summary>
        public byte[]? Fp8Embedding { get; }
        public float[]? EmbeddingScale { get; }

        /// <summary>Bytes of the float32 GEMM weights.</summary>
        public long LinearBytes => _linear.Values.Sum(w => 4L * w.LongLength);

        /// <summary>
        /// Host memory the CPU backend needs for a model, before building it: the checkpoint (as stored) plus every GEMM
        /// weight widened to float32 (lm_head included, shared with a tied embedding or not).
        /// </summary>
        public static long EstimateHostBytes(CompiledModel model)
        {
            var m = model.Spec.Model;
            long linear = ModuleKinds.LayerLinears.Sum(x => { var (k, n) = m.LinearShape(x); return 4L * k * n; }) * m.NumHiddenLayers;
            return model.Manifest.Sum(t => t.Bytes) + linear + 4L * m.HiddenSize * m.VocabSize;
        }

        /// <summary>The float32 [N, K] weight of the GEMM over <paramref name="modules"/> ("q_proj+k_proj+v_proj") in that layer.</summary>
        public float[] Linear(int layer, string modules) =>
            _linear.TryGetValue(Key(layer, modules), out var w) ? w : throw new KeyNotFoundException($"no weight loaded for {modules} of layer {layer}");

        /// <summary>The checkpoint's input_scale of a static-W8A8 GEMM; several fused modules share the largest, so that
        /// none of them saturates (as vLLM does for fused projections).</summary>
        public float InputScale(int layer, string modules) =>
            _inputScales.TryGetValue(Key(layer, modules), out var s) ? s : throw new KeyNotFoundException($"no input_scale loaded for {modules} of layer {layer}");

        /// <summary>An RMSNorm weight by Hugging Face name, as activation-dtype bits.</summary>
        public ushort[] Norm(string name) =>
            _norms.TryGetValue(name, out var w) ? w : throw new KeyNotFoundException($"no norm weight named {name}");

        public static CpuWeights Load(CompiledModel model, CheckpointTensors checkpoint)
        {
            Validate(model, checkpoint);
            var spec = model.Spec;
            var m = spec.Model;
            var norms = model.Manifest.Where(t => t.Module == "norm").ToDictionary(t => t.Name, t => checkpoint[t.Name].As<ushort>());

            ushort[]? embedding = null;
            byte[]? fp8Embedding = null;
            float[]? embeddingScale = null;
            string embed = ModuleKind.EmbedTokens.HfPrefix(-1);
            if (spec.Quantization.EmbedTokens.Method == QuantMethod.Fp8E4M3)
            {
                fp8Embedding = checkpoint[embed + ".weight"].As<byte>();
                embeddingScale = checkpoint[embed + ".weight_scale"].As<float>();
            }
            else embedding = checkpoint[embed + ".weight"].As<ushort>();

            var gemms = Gemms(model);
            var linear = new ConcurrentDictionary<string, float[]>();
            var inputScales = new Dictionary<string, float>();
            foreach (var (layer, modules) in gemms)
            {
                var kinds = modules.Split('+').Select(RandomCheckpoint.ModuleOf).ToArray();
                if (kinds.All(x => spec.Quantization.For(x, LayerOf(x, layer)).ActivationScale == ActivationScaling.Static))
                    inputScales[Key(layer, modules)] = kinds.Max(x => checkpoint[Prefix(spec, x, layer) + ".input_scale"].As<float>()[0]);
            }
            Parallel.ForEach(gemms, g =>
            {
                var parts = g.Modules.Split('+').Select(x => Dequantize(spec, checkpoint, RandomCheckpoint.ModuleOf(x), g.Layer)).ToArray();
                var all = new float[parts.Sum(p => p.Length)];
                int offset = 0;
                foreach (var p in parts)
                {
                    Array.Copy(p, 0, all, offset, p.Length);
                    offset += p.Length;
                }
                linear[Key(g.Layer, g.Modules)] = all;
            });
            return new CpuWeights(new Dictionary<string, float[]>(linear), inputScales, norms, embedding, fp8Embedding, embeddingScale);
        }

        /// <summary>Every GEMM the plan launches, once: (layer, modules), lm_head with the layer count.</summary>
        internal static List<(int Layer, string Modules)> Gemms(CompiledModel model)
        {
            var gemms = new List<(int Layer, string Modules)>();
            foreach (var phase in new[] { model.Plan.Prefill, model.Plan.Decode })
                foreach (var (launch, layer) in phase.InOrder()) AddGemm(model, launch, layer, gemms);
            return gemms;
        }

        private static void AddGemm(CompiledModel model, PlannedLaunch launch, int layer, List<(int, string)> gemms)
        {
            if (model.Kernel(launch.Kernel) is GemmKernel && !gemms.Contains((layer, launch.Modules))) gemms.Add((layer, launch.Modules));
        }

        /// <summary>One module's weight, [N, K] float32: the reference dequantization into the activation dtype, widened.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static float[] Dequantize(ModelSpec spec, CheckpointTensors checkpoint, ModuleKind module, int layer)
        {
            var m = spec.Model;
            var scheme = spec.Quantization.For(module, LayerOf(module, layer));
            var (k, n) = m.LinearShape(module);
            string prefix = Prefix(spec, module, layer) + ".";
            var kernel = new WeightDequantKernel($"dequant_{scheme.Tag()}_k{k}_n{n}", k, n, scheme, m.DType);
            ushort[] bits;
            switch (scheme.Method)
            {
                case QuantMethod.Fp16:
                case QuantMethod.Bf16:
                    bits = checkpoint[prefix + "weight"].As<ushort>();
                    break;
                case QuantMethod.Fp8E4M3:
                    bits = new ushort[(long)n * k];
                    ElementwiseReference.DequantFp8(kernel, checkpoint[prefix + "weight"].As<byte>(), checkpoint[prefix + "weight_scale"].As<float>(), bits);
                    break;
                case QuantMethod.Int4 when scheme.Format == Int4Format.Gptq:
                    bits = new ushort[(long)n * k];
                    ElementwiseReference.DequantGptq(kernel, checkpoint[prefix + "qweight"].As<uint>(), checkpoint[prefix + "qzeros"].As<uint>(),
                        checkpoint[prefix + "scales"].As<ushort>(), checkpoint[prefix + "g_idx"].As<int>(), bits);
                    break;
                case QuantMethod.Int4:
                    bits = new ushort[(long)n * k];
                    ElementwiseReference.DequantAwq(kernel, checkpoint[prefix + "qweight"].As<uint>(), checkpoint[prefix + "qzeros"].As<uint>(),
                        checkpoint[prefix + "scales"].As<ushort>(), bits);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(module), scheme.Method, "no dequantization for this scheme");
            }
            var w = new float[bits.Length];
            Widening.Load(m.DType, bits, w);
            return w;
        }

        /// <summary>Every tensor of the manifest, present with its shape and dtype; all problems in one message.</summary>
        internal static void Validate(CompiledModel model, CheckpointTensors checkpoint)
        {
            var problems = new List<string>();
            foreach (var t in model.Manifest)
            {
                if (!checkpoint.Contains(t.Name)) problems.Add($"{t.Name}: missing (expected {t.ShapeText} {t.DType})");
                else if (!checkpoint[t.Name].Shape.SequenceEqual(t.Shape) || checkpoint[t.Name].DType != t.DType)
                    problems.Add($"{t.Name}: {checkpoint[t.Name].ShapeText} {checkpoint[t.Name].DType}, expected {t.ShapeText} {t.DType}");
            }
            if (problems.Count > 0)
                throw new InvalidDataException($"the checkpoint does not match {model.Spec.Name}'s manifest ({problems.Count} problem(s)):\n  "
                    + string.Join("\n  ", problems.Take(20)) + (problems.Count > 20 ? $"\n  … and {problems.Count - 20} more" : ""));
        }

        /// <summary>Where a module's tensors live: a tied lm_head reads embed_tokens.</summary>
        internal static string Prefix(ModelSpec spec, ModuleKind module, int layer) =>
            module == ModuleKind.LmHead && spec.Model.TieWordEmbeddings ? ModuleKind.EmbedTokens.HfPrefix(-1) : module.HfPrefix(layer);

        /// <summary>The layer a scheme lookup takes: lm_head's launch runs after the last layer.</summary>
        internal static int LayerOf(ModuleKind module, int layer) => module.IsLayerModule() ? layer : 0;

        private static string Key(int layer, string modules) => modules == ModuleKind.LmHead.SpecName() ? modules : layer + ":" + modules;
    }
}
