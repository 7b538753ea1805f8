using GraphCompiler.Graph;
using GraphCompiler.Spec;

namespace GraphCompiler.Kernels.Elementwise
{
    /// <summary>
    /// RMSNorm with its fusions: optionally residual += delta first (stored back, rounded like PyTorch's fp16/bf16 add),
    /// optionally only the rows listed in last_token_rows (the final norm), and the output as activations, as FP8 with a
    /// per-row scale (amax / 448) for a W8A8 GEMM, or both. Rounding follows Hugging Face's LlamaRMSNorm: the
    /// normalised row is rounded to the activation dtype before the weight multiply.
    /// One block per row; each thread keeps its slice of the row in registers between the two passes.
    /// </summary>
    public static class RmsNormEmitter
    {
        public static KernelSource Emit(RmsNormKernel k, ArchTiles tiles)
        {
            int threads = tiles.Elementwise.Threads;
            int vecs = k.Hidden / 8;
            int perThread = (vecs + threads - 1) / threads;
            var features = PreludeFeatures.BlockReduce | (k.WriteFp8 ? PreludeFeatures.Fp8 : PreludeFeatures.None);
            var b = new CudaSourceBuilder(k.Name, k.Summary, k.Activation, features)
                .Constant("kHidden", k.Hidden, "row width")
                .Constant("kThreads", threads, "tiles." + tiles.Arch.Name + ".elementwise.threads")
                .Constant("kVecsPerRow", vecs, "16-byte vectors per row")
                .Constant("kVecsPerThread", perThread, "vectors each thread keeps in registers")
                .Constant("kEps", (float)k.Eps, "model.rms_norm_eps");

            b.Parameter("gc_act* __restrict__", "residual", "buffer residual [T, hidden]" + (k.AddResidual ? " (updated in place)" : ""));
            if (k.AddResidual) b.Parameter("const gc_act* __restrict__", "delta", "buffer delta [T, hidden]");
            if (k.GatherRows) b.Parameter("const int* __restrict__", "rows", "input last_token_rows [S]");
            b.Parameter("const gc_act* __restrict__", "weight", "weight <layer>.<norm>.weight [hidden]");
            if (k.WriteDense) b.Parameter("gc_act* __restrict__", "out", "buffer normed [rows, hidden]");
            if (k.WriteFp8)
                b.Parameter("gc_e4m3* __restrict__", "out_fp8", "buffer normed_fp8 [rows, hidden]")
                 .Parameter("float* __restrict__", "out_scale", "buffer normed_scale [rows]");
            b.Parameter("int", "num_rows", k.GatherRows ? "rows S" : "rows T");

            string addResidual = k.AddResidual
                ? @"
            const gc_act8 d = reinterpret_cast<const gc_act8*>(delta + (long long)src * kHidden)[v];
#pragma unroll
            for (int j = 0; j < kActPerVec; ++j) a.v[j] = gc_f32_to_act(gc_act_to_f32(a.v[j]) + gc_act_to_f32(d.v[j]));
            row[v] = a;"
                : "";

            string dense = k.WriteDense
                ? @"
            gc_act8 o;
#pragma unroll
            for (int j = 0; j < kActPerVec; ++j) o.v[j] = gc_f32_to_act(y[i * kActPerVec + j]);
            reinterpret_cast<gc_act8*>(out + (long long)r * kHidden)[v] = o;"
                : "";

            string fp8 = k.WriteFp8
                ? @"

    // ---- Quantize the row to FP8 e4m3 with one scale per row (amax / 448), for the W8A8 GEMM that reads it ----
    float amax = 0.0f;
#pragma unroll
    for (int i = 0; i < kVecsPerThread * kActPerVec; ++i) amax = fmaxf(amax, fabsf(y[i]));
    amax = gc_block_reduce<kThreads, true>(amax);
    const float scale = amax > 0.0f ? amax / kE4m3Max : 1.0f;
    if (threadIdx.x == 0) out_scale[r] = scale;
#pragma unroll
    for (int i = 0; i < kVecsPerThread; ++i) {
        const int v = threadIdx.x + i * kThreads;
        if (v < kVecsPerRow) {
            unsigned long long codes = 0;
#pragma unroll
            for (int j = 0; j < kActPerVec; ++j)
                codes |= (unsigned long long)gc_f32_to_e4m3(y[i * kActPerVec + j] / scale) << (8 * j);
            reinterpret_cast<unsigned long long*>(out_fp8 + (long long)r * kHidden)[v] = codes;
        }
    }"
                : "";

            string body = $@"    const int r = blockIdx.x;
    if (r >= num_rows) return;
    const int src = {(k.GatherRows ? "rows[r]" : "r")};
    gc_act8* row = reinterpret_cast<gc_act8*>(residual + (long long)src * kHidden);

    // ---- Load the row{(k.AddResidual ? " (adding delta into the residual stream)" : "")} and sum its squares in fp32 ----
    float x[kVecsPerThread * kActPerVec];
    float sum_sq = 0.0f;
#pragma unroll
    for (int i = 0; i < kVecsPerThread; ++i) {{
        const int v = threadIdx.x + i * kThreads;
        if (v < kVecsPerRow) {{
            gc_act8 a = row[v];{addResidual}
#pragma unroll
            for (int j = 0; j < kActPerVec; ++j) {{
                x[i * kActPerVec + j] = gc_act_to_f32(a.v[j]);
                sum_sq += x[i * kActPerVec + j] * x[i * kActPerVec + j];
            }}
        }} else {{
#pragma unroll
            for (int j = 0; j < kActPerVec; ++j) x[i * kActPerVec + j] = 0.0f;
        }}
    }}
    const float inv_rms = rsqrtf(gc_block_reduce<kThreads, false>(sum_sq) / (float)kHidden + kEps);

    // ---- Normalise, round to the activation dtype, multiply by the weight (rounded again) ----
    float y[kVecsPerThread * kActPerVec];
#pragma unroll
    for (int i = 0; i < kVecsPerThread; ++i) {{
        const int v = threadIdx.x + i * kThreads;
        if (v < kVecsPerRow) {{
            const gc_act8 w = reinterpret_cast<const gc_act8*>(weight)[v];
#pragma unroll
            for (int j = 0; j < kActPerVec; ++j)
                y[i * kActPerVec + j] = gc_round_act(gc_act_to_f32(w.v[j]) * gc_round_act(x[i * kActPerVec + j] * inv_rms));{dense}
        }} else {{
#pragma unroll
            for (int j = 0; j < kActPerVec; ++j) y[i * kActPerVec + j] = 0.0f;
        }}
    }}{fp8}
";
            return ElementwiseLaunch.Source(k, tiles, b, body, GridExtent.Of(k.GatherRows ? "S" : "T"));
        }
    }
}
