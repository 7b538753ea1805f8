using System;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Runtime.Cpu;
using GraphCompiler.Runtime.Reference;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests.Cpu
{
    /// <summary>
    /// A Llama forward pass in float64 with plain loops, written from the model's definition rather than from the plan or
    /// the CPU backend: weights decoded here from the checkpoint tensors (GPTQ/AWQ nibbles, FP8 codes × scale), one module
    /// at a time. It keeps the quantization that is part of the model (W8A8 activations quantized to e4m3, an FP8 KV cache
    /// read back quantized) and nothing else: no activation-dtype rounding, no float32 arithmetic.
    /// </summary>
    internal static class NaiveForward
    {
        private static readonly int[] AwqOrder = { 0, 2, 4, 6, 1, 3, 5, 7 };

        /// <summary>The logits of the last token of <paramref name="tokens"/> (positions 0..n − 1).</summary>
        public static double[] LastTokenLogits(ModelSpec spec, CheckpointTensors checkpoint, int[] tokens)
        {
            var m = spec.Model;
            int t = tokens.Length, h = m.HiddenSize, d = m.HeadDim;
            var embed = Weight(spec, checkpoint, ModuleKind.EmbedTokens, 0);
            var x = tokens.Select(id => Enumerable.Range(0, h).Select(j => embed[(long)id * h + j]).ToArray()).ToArray();
            for (int l = 0; l < m.NumHiddenLayers; l++)
            {
                var normed = Norm(x, Vector(spec, checkpoint[$"model.layers.{l}.input_layernorm.weight"]), m.RmsNormEps);
                var q = Linear(spec, checkpoint, normed, ModuleKind.QProj, l);
                var k = Linear(spec, checkpoint, normed, ModuleKind.KProj, l);
                var v = Linear(spec, checkpoint, normed, ModuleKind.VProj, l);
                for (int i = 0; i < t; i++)
                {
                    Rope(q[i], m.NumAttentionHeads, d, i, m.RopeTheta);
                    Rope(k[i], m.NumKeyValueHeads, d, i, m.RopeTheta);
                    KvQuantize(spec.KvCache.DType, k[i]);
                    KvQuantize(spec.KvCache.DType, v[i]);
                }
                var attention = new double[t][];
                int group = m.NumAttentionHeads / m.NumKeyValueHeads;
                for (int i = 0; i < t; i++)
                {
                    attention[i] = new double[m.QSize];
                    for (int head = 0; head < m.NumAttentionHeads; head++)
                    {
                        int kvOffset = head / group * d, qOffset = head * d;
                        var scores = new double[i + 1];
                        for (int j = 0; j <= i; j++)
                        {
                            double dot = 0;
                            for (int c = 0; c < d; c++) dot += q[i][qOffset + c] * k[j][kvOffset + c];
                            scores[j] = dot / Math.Sqrt(d);
                        }
                        double max = scores.Max(), sum = 0;
                        for (int j = 0; j <= i; j++) sum += scores[j] = Math.Exp(scores[j] - max);
                        for (int j = 0; j <= i; j++)
                            for (int c = 0; c < d; c++) attention[i][qOffset + c] += scores[j] / sum * v[j][kvOffset + c];
                    }
                }
                Add(x, Linear(spec, checkpoint, attention, ModuleKind.OProj, l));
                normed = Norm(x, Vector(spec, checkpoint[$"model.layers.{l}.post_attention_layernorm.weight"]), m.RmsNormEps);
                var gate = Linear(spec, checkpoint, normed, ModuleKind.GateProj, l);
                var up = Linear(spec, checkpoint, normed, ModuleKind.UpProj, l);
                var act = gate.Select((g, i) => g.Select((a, j) => a / (1 + Math.Exp(-a)) * up[i][j]).ToArray()).ToArray();
                Add(x, Linear(spec, checkpoint, act, ModuleKind.DownProj, l));
            }
            var last = Norm(new[] { x[t - 1] }, Vector(spec, checkpoint["model.norm.weight"]), m.RmsNormEps);
            return Linear(spec, checkpoint, last, ModuleKind.LmHead, m.NumHiddenLayers)[0];
        }

        /// <summary>y = x·Wᵀ, with the input quantized to e4m3 first where the module is W8A8 (per row, or by input_scale).</summary>
        private static double[][] Linear(ModelSpec spec, CheckpointTensors checkpoint, double[][] x, ModuleKind module, int layer)
        {
            var scheme = spec.Quantization.For(module, module.IsLayerModule() ? layer : 0);
            var (k, n) = spec.Model.LinearShape(module);
            var w = Weight(spec, checkpoint, module, layer);
            return x.Select(row =>
            {
                var input = row;
                if (scheme.Method == QuantMethod.Fp8E4M3 && scheme.ActivationScale != ActivationScaling.None)
                {
                    double scale = scheme.ActivationScale == ActivationScaling.Static
                        ? checkpoint[module.HfPrefix(layer) + ".input_scale"].As<float>()[0]
                        : row.Max(Math.Abs) / 448.0;
                    input = row.Select(a => Fp8E4M3.ToFloat(Fp8E4M3.FromFloat((float)(a / scale))) * scale).ToArray();
                }
                var y = new double[n];
                for (int j = 0; j < n; j++)
                {
                    double sum = 0;
                    for (int c = 0; c < k; c++) sum += input[c] * w[(long)j * k + c];
                    y[j] = sum;
                }
                return y;
            }).ToArray();
        }

        /// <summary>A module's weight [N, K], decoded from the checkpoint's layout (a tied lm_head is the embedding).</summary>
        private static double[] Weight(ModelSpec spec, CheckpointTensors checkpoint, ModuleKind module, int layer)
        {
            if (module == ModuleKind.LmHead && spec.Model.TieWordEmbeddings) module = ModuleKind.EmbedTokens;
            var scheme = spec.Quantization.For(module, module.IsLayerModule() ? layer : 0);
            var (k, n) = spec.Model.LinearShape(module);
            string p = module.HfPrefix(layer) + ".";
            var w = new double[(long)n * k];
            switch (scheme.Method)
            {
                case QuantMethod.Fp16:
                case QuantMethod.Bf16:
                    return Vector(spec, checkpoint[p + "weight"]);
                case QuantMethod.Fp8E4M3:
                {
                    var codes = checkpoint[p + "weight"].As<byte>();
                    var scales = checkpoint[p + "weight_scale"].As<float>();
                    for (long i = 0; i < w.LongLength; i++) w[i] = Fp8E4M3.ToFloat(codes[i]) * (double)scales[scales.Length == 1 ? 0 : i / k];
                    return w;
                }
                default:
                {
                    var qweight = checkpoint[p + "qweight"].As<uint>();
                    var qzeros = checkpoint[p + "qzeros"].As<uint>();
                    var scales = checkpoint[p + "scales"].As<ushort>();
                    bool gptq = scheme.Format == Int4Format.Gptq;
                    var gIdx = gptq ? checkpoint[p + "g_idx"].As<int>() : null;
                    int groupSize = scheme.GroupSizeFor(k);
                    for (int row = 0; row < k; row++)
                        for (int col = 0; col < n; col++)
                        {
                            int g = gptq ? gIdx![row] : row / groupSize;
                            int nibble = gptq ? col % 8 : Array.IndexOf(AwqOrder, col % 8);
                            int code = gptq ? Nibble(qweight[row / 8 * n + col], row % 8) : Nibble(qweight[row * (n / 8) + col / 8], nibble);
                            int zero = Nibble(qzeros[g * (n / 8) + col / 8], nibble);
                            if (gptq) zero = (zero + 1) & 0xF;   // v1 checkpoints store zero − 1
                            w[(long)col * k + row] = (code - zero) * (double)Fp16.ToFloat(scales[g * n + col]);
                        }
                    return w;
                }
            }
        }

        private static int Nibble(uint word, int j) => (int)((word >> (4 * j)) & 0xF);

        private static double[] Vector(ModelSpec spec, StoredTensor t) =>
            t.As<ushort>().Select(b => (double)(spec.Model.DType == DType.BF16 ? Bf16.ToFloat(b) : Fp16.ToFloat(b))).ToArray();

        private static double[][] Norm(double[][] x, double[] weight, double eps) => x.Select(row =>
        {
            double inv = 1 / Math.Sqrt(row.Sum(a => a * a) / row.Length + eps);
            return row.Select((a, j) => a * inv * weight[j]).ToArray();
        }).ToArray();

        private static void Rope(double[] row, int heads, int d, int position, double theta)
        {
            for (int head = 0; head < heads; head++)
                for (int i = 0; i < d / 2; i++)
                {
                    double angle = position * Math.Pow(theta, -2.0 * i / d), c = Math.Cos(angle), s = Math.Sin(angle);
                    int a = head * d + i, b = a + d / 2;
                    (row[a], row[b]) = (row[a] * c - row[b] * s, row[b] * c + row[a] * s);
                }
        }

        /// <summary>An FP8 cache holds e4m3/e5m2(x / 1.0): what attention reads back.</summary>
        private static void KvQuantize(DType cache, double[] row)
        {
            for (int i = 0; i < row.Length; i++)
                row[i] = cache switch
                {
                    DType.F8E4M3 => Fp8E4M3.ToFloat(Fp8E4M3.FromFloat((float)row[i])),
                    DType.F8E5M2 => Fp8E5M2.ToFloat(Fp8E5M2.FromFloat((float)row[i])),
                    _ => row[i],
                };
        }

        private static void Add(double[][] x, double[][] delta)
        {
            for (int i = 0; i < x.Length; i++)
                for (int j = 0; j < x[i].Length; j++) x[i][j] += delta[i][j];
        }
    }
}
