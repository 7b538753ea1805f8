using System;
using System.Runtime.CompilerServices;
using GraphCompiler.Graph;
using GraphCompiler.Kernels.Elementwise;
using GraphCompiler.Planning;
using GraphCompiler.Spec;

namespace GraphCompiler.Runtime.Reference
{
    // The entry points are jitted fully optimised at once (AggressiveOptimization): the CPU backend runs them in every
    // step, and tiered compilation would otherwise leave their loops in slow tier-0 code for the whole of a short run.
    /// <summary>
    /// CPU references for the elementwise kernels, one method per emitter, taking the kernel's parameters as flat
    /// row-major arrays (fp16/bf16 as bits, FP8 as bytes). Each method does, element by element, the float operations
    /// the emitted CUDA does and rounds where it rounds, so results are bit-identical except where the kernel reduces
    /// in its own order or calls an approximate device function: RMSNorm (fp32 block reduction, rsqrtf) and RoPE
    /// (sincosf) need a one-ulp tolerance, measured in their comments. Where a result is NaN, compare NaN with NaN
    /// rather than bits (the sm_80 software FP8 encoder writes 0xFF for a negative NaN, the sm_89+ cvt 0x7F).
    /// </summary>
    public static class ElementwiseReference
    {
        /// <summary>
        /// residual[t, :] = table[token_ids[t], :] (EmbeddingGatherEmitter). An FP8 table is dequantized as
        /// Store(e4m3(code) · scale) with the row's scale (per channel) or the table's (per tensor). An id outside
        /// [0, vocab) writes zeros. Returns the error flag as the kernel leaves it when it starts at 0: the largest
        /// failing token index + 1, or 0.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static int EmbeddingGather(EmbeddingGatherKernel k, int[] tokenIds, ushort[]? table, byte[]? fp8Table,
            float[]? tableScale, ushort[] residual, int tokens)
        {
            var act = ActivationCodec.For(k.Activation);
            bool fp8 = k.Table.Method == QuantMethod.Fp8E4M3;
            bool perRow = k.Table.WeightScale == ScaleGranularity.PerChannel;
            if (fp8) { Require(fp8Table, nameof(fp8Table)); Require(tableScale, nameof(tableScale)); }
            else Require(table, nameof(table));
            int h = k.Hidden, flag = 0;
            for (int t = 0; t < tokens; t++)
            {
                int id = tokenIds[t];
                long dst = (long)t * h;
                if (id < 0 || id >= k.Vocab)
                {
                    ushort zero = act.Store(0.0f);
                    for (int j = 0; j < h; j++) residual[dst + j] = zero;
                    flag = Math.Max(flag, t + 1);
                    continue;
                }
                long src = (long)id * h;
                if (fp8)
                {
                    float scale = tableScale![perRow ? id : 0];
                    for (int j = 0; j < h; j++) residual[dst + j] = act.Store(Fp8E4M3.ToFloat(fp8Table![src + j]) * scale);
                }
                else
                    Array.Copy(table!, src, residual, dst, h);
            }
            return flag;
        }

