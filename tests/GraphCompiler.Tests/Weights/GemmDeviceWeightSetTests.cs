using System;
using System.IO;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Compilation;
using GraphCompiler.Graph;
using GraphCompiler.Kernels;
using GraphCompiler.Kernels.Gemm;
using GraphCompiler.Runtime.Checkpoints;
using GraphCompiler.Runtime.Cpu;
using GraphCompiler.Runtime.Reference;
using GraphCompiler.Runtime.Weights;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests.Weights
{
    /// <summary>
    /// The GEMM weights of real checkpoints (the small model as fp16, and as AutoGPTQ, AutoAWQ and FP8 files exported by
    /// PyTorch) repacked for the kernels: read back the way the kernel reads them, every fused GEMM (q/k/v, interleaved
    /// gate/up, lm_head) gives exactly the weights the CPU reference multiplies.
    /// </summary>
    public class GemmDeviceWeightSetTests
    {
        [Theory]
        [InlineData("small-llama", "small-llama")]
        [InlineData("small-llama-gptq", "small-llama-int4-gptq")]
        [InlineData("small-llama-awq", "small-llama-int4-awq")]
        [InlineData("small-llama-fp8", "small-llama-fp8")]
        public void Every_gemm_reads_back_as_the_weights_the_cpu_reference_multiplies(string folder, string spec)
        {
            var (parse, model) = ModelCompiler.Compile(TestSpecs.PathOf(spec), TestSpecs.Text(spec));
            using var checkpoint = Checkpoint.Open(TestSpecs.Fixture(folder));
            var tensors = CheckpointLoader.Load(checkpoint, model!, parse.SourceMap);
            var cpu = CpuWeights.Load(model!, tensors);
            var set = GemmDeviceWeightSet.Build(model!, tensors);
            var kernels = model!.Plan.Kernels.OfType<GemmKernel>().ToList();
            var act = ActivationCodec.For(model.Spec.Model.DType);
            foreach (var (layer, modules) in set.Keys)
            {
                var launch = new[] { model.Plan.Prefill, model.Plan.Decode }.SelectMany(p => p.Layers.SelectMany(g => g.Launches).Concat(p.Epilogue))
                    .First(l => l.Modules == modules);
                var kernel = (GemmKernel)model.Plan.Kernel(launch.Kernel);
                var expected = cpu.Linear(layer, modules);
                var actual = ReadBack(set[layer, modules], kernel, act);
                int mismatches = expected.Zip(actual).Count(p => p.First != p.Second);
                Assert.True(mismatches == 0, $"{modules} of layer {layer}: {mismatches} of {expected.Length} weights differ");
            }
        }

        /// <summary>W [N, K] in checkpoint order, each weight as the kernel forms it (for FP8, code × the column's scale rounded once).</summary>
        private static float[] ReadBack(GemmDeviceWeights d, GemmKernel k, ActivationCodec act)
        {
            bool interleave = k.Epilogue == GemmEpilogue.SwiGlu;
            int bits = GemmEmitter.WeightBits(k.Scheme), padded = WeightFragments.PaddedN(k.N);
            var elements = GemmWeightPacker.UnpackElements(d.Weight, k.K, k.N, bits, interleave);
            var perm = d.Perm ?? Enumerable.Range(0, k.K).ToArray();
            var deviceColumn = new int[k.N];
            for (int dc = 0; dc < k.N; dc++) deviceColumn[WeightFragments.SourceColumn(dc, k.N, interleave)] = dc;
            var (_, magic) = CudaDialect.Int4Magic(k.Activation);
            var w = new float[(long)k.N * k.K];
            for (int c = 0; c < k.N; c++)
                for (int r = 0; r < k.K; r++)
                {
                    ushort e = elements[(long)c * k.K + r];
                    float value = bits switch
                    {
                        16 => act.Load(e),
                        8 => act.Round(Fp8E4M3.ToFloat((byte)e) * d.WeightScale![deviceColumn[c]]),
                        _ => Int4(e, r, deviceColumn[c]),
                    };
                    w[(long)c * k.K + perm[r]] = value;
                }
            return w;

            float Int4(int code, int row, int column)
            {
                long at = (long)(row / k.Scheme.GroupSizeFor(k.K)) * padded + WeightFragments.ScalePosition(column);
                float zero = d.Zeros is null ? 8 : -act.Load(d.Zeros[at]) - magic;
                return act.Round((code - zero) * act.Load(d.Scales![at]));
            }
        }
    }
}
