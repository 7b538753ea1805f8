using System;
using System.IO;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Compilation;
using GraphCompiler.Graph;
using GraphCompiler.Runtime.Checkpoints;
using GraphCompiler.Runtime.Cpu;
using GraphCompiler.Runtime.Reference;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests.Cpu
{
    /// <summary>
    /// The small model exported by tests/reference/export_quantized.py in AutoGPTQ, AutoAWQ and FP8 checkpoint layouts:
    /// each loads under its spec, and graphc's dequantization of layer 0 equals PyTorch's bit for bit.
    /// </summary>
    public class QuantizedFixtureTests
    {
        [Theory]
        [InlineData("small-llama-gptq", "small-llama-int4-gptq", QuantizationFamily.Gptq)]
        [InlineData("small-llama-awq", "small-llama-int4-awq", QuantizationFamily.Awq)]
        [InlineData("small-llama-fp8", "small-llama-fp8", QuantizationFamily.Fp8)]
        public void Each_format_loads_under_its_spec_and_dequantizes_exactly_as_pytorch_does(string folder, string spec, QuantizationFamily kind)
        {
            var (parse, model) = ModelCompiler.Compile(TestSpecs.PathOf(spec), TestSpecs.Text(spec));
            using var checkpoint = Checkpoint.Open(TestSpecs.Fixture(folder));
            Assert.Equal(kind, checkpoint.Quantization.Family);
            var tensors = CheckpointLoader.Load(checkpoint, model!, parse.SourceMap, out var report);
            Assert.Equal(0, report.QuantizedModules);   // loaded as stored, not quantized again

            using var reference = Checkpoint.Open(TestSpecs.Fixture("small-llama-reference-dequant.safetensors"));
            string format = folder.Substring("small-llama-".Length);
            foreach (var module in ModuleKinds.LayerLinears)
            {
                var (k, n) = model!.Spec.Model.LinearShape(module);
                var scheme = model.Spec.Quantization.For(module, 0);
                string prefix = module.HfPrefix(0) + ".";
                var ours = Dequantize(tensors, module, k, n, scheme);

                Assert.True(reference.TryGet($"{format}.{prefix}weight", out var expected), $"no reference for {prefix}weight");
                var theirs = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(expected.Span).ToArray();
                int mismatches = ours.Zip(theirs).Count(p => p.First != p.Second);
                Assert.True(mismatches == 0, $"{format} {prefix}weight: {mismatches} of {ours.Length} values differ from PyTorch's dequantization");
            }
        }

        /// <summary>A layer-0 module's weight [N, K] in fp16 bits, dequantized by the reference from the checkpoint's tensors.</summary>
        internal static ushort[] Dequantize(CheckpointTensors tensors, ModuleKind module, int k, int n, QuantScheme scheme)
        {
            var kernel = new WeightDequantKernel("check", k, n, scheme, DType.F16);
            string prefix = module.HfPrefix(0) + ".";
            var result = new ushort[(long)k * n];
            if (scheme.Method == QuantMethod.Fp8E4M3)
                ElementwiseReference.DequantFp8(kernel, tensors[prefix + "weight"].Data, tensors[prefix + "weight_scale"].As<float>(), result);
            else if (scheme.Format == Int4Format.Gptq)
                ElementwiseReference.DequantGptq(kernel, tensors[prefix + "qweight"].As<uint>(), tensors[prefix + "qzeros"].As<uint>(),
                    tensors[prefix + "scales"].As<ushort>(), tensors[prefix + "g_idx"].As<int>(), result);
            else
                ElementwiseReference.DequantAwq(kernel, tensors[prefix + "qweight"].As<uint>(), tensors[prefix + "qzeros"].As<uint>(),
                    tensors[prefix + "scales"].As<ushort>(), result);
            return result;
        }
    }
}
