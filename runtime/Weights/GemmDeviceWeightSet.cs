using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using GraphCompiler.Compilation;
using GraphCompiler.Graph;
using GraphCompiler.Runtime.Cpu;
using GraphCompiler.Runtime.Reference;
using GraphCompiler.Spec;

namespace GraphCompiler.Runtime.Weights
{
    /// <summary>
    /// Every GEMM's weights in the order its kernel reads them, made once at load from the checkpoint tensors: the modules
    /// a launch fuses (q/k/v, gate/up) concatenated along N, INT4 unpacked from its GPTQ or AWQ words, FP8 per-tensor
    /// scales repeated per channel, gate/up interleaved for the SwiGLU epilogue, then <see cref="GemmWeightPacker"/>.
    /// Keyed like the launch plan: (layer, "q_proj+k_proj+v_proj"), lm_head as (layers, "lm_head").
    /// </summary>
    public sealed class GemmDeviceWeightSet
    {
        private readonly Dictionary<(int, string), GemmDeviceWeights> _weights;

        private GemmDeviceWeightSet(Dictionary<(int, string), GemmDeviceWeights> weights) => _weights = weights;

        public GemmDeviceWeights this[int layer, string modules] =>
            _weights.TryGetValue((layer, modules), out var w) ? w : throw new KeyNotFoundException($"no GEMM weights for {modules} of layer {layer}");

        public IEnumerable<(int Layer, string Modules)> Keys => _weights.Keys;

        /// <summary>Device bytes of all GEMM weights (codes, scales, zeros, permutations).</summary>
        public long Bytes => _weights.Values.Sum(w => w.Bytes);

        public static GemmDeviceWeightSet Build(CompiledModel model, CheckpointTensors checkpoint)
        {
            var interleaved = new HashSet<string>(model.Plan.Kernels.OfType<GemmKernel>().Where(k => k.Epilogue == GemmEpilogue.SwiGlu).Select(k => k.Name));
            var swiGluLaunches = new HashSet<string>(new[] { model.Plan.Prefill, model.Plan.Decode }
                .SelectMany(p => p.Layers.SelectMany(g => g.Launches)).Where(l => interleaved.Contains(l.Kernel)).Select(l => l.Modules));
            var gemms = CpuWeights.Gemms(model);
            var result = new Dictionary<(int, string), GemmDeviceWeights>();
            var built = new GemmDeviceWeights[gemms.Count];
            Parallel.For(0, gemms.Count, i =>
            {
                var (layer, modules) = gemms[i];
                built[i] = Pack(model.Spec, checkpoint, layer, modules, swiGluLaunches.Contains(modules));
            });
            for (int i = 0; i < gemms.Count; i++) result[gemms[i]] = built[i];
            return new GemmDeviceWeightSet(result);
        }

        private static GemmDeviceWeights Pack(ModelSpec spec, CheckpointTensors checkpoint, int layer, string modules, bool interleave)
        {
            var m = spec.Model;
            var kinds = modules.Split('+').Select(RandomCheckpoint.ModuleOf).ToArray();
            var scheme = spec.Quantization.For(kinds[0], CpuWeights.LayerOf(kinds[0], layer));
            int k = m.LinearShape(kinds[0]).K;
            var widths = kinds.Select(x => m.LinearShape(x).N).ToArray();
            int n = widths.Sum();
            string[] prefixes = kinds.Select(x => CpuWeights.Prefix(spec, x, layer) + ".").ToArray();
            switch (scheme.Method)
            {
                case QuantMethod.Int4:
                    {
                        int g = scheme.GroupSizeFor(k), groups = k / g;
                        var codes = new int[k, n];
                        var zeros = new int[groups, n];
                        var scales = new ushort[groups, n];
                        int[]? gIdx = null;
                        int column0 = 0;
                        for (int i = 0; i < kinds.Length; i++)
                        {
                            string p = prefixes[i];
                            var plain = scheme.Format == Int4Format.Gptq
                                ? QuantizedPacking.UnpackGptq(checkpoint[p + "qweight"].As<uint>(), checkpoint[p + "qzeros"].As<uint>(), checkpoint[p + "scales"].As<ushort>(), k, widths[i], groups)
                                : QuantizedPacking.UnpackAwq(checkpoint[p + "qweight"].As<uint>(), checkpoint[p + "qzeros"].As<uint>(), checkpoint[p + "scales"].As<ushort>(), k, widths[i], groups);
                            if (scheme.Format == Int4Format.Gptq)
                            {
                                var own = checkpoint[p + "g_idx"].As<int>();
                                // Fused modules run as one GEMM over one activation order: their act-order must agree (GPTQ gives
                                // modules reading the same input the same order).
                                if (gIdx != null && !own.AsSpan().SequenceEqual(gIdx))
                                    throw new InvalidDataException($"{p}g_idx differs from {prefixes[0]}g_idx, but the plan fuses {modules} into one GEMM over one activation order; quantize them with the same act-order, or give them different schemes in the spec");
                                gIdx = own;
                            }
                            for (int r = 0; r < k; r++)
                                for (int c = 0; c < widths[i]; c++) codes[r, column0 + c] = plain.Codes[r, c];
                            for (int gi = 0; gi < groups; gi++)
                                for (int c = 0; c < widths[i]; c++)
                                {
                                    zeros[gi, column0 + c] = plain.Zeros[gi, c];
                                    scales[gi, column0 + c] = plain.Scales[gi, c];
                                }
                            column0 += widths[i];
                        }
                        return GemmWeightPacker.PackInt4(new Int4Unpacked(codes, zeros, scales), gIdx, g, scheme.Symmetric, scheme.DescAct, m.DType, k, n, interleave);
                    }
                case QuantMethod.Fp8E4M3:
                    {
                        var codes = Concatenate(prefixes.Select(p => checkpoint[p + "weight"].As<byte>()).ToArray());
                        var channel = new float[n];
                        int column0 = 0;
                        for (int i = 0; i < kinds.Length; i++)
                        {
                            var s = checkpoint[prefixes[i] + "weight_scale"].As<float>();
                            for (int c = 0; c < widths[i]; c++) channel[column0 + c] = s.Length == 1 ? s[0] : s[c];
                            column0 += widths[i];
                        }
                        var packed = GemmWeightPacker.PackFp8(codes, channel, k, n, interleave);
                        // Static W8A8: one activation scale for the fused GEMM, the largest, so that no module's input saturates.
                        return scheme.ActivationScale == ActivationScaling.Static
                            ? packed with { InputScale = new[] { prefixes.Max(p => checkpoint[p + "input_scale"].As<float>()[0]) } }
                            : packed;
                    }
                default:
                    return GemmWeightPacker.PackDense(Concatenate(prefixes.Select(p => checkpoint[p + "weight"].As<ushort>()).ToArray()), k, n, interleave);
            }
        }

        /// <summary>Row-major [N_i, K] blocks stacked into [ΣN_i, K].</summary>
        private static T[] Concatenate<T>(T[][] parts)
        {
            if (parts.Length == 1) return parts[0];
            var all = new T[parts.Sum(p => p.LongLength)];
            long offset = 0;
            foreach (var p in parts)
            {
                Array.Copy(p, 0, all, offset, p.LongLength);
                offset += p.LongLength;
            }
            return all;
        }
    }
}
