using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Graph;
using GraphCompiler.Kernels;
using GraphCompiler.Planning;
using GraphCompiler.Spec;

namespace GraphCompiler.Compilation
{
    /// <summary>Everything compiled from one valid spec: spec → graph → fused plan → memory plan → kernels per architecture.</summary>
    public sealed class CompiledModel
    {
        internal CompiledModel(ModelSpec spec, LlamaGraph graph, KernelPlan plan, MemoryPlan memory, IReadOnlyList<WeightTensor> manifest,
            IReadOnlyList<WeightDequantKernel> dequantKernels, CompiledModel? rank = null)
        {
            Rank = rank ?? this;
            Sampling = new SamplingKernel($"sample_v{spec.Model.VocabSize}", spec.Model.VocabSize);
            Spec = spec;
            Graph = graph;
            Plan = plan;
            Memory = memory;
            Manifest = manifest;
            DequantKernels = dequantKernels;
        }

        public ModelSpec Spec { get; }

        /// <summary>What each GPU of a tensor-parallel spec runs (<see cref="TensorShards.RankSpec"/>): its own graph, plan,
        /// kernels and manifest of shards; the model itself when `parallel.tensor` is 1.</summary>
        public CompiledModel Rank { get; }

        public LlamaGraph Graph { get; }
        public KernelPlan Plan { get; }
        public MemoryPlan Memory { get; }
        public IReadOnlyList<WeightTensor> Manifest { get; }

        /// <summary>One dequantization kernel per distinct quantized (scheme, K, N): for reference checks and large-M fallbacks.</summary>
        public IReadOnlyList<WeightDequantKernel> DequantKernels { get; }

        /// <summary>The token sampler over the model's logits rows, launched after a step's last kernel.</summary>
        public SamplingKernel Sampling { get; }

        private IEnumerable<FusedKernel> AllKernels => Plan.Kernels.Concat(DequantKernels).Append(Sampling);

        /// <summary>The kernel descriptor of that name: a kernel of the plan, a dequantization kernel or the sampler.</summary>
        public FusedKernel Kernel(string name) =>
            AllKernels.FirstOrDefault(k => k.Name == name) ?? throw new System.ArgumentException("no kernel named " + name, nameof(name));

        /// <summary>Every kernel of the plan that <paramref name="arch"/> runs (a decode attention's wide twin only where its
        /// tiles name one), then the dequantization kernels and the sampler, emitted with the arch's tiles.</summary>
        public IReadOnlyList<KernelSource> KernelsFor(GpuArch arch)
        {
            var tiles = Spec.Tiles.For(arch);
            return AllKernels.Where(k => k is not DecodeAttentionKernel { Wide: true } || tiles.DecodeAttentionWide != null)
                .Select(k => KernelEmitters.Emit(k, tiles)).ToList();
        }
    }

    /// <summary>The compiler's entry point, shared by the source generator, the CLI and the runtime.</summary>
    public static class ModelCompiler
    {
        public static (SpecParseResult Parse, CompiledModel? Model) Compile(string filePath, string text)
        {
            var parse = SpecParser.Parse(filePath, text);
            return (parse, parse.Spec is null ? null : Compile(parse.Spec));
        }

        /// <remarks>A tensor-parallel spec's memory plan is its rank's: what one GPU holds.</remarks>
        public static CompiledModel Compile(ModelSpec spec)
        {
            var rank = spec.Parallel.Tensor == 1 ? null : Compile(TensorShards.RankSpec(spec));
            var graph = LlamaGraphBuilder.Build(spec);
            var plan = FusionPass.Run(spec, graph, KernelEmitters.Capabilities);
            var memory = rank is null ? MemoryPlanner.Build(spec, plan) : MemoryPlanner.Build(rank.Spec, rank.Plan, spec.Parallel.Tensor);
            var manifest = WeightManifest.Build(spec);
            return new CompiledModel(spec, graph, plan, memory, manifest, DequantKernels(spec), rank);
        }

        private static IReadOnlyList<WeightDequantKernel> DequantKernels(ModelSpec spec)
        {
            var result = new List<WeightDequantKernel>();
            foreach (var (module, scheme) in TileDefaults.LinearSchemes(spec.Model, spec.Quantization))
            {
                if (scheme.IsDense) continue;
                var (k, n) = spec.Model.LinearShape(module);
                var kernel = new WeightDequantKernel($"dequant_{scheme.Tag()}_k{k}_n{n}", k, n, scheme, spec.Model.DType);
                if (!result.Contains(kernel)) result.Add(kernel);
            }
            if (spec.Quantization.EmbedTokens.Method == QuantMethod.Fp8E4M3)
            {
                var m = spec.Model;
                var embed = new WeightDequantKernel($"dequant_{spec.Quantization.EmbedTokens.Tag()}_k{m.HiddenSize}_n{m.VocabSize}",
                    m.HiddenSize, m.VocabSize, spec.Quantization.EmbedTokens, m.DType);
                if (!result.Contains(embed)) result.Add(embed);
            }
            return result;
        }
    }
}
