using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Spec;

namespace GraphCompiler.Planning
{
    /// <summary>One tensor the checkpoint must provide: Hugging Face name, shape, dtype, and the module and layer it belongs to.</summary>
    public sealed record WeightTensor(string Name, EquatableArray<int> Shape, DType DType, string Module, int Layer)
    {
        public long Bytes => Shape.Aggregate(1L, (a, d) => a * d) * DType.SizeInBytes();
        public string ShapeText => "[" + string.Join(", ", Shape) + "]";
    }

    /// <summary>Every tensor a checkpoint for the spec must hold, in the order a loader meets them.</summary>
    public static class WeightManifest
    {
        public static IReadOnlyList<WeightTensor> Build(ModelSpec spec)
        {
            var m = spec.Model;
            var q = spec.Quantization;
            var result = new List<WeightTensor>();

            void Module(ModuleKind module, int layer, int k, int n)
            {
                var scheme = q.For(module, layer);
                foreach (var t in WeightLayout.For(scheme).CheckpointTensors(k, n, m.DType))
                    result.Add(new WeightTensor(module.HfPrefix(layer) + "." + t.Suffix, t.Shape.ToEquatableArray(), t.DType, module.SpecName(), layer));
            }

            void Norm(string name, int layer) =>
                result.Add(new WeightTensor(name, new[] { m.HiddenSize }.ToEquatableArray(), m.DType, "norm", layer));

            // The embedding is stored [vocab, hidden]: rows are gathered, so its "output channel" is the vocabulary row.
            Module(ModuleKind.EmbedTokens, -1, m.HiddenSize, m.VocabSize);
            for (int l = 0; l < m.NumHiddenLayers; l++)
            {
                Norm($"model.layers.{l}.input_layernorm.weight", l);
                foreach (var module in ModuleKinds.LayerLinears)
                {
                    var (k, n) = m.LinearShape(module);
                    Module(module, l, k, n);
                }
                Norm($"model.layers.{l}.post_attention_layernorm.weight", l);
            }
            Norm("model.norm.weight", m.NumHiddenLayers);
            if (!m.TieWordEmbeddings) Module(ModuleKind.LmHead, m.NumHiddenLayers, m.HiddenSize, m.VocabSize);
            return result;
        }
    }
}
