using GraphCompiler.Graph;
using GraphCompiler.Spec;

namespace GraphCompiler.Kernels.Elementwise
{
    /// <summary>
    /// mlp_act = silu(gate) · up over a gate_up row laid out [gate (intermediate) | up (intermediate)], rounded like
    /// PyTorch (silu rounded to the activation dtype, then the product); or, for a W8A8 down projection, the product
    /// quantized to FP8 with one scale per row. One block per row.
    /// </summary>
    public static class SwiGluEmitter
    {
        public static KernelSource Emit(SwiGluKernel k, ArchTiles tiles)
        {
            int threads = tiles.Elementwise.Threads;
            int vecs = k.Intermediate / 8;
            var b = new CudaSourceBuilder(k.Name, k.Summary, k.Activation,
                    k.WriteFp8 ? PreludeFeatures.Fp8 | PreludeFeatures.BlockReduce : PreludeFeatures.None)
                .Constant("kIntermediate", k.Intermediate, "model.intermediate_size")
                .Constant("kThreads", threads, "tiles." + tiles.Arch.Name + ".elementwise.threads")
                .Constant("kVecsPerRow", vecs, "16-byte vectors per output row");
            if (k.WriteFp8) b.Constant("kVecsPerThread", (vecs + threads - 1) / threads, "vectors each thread keeps until the scale is known");
            b.Parameter("const gc_act* __restrict__", "gate_up", "buffer gate_up [T, 2 × intermediate]");
            if (k.WriteFp8)
                b.Parameter("gc_e4m3* __restrict__", "out_fp8", "buffer mlp_act_fp8 [T, intermediate]")
                 .Parameter("float* __restrict__", "out_scale", "buffer mlp_act_scale [T]");
            else
                b.Parameter("gc_act* __restrict__", "out", "buffer mlp_act [T, intermediate]");
            b.Parameter("int", "tokens", "rows T");

            const string silu = @"    // silu(g) = g / (1 + e^-g), rounded to the activation dtype before the product, as torch computes act_fn(gate) * up
    const gc_act8* gate = reinterpret_cast<const gc_act8*>(gate_up + (long long)t * 2 * kIntermediate);
    const gc_act8* up = gate + kVecsPerRow;";

            string body = k.WriteFp8
                ? $@"    const int t = blockIdx.x;
    if (t >= tokens) return;
{silu}

    // ---- silu(gate) · up, kept in registers until the row's scale is known ----
    float y[kVecsPerThread * kActPerVec];
    float amax = 0.0f;
#pragma unroll
    for (int i = 0; i < kVecsPerThread; ++i) {{
        const int v = threadIdx.x + i * kThreads;
#pragma unroll
        for (int j = 0; j < kActPerVec; ++j) y[i * kActPerVec + j] = 0.0f;
        if (v < kVecsPerRow) {{
            const gc_act8 g = gate[v], u = up[v];
#pragma unroll
            for (int j = 0; j < kActPerVec; ++j) {{
                const float gf = gc_act_to_f32(g.v[j]);
                const float value = gc_round_act(gc_round_act(gf / (1.0f + expf(-gf))) * gc_act_to_f32(u.v[j]));
                y[i * kActPerVec + j] = value;
                amax = fmaxf(amax, fabsf(value));
            }}
        }}
    }}

    // ---- Quantize to FP8 e4m3 with one scale per row (amax / 448) ----
    amax = gc_block_reduce<kThreads, true>(amax);
    const float scale = amax > 0.0f ? amax / kE4m3Max : 1.0f;
    if (threadIdx.x == 0) out_scale[t] = scale;
#pragma unroll
    for (int i = 0; i < kVecsPerThread; ++i) {{
        const int v = threadIdx.x + i * kThreads;
        if (v < kVecsPerRow) {{
            unsigned long long codes = 0;
#pragma unroll
            for (int j = 0; j < kActPerVec; ++j)
                codes |= (unsigned long long)gc_f32_to_e4m3(y[i * kActPerVec + j] / scale) << (8 * j);
            reinterpret_cast<unsigned long long*>(out_fp8 + (long long)t * kIntermediate)[v] = codes;
        }}
    }}
"
                : $@"    const int t = blockIdx.x;
    if (t >= tokens) return;
{silu}

    // ---- silu(gate) · up, one 16-byte vector per thread per step ----
    gc_act8* out_row = reinterpret_cast<gc_act8*>(out + (long long)t * kIntermediate);
    for (int v = threadIdx.x; v < kVecsPerRow; v += kThreads) {{
        const gc_act8 g = gate[v], u = up[v];
        gc_act8 o;
#pragma unroll
        for (int j = 0; j < kActPerVec; ++j) {{
            const float gf = gc_act_to_f32(g.v[j]);
            o.v[j] = gc_f32_to_act(gc_round_act(gf / (1.0f + expf(-gf))) * gc_act_to_f32(u.v[j]));
        }}
        out_row[v] = o;
    }}
";
            return ElementwiseLaunch.Source(k, tiles, b, body, GridExtent.Of("T"));
        }
    }
}
