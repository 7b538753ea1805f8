using System;
using GraphCompiler.Graph;
using GraphCompiler.Kernels.Attention;
using GraphCompiler.Kernels.Elementwise;
using GraphCompiler.Kernels.Gemm;
using GraphCompiler.Kernels.Sampling;
using GraphCompiler.Spec;

namespace GraphCompiler.Kernels
{
    /// <summary>Dispatches each fused kernel to its family's emitter, and says which fusions the emitters support.</summary>
    public static class KernelEmitters
    {
        /// <summary>The GEMM emitter adds the residual and applies SwiGLU in its epilogue; RoPE in the decode-attention prologue comes with #5.</summary>
        public static FusionCapabilities Capabilities => new FusionCapabilities(GemmResidualEpilogue: true, GemmSwiGluEpilogue: true, DecodeAttentionRopePrologue: true);

        public static KernelSource Emit(FusedKernel kernel, ArchTiles tiles) => kernel switch
        {
            EmbeddingGatherKernel k => EmbeddingGatherEmitter.Emit(k, tiles),
            RmsNormKernel k => RmsNormEmitter.Emit(k, tiles),
            RopeKernel k => RopeEmitter.Emit(k, tiles),
            SwiGluKernel k => SwiGluEmitter.Emit(k, tiles),
            WeightDequantKernel k => WeightDequantEmitter.Emit(k, tiles),
            PrefillAttentionKernel k => PrefillAttentionFamily.Plan(k, tiles),
            DecodeAttentionKernel k => DecodeAttentionFamily.Plan(k, tiles),
            GemmKernel k => GemmFamily.Plan(k, tiles),
            SamplingKernel k => SamplingEmitter.Emit(k, tiles),
            _ => throw new ArgumentOutOfRangeException(nameof(kernel), kernel.GetType().Name, "no emitter for this kernel"),
        };
    }
}
