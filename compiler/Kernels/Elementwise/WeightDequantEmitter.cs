using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Graph;
using GraphCompiler.Planning;
using GraphCompiler.Spec;

namespace GraphCompiler.Kernels.Elementwise
{
    /// <summary>
    /// Expands a quantized weight in its checkpoint layout to a dense [N, K] matrix in the activation dtype, with exactly
    /// the conventions the loader and the CPU reference use (see <see cref="Int4GptqLayout"/>, <see cref="Int4AwqLayout"/>,
    /// <see cref="Fp8Layout"/>): GPTQ w = (q − ((z + 1) mod 16)) · s with the group of each input row from g_idx; AWQ
    /// w = (q − z) · s with its interleaved nibble order; FP8 w = code · scale. One thread per 32-bit word of codes
    /// (8 INT4 codes, or 8 FP8 codes per 8 bytes).
    /// </summary>
    public static class WeightDequantEmitter
    {
        public static KernelSource Emit(WeightDequantKernel k, ArchTiles tiles)
        {
            int threads = tiles.Elementwise.Threads;
            var s = k.Scheme;
            bool int4 = s.Method == QuantMethod.Int4;
            var b = new CudaSourceBuilder(k.Name, k.Summary, k.Output, int4 ? PreludeFeatures.Int4 : PreludeFeatures.Fp8)
                .Constant("kK", k.K, "input features")
                .Constant("kN", k.N, "output features")
                .Constant("kThreads", threads, "tiles." + tiles.Arch.Name + ".elementwise.threads")
                .Constant("kWords", (long)k.K * k.N / 8, "units of 8 codes");
            string body;
            if (int4)
            {
                int g = s.GroupSizeFor(k.K);
                b.Constant("kGroupSize", g, s.GroupSize == -1 ? "one group per output channel" : "quantization group_size");
                if (s.Format == Int4Format.Gptq)
                {
                    b.Parameter("const gc_u32* __restrict__", "qweight", "weight qweight [K/8, N] int32")
                     .Parameter("const gc_u32* __restrict__", "qzeros", "weight qzeros [K/g, N/8] int32")
                     .Parameter("const gc_f16* __restrict__", "scales", "weight scales [K/g, N] fp16")
                     .Parameter("const int* __restrict__", "g_idx", "weight g_idx [K] int32")
                     .Parameter("gc_act* __restrict__", "out", "dense [N, K]");
                    body = @"    const long long word = (long long)blockIdx.x * kThreads + threadIdx.x;
    if (word >= kWords) return;
    // ---- qweight[kw, n] holds input rows 8kw..8kw+7 of column n ----
    const int n = (int)(word % kN), kw = (int)(word / kN);
    float codes[8];
    gc_unpack_int4x8(qweight[word], codes);

    // ---- Each row's group comes from g_idx (a permutation with act-order); zeros are stored minus one, mod 16 (GPTQ v1) ----
    gc_act8 w;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
        const int k = kw * 8 + j;
        const int group = g_idx[k];
        const float zero = (float)((((qzeros[(long long)group * (kN / 8) + n / 8] >> (4 * (n % 8))) & 0xFu) + 1u) & 0xFu);
        const float scale = gc_f16_to_f32(scales[(long long)group * kN + n]);
        w.v[j] = gc_f32_to_act((codes[j] - zero) * scale);
    }
    reinterpret_cast<gc_act8*>(out + (long long)n * kK)[kw] = w;
";
                }
                else
                {
                    b.Raw("// Nibble j of an AWQ word holds column kAwqOrder[j] of its group of 8 columns.\n")
                     .Raw("__constant__ int kAwqOrder[8] = {" + string.Join(", ", Int4AwqLayout.AwqOrder) + "};\n");
                    b.Parameter("const gc_u32* __restrict__", "qweight", "weight qweight [K, N/8] int32")
                     .Parameter("const gc_u32* __restrict__", "qzeros", "weight qzeros [K/g, N/8] int32")
                     .Parameter("const gc_f16* __restrict__", "scales", "weight scales [K/g, N] fp16")
                     .Parameter("gc_act* __restrict__", "out", "dense [N, K]");
                    body = @"    const long long word = (long long)blockIdx.x * kThreads + threadIdx.x;
    if (word >= kWords) return;
    // ---- qweight[k, nw] holds columns 8nw..8nw+7 of input row k, interleaved ----
    const int nw = (int)(word % (kN / 8)), k = (int)(word / (kN / 8));
    const int group = k / kGroupSize;
    float codes[8];
    gc_unpack_int4x8(qweight[word], codes);
    const gc_u32 zeros = qzeros[(long long)group * (kN / 8) + nw];

    // ---- w = (q − z) · s for each of the 8 columns; zeros share the weights' interleave ----
#pragma unroll
    for (int j = 0; j < 8; ++j) {
        const int n = nw * 8 + kAwqOrder[j];
        const float zero = (float)((zeros >> (4 * j)) & 0xFu);
        const float scale = gc_f16_to_f32(scales[(long long)group * kN + n]);
        out[(long long)n * kK + k] = gc_f32_to_act((codes[j] - zero) * scale);
    }
";
                }
            }
            else
            {
                bool perChannel = s.WeightScale == ScaleGranularity.PerChannel;
                b.Parameter("const gc_e4m3* __restrict__", "weight", "weight weight [N, K] e4m3")
                 .Parameter("const float* __restrict__", "weight_scale", "weight weight_scale " + (perChannel ? "[N, 1]" : "[]") + " fp32")
                 .Parameter("gc_act* __restrict__", "out", "dense [N, K]");
                body = $@"    const long long word = (long long)blockIdx.x * kThreads + threadIdx.x;
    if (word >= kWords) return;
    // ---- 8 codes per 8-byte load, along K within output row n ----
    const int n = (int)(word / (kK / 8));
    const unsigned long long codes = reinterpret_cast<const unsigned long long*>(weight)[word];
    const float scale = weight_scale[{(perChannel ? "n" : "0")}];

    // ---- w = code · scale ----
    gc_act8 w;
#pragma unroll
    for (int j = 0; j < 8; ++j) w.v[j] = gc_f32_to_act(gc_e4m3_to_f32((gc_e4m3)(codes >> (8 * j))) * scale);
    reinterpret_cast<gc_act8*>(out)[word] = w;
";
            }
            string source = b.Finish("kThreads", body);
            long blocks = ((long)k.K * k.N / 8 + threads - 1) / threads;
            var launch = new LaunchShape(GridExtent.Constant((int)blocks), GridExtent.One, GridExtent.One, threads, 0);
            return new KernelSource(k.Name, k.Family, k.Summary, tiles.Arch.Name, source, b.Parameters.ToEquatableArray(), launch, null);
        }
    }
}