        /// <summary>
        /// RMSNorm (RmsNormEmitter). With AddResidual, residual[src] = Store(Load(residual) + Load(delta)) per element,
        /// in place, first. src = rows[r] with GatherRows, else r; the outputs are indexed by r.
        /// inv_rms = (float)(1 / sqrt(Σx² / hidden + (float)eps)), with Σx² exact in double (each x² is exact in double);
        /// y = Round(w · Round(x · inv_rms)) in float. Not bit-exact: the kernel sums in fp32 in its thread/warp/block
        /// order and uses rsqrtf, which on an H100 differs from the correctly rounded 1/√ for 22% of floats, so inv_rms
        /// often differs in its last bit and y, where x · inv_rms lands next to a rounding boundary, by one ulp of the
        /// activation dtype (and an FP8 code by one step). Compare RMSNorm outputs within one ulp.
        /// FP8 output: scale = amax/448 (1 when amax is 0), code = e4m3(y / scale).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void RmsNorm(RmsNormKernel k, ushort[] residual, ushort[]? delta, int[]? rows, ushort[] weight,
            ushort[]? output, byte[]? outputFp8, float[]? outputScale, int numRows)
        {
            var act = ActivationCodec.For(k.Activation);
            if (k.AddResidual) Require(delta, nameof(delta));
            if (k.GatherRows) Require(rows, nameof(rows));
            if (k.WriteDense) Require(output, nameof(output));
            if (k.WriteFp8) { Require(outputFp8, nameof(outputFp8)); Require(outputScale, nameof(outputScale)); }
            int h = k.Hidden;
            float eps = (float)k.Eps;                                        // the kernel's kEps literal is this float
            var x = new float[h];
            var y = new float[h];
            for (int r = 0; r < numRows; r++)
            {
                long src = (long)(k.GatherRows ? rows![r] : r) * h;
                double sumSq = 0.0;
                for (int j = 0; j < h; j++)
                {
                    if (k.AddResidual)
                        residual[src + j] = act.Store(act.Load(residual[src + j]) + act.Load(delta![src + j]));
                    x[j] = act.Load(residual[src + j]);
                    sumSq += (double)x[j] * x[j];
                }
                float invRms = (float)(1.0 / Math.Sqrt(sumSq / h + eps));
                for (int j = 0; j < h; j++)
                    y[j] = act.Round(act.Load(weight[j]) * act.Round(x[j] * invRms));
                long dst = (long)r * h;
                if (k.WriteDense)
                    for (int j = 0; j < h; j++) output![dst + j] = act.Store(y[j]);
                if (k.WriteFp8) outputScale![r] = QuantizeRowE4m3(y, outputFp8!, dst);
            }
        }

        /// <summary>
        /// Rotary embedding, rotate-half (RopeEmitter), in place on the first Heads + KvHeads heads of each qkv row.
        /// inv_freq from RopeEmitter.InverseFrequencies; angle = (float)pos · inv_freq[i] in float; cos and sin in double,
        /// rounded to float, then to the activation dtype. The kernel's sincosf is not correctly rounded: on an H100, over
        /// positions 0..131071 and head_dim 128, about 1 in 40 000 fp16 cos/sin values (1 in 300 000 for bf16) came out
        /// one ulp from this reference's, so compare RoPE outputs within one ulp.
        /// x[i] = Store(Round(x1·c) + Round(−x2·s)), x[i + d/2] = Store(Round(x2·c) + Round(x1·s)).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void Rope(RopeKernel k, ushort[] qkv, int[] positions, int tokens)
        {
            var act = ActivationCodec.For(k.Activation);
            int half = k.HeadDim / 2;
            float[] invFreq = RopeEmitter.InverseFrequencies(k.Theta, k.HeadDim);
            var cos = new float[half];
            var sin = new float[half];
            for (int t = 0; t < tokens; t++)
            {
                float position = positions[t];
                for (int i = 0; i < half; i++)
                {
                    float angle = position * invFreq[i];
                    cos[i] = act.Round((float)Math.Cos(angle));
                    sin[i] = act.Round((float)Math.Sin(angle));
                }
                long row = (long)t * k.RowStride;
                for (int head = 0; head < k.Heads + k.KvHeads; head++)
                {
                    long x = row + (long)head * k.HeadDim;
                    for (int i = 0; i < half; i++)
                    {
                        float x1 = act.Load(qkv[x + i]), x2 = act.Load(qkv[x + i + half]);
                        float c = cos[i], s = sin[i];
                        qkv[x + i] = act.Store(act.Round(x1 * c) + act.Round(-x2 * s));
                        qkv[x + i + half] = act.Store(act.Round(x2 * c) + act.Round(x1 * s));
                    }
                }
            }
        }

        /// <summary>
        /// mlp_act = silu(gate) · up over gate_up rows [gate | up] (SwiGluEmitter): silu = g / (1 + e^−g) in float with
        /// e^−g computed in double and rounded to float (Math.Exp, not MathF.Exp: the same on every platform). The
        /// kernel's expf is not correctly rounded, but Round(silu) matched this on an H100 for every fp16 and every bf16
        /// gate value, and the rest is exact IEEE arithmetic, so SwiGLU is bit-exact; a = Round(silu);
        /// dense: Store(a · u); FP8: y = Round(a · u), then per-row e4m3 with scale = amax/448 as RmsNorm.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void SwiGlu(SwiGluKernel k, ushort[] gateUp, ushort[]? output, byte[]? outputFp8, float[]? outputScale, int tokens)
        {
            var act = ActivationCodec.For(k.Activation);
            if (k.WriteFp8) { Require(outputFp8, nameof(outputFp8)); Require(outputScale, nameof(outputScale)); }
            else Require(output, nameof(output));
            int n = k.Intermediate;
            var y = new float[n];
            for (int t = 0; t < tokens; t++)
            {
                long gate = (long)t * 2 * n, up = gate + n, dst = (long)t * n;
                for (int j = 0; j < n; j++)
                {
                    float g = act.Load(gateUp[gate + j]);
                    float e = (float)Math.Exp(-(double)g);
                    float product = act.Round(g / (1.0f + e)) * act.Load(gateUp[up + j]);
                    if (k.WriteFp8) y[j] = act.Round(product);
                    else output![dst + j] = act.Store(product);
                }
                if (k.WriteFp8) outputScale![t] = QuantizeRowE4m3(y, outputFp8!, dst);
            }
        }

        /// <summary>
        /// GPTQ (WeightDequantEmitter): out[n, k] = Store((q − z) · s) in float, q nibble k%8 of qweight[k/8, n],
        /// group = g_idx[k], z = (nibble n%8 of qzeros[group, n/8] + 1) mod 16 (v1: stored minus one; nibble 15 is zero point 0,
        /// as AutoGPTQ's own dequantization masks it),
        /// s = fp16 scales[group, n]. Output dtype k.Output, [N, K] row-major.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void DequantGptq(WeightDequantKernel k, uint[] qweight, uint[] qzeros, ushort[] scales, int[] gIdx, ushort[] output)
        {
            RequireInt4(k, Int4Format.Gptq);
            var act = ActivationCodec.For(k.Output);
            int kk = k.K, n = k.N;
            for (int kw = 0; kw < kk / 8; kw++)
                for (int col = 0; col < n; col++)
                {
                    uint word = qweight[(long)kw * n + col];
                    for (int j = 0; j < 8; j++)
                    {
                        int row = kw * 8 + j, group = gIdx[row];
                        int code = (int)((word >> (4 * j)) & 0xFu);
                        int zero = (int)((((qzeros[(long)group * (n / 8) + col / 8] >> (4 * (col % 8))) & 0xFu) + 1) & 0xFu);
                        float scale = Fp16.ToFloat(scales[(long)group * n + col]);
                        output[(long)col * kk + row] = act.Store((code - zero) * scale);
                    }
                }
        }

        /// <summary>
        /// AWQ (WeightDequantEmitter): out[n, k] = Store((q − z) · s) in float; nibble j of qweight[k, n/8] and of
        /// qzeros[k/g, n/8] holds column 8·(n/8) + AwqOrder[j]; s = fp16 scales[k/g, n]; g = GroupSizeFor(K).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void DequantAwq(WeightDequantKernel k, uint[] qweight, uint[] qzeros, ushort[] scales, ushort[] output)
        {
            RequireInt4(k, Int4Format.Awq);
            var act = ActivationCodec.For(k.Output);
            int kk = k.K, n = k.N, groupSize = k.Scheme.GroupSizeFor(kk);
            for (int row = 0; row < kk; row++)
            {
                int group = row / groupSize;
                for (int nw = 0; nw < n / 8; nw++)
                {
                    uint word = qweight[(long)row * (n / 8) + nw];
                    uint zeros = qzeros[(long)group * (n / 8) + nw];
                    for (int j = 0; j < 8; j++)
                    {
                        int col = nw * 8 + Int4AwqLayout.AwqOrder[j];
                        int code = (int)((word >> (4 * j)) & 0xFu), zero = (int)((zeros >> (4 * j)) & 0xFu);
                        float scale = Fp16.ToFloat(scales[(long)group * n + col]);
                        output[(long)col * kk + row] = act.Store((code - zero) * scale);
                    }
                }
            }
        }

        /// <summary>FP8 (WeightDequantEmitter): out[n, k] = Store(e4m3(weight[n, k]) · scale), scale = weight_scale[n] per
        /// channel or weight_scale[0] per tensor.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void DequantFp8(WeightDequantKernel k, byte[] weight, float[] weightScale, ushort[] output)
        {
            if (k.Scheme.Method != QuantMethod.Fp8E4M3)
                throw new ArgumentException($"{k.Name} is not an FP8 dequantization kernel", nameof(k));
            var act = ActivationCodec.For(k.Output);
            bool perChannel = k.Scheme.WeightScale == ScaleGranularity.PerChannel;
            int kk = k.K;
            for (int col = 0; col < k.N; col++)
            {
                float scale = weightScale[perChannel ? col : 0];
                long row = (long)col * kk;
                for (int j = 0; j < kk; j++) output[row + j] = act.Store(Fp8E4M3.ToFloat(weight[row + j]) * scale);
            }
        }

        /// <summary>
        /// The per-row FP8 quantization RMSNorm, SwiGLU and the CPU backend's attention share: amax = max |y| with fmaxf
        /// semantics (a NaN element is skipped), scale = amax / 448 (1 when amax is 0), code = e4m3(y / scale) with float
        /// division. Returns the scale.
        /// </summary>
        internal static float QuantizeRowE4m3(float[] y, byte[] codes, long offset)
        {
            float amax = 0.0f;
            foreach (float v in y) amax = CudaFmaxf(amax, MathF.Abs(v));
            float scale = amax > 0.0f ? amax / Fp8E4M3.MaxFinite : 1.0f;
            for (int j = 0; j < y.Length; j++) codes[offset + j] = Fp8E4M3.FromFloat(y[j] / scale);
            return scale;
        }

        /// <summary>CUDA's fmaxf returns the other operand when one is NaN; MathF.Max would return the NaN.</summary>
        private static float CudaFmaxf(float a, float b) => float.IsNaN(a) ? b : float.IsNaN(b) ? a : Math.Max(a, b);

        private static void RequireInt4(WeightDequantKernel k, Int4Format format)
        {
            if (k.Scheme.Method != QuantMethod.Int4 || k.Scheme.Format != format)
                throw new ArgumentException($"{k.Name} is not an INT4 {format} dequantization kernel", nameof(k));
        }

        private static void Require<T>(T[]? array, string name)
        {
            if (array is null) throw new ArgumentNullException(name, "the kernel descriptor needs this argument");
        }
    }
}
