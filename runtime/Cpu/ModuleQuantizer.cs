using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Runtime.Reference;
using GraphCompiler.Spec;

namespace GraphCompiler.Runtime.Cpu
{
    /// <summary>The reference quantizer: float weights of one module to the checkpoint tensors of its spec scheme.</summary>
    public static class ModuleQuantizer
    {
        /// <summary>
        /// The checkpoint tensors of one [N, K] weight <paramref name="w"/> in <paramref name="scheme"/>, by name suffix:
        /// round-to-nearest INT4 per group (GPTQ or AWQ layout; with act-order, input rows are quantized in
        /// <paramref name="actOrder"/>'s order and filed under groups by position in it), FP8 e4m3 with amax/448 scales per
        /// output channel or per tensor, or the activation dtype. A static W8A8 input_scale cannot be derived from weights:
        /// it must be given.
        /// </summary>
        public static Dictionary<string, (DType, byte[])> Quantize(float[] w, int k, int n, QuantScheme scheme, ActivationCodec act, int[]? actOrder, float? staticInputScale)
        {
            var result = new Dictionary<string, (DType, byte[])>();
            switch (scheme.Method)
            {
                case QuantMethod.Fp16:
                case QuantMethod.Bf16:
                    result["weight"] = (act.DType, Bytes(w.Select(act.Store).ToArray()));
                    break;
                case QuantMethod.Fp8E4M3:
                {
                    bool perChannel = scheme.WeightScale == ScaleGranularity.PerChannel;
                    var scales = new float[perChannel ? n : 1];
                    for (int i = 0; i < w.Length; i++)
                    {
                        int s = perChannel ? i / k : 0;
                        scales[s] = Math.Max(scales[s], Math.Abs(w[i]));
                    }
                    for (int s = 0; s < scales.Length; s++) scales[s] = scales[s] > 0 ? scales[s] / Fp8E4M3.MaxFinite : 1.0f;
                    var codes = new byte[w.Length];
                    for (int i = 0; i < w.Length; i++) codes[i] = Fp8E4M3.FromFloat(w[i] / scales[perChannel ? i / k : 0]);
                    result["weight"] = (DType.F8E4M3, codes);
                    result["weight_scale"] = (DType.F32, Bytes(scales));
                    if (scheme.ActivationScale == ActivationScaling.Static)
                        result["input_scale"] = (DType.F32, Bytes(new[] { staticInputScale
                            ?? throw new InvalidOperationException("a static W8A8 input_scale comes from calibration on activations, not from the weights: use activation_scale: dynamic, or a calibrated FP8 checkpoint") }));
                    break;
                }
                case QuantMethod.Int4:
                {
                    int g = scheme.GroupSizeFor(k);
                    if (scheme.Format == Int4Format.Awq)
                    {
                        var q = QuantizedPacking.QuantizeInt4Rtn(w, k, n, g, scheme.Symmetric);
                        var awq = QuantizedPacking.PackAwq(q.Codes, q.Zeros, q.Scales, g);
                        result["qweight"] = (DType.I32, Bytes(awq.QWeight));
                        result["qzeros"] = (DType.I32, Bytes(awq.QZeros));
                        result["scales"] = (DType.F16, Bytes(awq.Scales));
                        break;
                    }
                    // Act-order: GPTQ quantizes input rows in the order perm and files row perm[i] under group i / g.
                    var perm = actOrder ?? Enumerable.Range(0, k).ToArray();
                    var permuted = new float[w.Length];
                    for (int col = 0; col < n; col++)
                        for (int i = 0; i < k; i++) permuted[col * k + i] = w[col * k + perm[i]];
                    var qp = QuantizedPacking.QuantizeInt4Rtn(permuted, k, n, g, scheme.Symmetric);
                    var codes = new int[k, n];
                    var gIdx = new int[k];
                    for (int i = 0; i < k; i++)
                    {
                        gIdx[perm[i]] = i / g;
                        for (int col = 0; col < n; col++) codes[perm[i], col] = qp.Codes[i, col];
                    }
                    var gptq = QuantizedPacking.PackGptq(codes, qp.Zeros, qp.Scales, g, gIdx);
                    result["qweight"] = (DType.I32, Bytes(gptq.QWeight));
                    result["qzeros"] = (DType.I32, Bytes(gptq.QZeros));
                    result["scales"] = (DType.F16, Bytes(gptq.Scales));
                    result["g_idx"] = (DType.I32, Bytes(gptq.GIdx));
                    break;
                }
                default:
                    throw new ArgumentOutOfRangeException(nameof(scheme), scheme.Method, "no quantizer for this scheme");
            }
            return result;
        }

        private static byte[] Bytes<T>(T[] values) where T : unmanaged =>
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
    }
}
