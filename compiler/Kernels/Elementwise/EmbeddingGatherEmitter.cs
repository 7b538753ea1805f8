using GraphCompiler.Graph;
using GraphCompiler.Spec;

namespace GraphCompiler.Kernels.Elementwise
{
    /// <summary>
    /// residual[t, :] = embed_tokens[token_ids[t], :]. One block per token, 16-byte vectors; an FP8 table is dequantized
    /// with its scale on the way (per vocabulary row or per tensor). Out-of-range ids write zeros and raise error_flag
    /// (to the largest failing token index + 1) instead of reading outside the table.
    /// </summary>
    public static class EmbeddingGatherEmitter
    {
        public static KernelSource Emit(EmbeddingGatherKernel k, ArchTiles tiles)
        {
            int threads = tiles.Elementwise.Threads;
            bool fp8 = k.Table.Method == QuantMethod.Fp8E4M3;
            var b = new CudaSourceBuilder(k.Name, k.Summary, k.Activation, fp8 ? PreludeFeatures.Fp8 : PreludeFeatures.None)
                .Constant("kHidden", k.Hidden, "embedding width")
                .Constant("kVocab", k.Vocab, "rows of the table")
                .Constant("kThreads", threads, "tiles." + tiles.Arch.Name + ".elementwise.threads")
                .Constant("kVecsPerRow", k.Hidden / 8, "16-byte vectors per row");
            b.Parameter("const int* __restrict__", "token_ids", "input token_ids [T]");
            if (fp8)
            {
                b.Parameter("const gc_e4m3* __restrict__", "table", "weight model.embed_tokens.weight [vocab, hidden] e4m3");
                b.Parameter("const float* __restrict__", "table_scale", "weight model.embed_tokens.weight_scale "
                    + (k.Table.WeightScale == ScaleGranularity.PerChannel ? "[vocab]" : "[1]"));
            }
            else
                b.Parameter("const gc_act* __restrict__", "table", "weight model.embed_tokens.weight [vocab, hidden]");
            b.Parameter("gc_act* __restrict__", "residual", "buffer residual [T, hidden]")
             .Parameter("int* __restrict__", "error_flag", "flag: largest out-of-range token index + 1")
             .Parameter("int", "tokens", "rows T");

            string copy = fp8
                ? $@"    // ---- Dequantize the FP8 row: 8 codes per 8-byte load, times the {(k.Table.WeightScale == ScaleGranularity.PerChannel ? "row's" : "table's")} scale ----
    const float scale = table_scale[{(k.Table.WeightScale == ScaleGranularity.PerChannel ? "id" : "0")}];
    const unsigned long long* row = reinterpret_cast<const unsigned long long*>(table + (long long)id * kHidden);
    for (int i = threadIdx.x; i < kVecsPerRow; i += kThreads) {{
        const unsigned long long codes = row[i];
        gc_act8 v;
#pragma unroll
        for (int j = 0; j < kActPerVec; ++j) v.v[j] = gc_f32_to_act(gc_e4m3_to_f32((gc_e4m3)(codes >> (8 * j))) * scale);
        out[i] = v;
    }}"
                : @"    // ---- Copy the row, one 16-byte vector per thread per step ----
    const gc_act8* row = reinterpret_cast<const gc_act8*>(table + (long long)id * kHidden);
    for (int i = threadIdx.x; i < kVecsPerRow; i += kThreads) out[i] = row[i];";

            string body = $@"    const int t = blockIdx.x;
    if (t >= tokens) return;
    const int id = token_ids[t];
    gc_act8* out = reinterpret_cast<gc_act8*>(residual + (long long)t * kHidden);

    // ---- Reject ids outside the vocabulary: zeros out, flag up ----
    if (id < 0 || id >= kVocab) {{
        gc_act8 zero;
#pragma unroll
        for (int j = 0; j < kActPerVec; ++j) zero.v[j] = gc_f32_to_act(0.0f);
        for (int i = threadIdx.x; i < kVecsPerRow; i += kThreads) out[i] = zero;
        if (threadIdx.x == 0) atomicMax(error_flag, t + 1);
        return;
    }}

{copy}
";
            return ElementwiseLaunch.Source(k, tiles, b, body, GridExtent.Of("T"));
        }
    }
}
