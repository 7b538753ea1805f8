using System;
using System.Linq;
using GraphCompiler.Graph;
using GraphCompiler.Spec;

namespace GraphCompiler.Kernels.Elementwise
{
    /// <summary>
    /// Llama rotary embedding (rotate-half: element i pairs with i + head_dim/2), in place on the Q and K heads of each
    /// row of the qkv buffer. Bit-compatible with Hugging Face: inverse frequencies as float32 1/θ^(2i/d), angle = pos ·
    /// inv_freq in fp32, cos/sin rounded to the activation dtype, and each product and sum rounded as PyTorch does.
    /// One block per token; cos/sin are computed once per token into shared memory.
    /// </summary>
    public static class RopeEmitter
    {
        public static KernelSource Emit(RopeKernel k, ArchTiles tiles)
        {
            int threads = tiles.Elementwise.Threads;
            int half = k.HeadDim / 2;
            var b = new CudaSourceBuilder(k.Name, k.Summary, k.Activation, PreludeFeatures.None)
                .Constant("kHeadDim", k.HeadDim, "head_dim")
                .Constant("kHalf", half, "rotation pairs per head")
                .Constant("kRotatedHeads", k.Heads + k.KvHeads, "query heads then key heads, contiguous at the start of a qkv row")
                .Constant("kRowStride", k.RowStride, "elements per qkv row: q | k | v")
                .Constant("kThreads", threads, "tiles." + tiles.Arch.Name + ".elementwise.threads")
                .Raw(DeviceFunctions(k.Theta, k.HeadDim));
            b.Parameter("gc_act* __restrict__", "qkv", "buffer qkv [T, q|k|v] (q and k rotated in place)")
             .Parameter("const int* __restrict__", "positions", "input positions [T]")
             .Parameter("int", "tokens", "rows T");

            string body = @"    const int t = blockIdx.x;
    if (t >= tokens) return;

    // ---- cos/sin of this token's position, rounded to the activation dtype as Hugging Face does ----
    __shared__ float cos_t[kHalf];
    __shared__ float sin_t[kHalf];
    const float position = (float)positions[t];
    for (int i = threadIdx.x; i < kHalf; i += kThreads) gc_rope_cos_sin(position, i, cos_t[i], sin_t[i]);
    __syncthreads();

    // ---- Rotate each (i, i + d/2) pair of every query and key head ----
    gc_act* row = qkv + (long long)t * kRowStride;
    for (int p = threadIdx.x; p < kRotatedHeads * kHalf; p += kThreads) {
        const int head = p / kHalf, i = p - head * kHalf;
        gc_act* x = row + head * kHeadDim;
        float x1 = gc_act_to_f32(x[i]), x2 = gc_act_to_f32(x[i + kHalf]);
        gc_rope_rotate(x1, x2, cos_t[i], sin_t[i]);
        x[i] = gc_f32_to_act(x1);
        x[i + kHalf] = gc_f32_to_act(x2);
    }
";
            return ElementwiseLaunch.Source(k, tiles, b, body, GridExtent.Of("T"));
        }

        /// <summary>
        /// The inverse-frequency table and the rotation every RoPE user shares (this kernel, the prefill-attention write
        /// jobs and the decode-attention prologue); the including kernel defines kHalf. The table sits in the constant bank,
        /// or with <paramref name="tableInGlobalMemory"/> in global memory, for a kernel whose lanes each read their own
        /// entry once: a warp's 32 different constant-bank addresses are read one after another, while 32 consecutive
        /// floats of global memory are one coalesced load (decode attention: 8.8 → 8.1 µs at 1 × 4096, tests/bench/NOTES.md).
        /// </summary>
        public static string DeviceFunctions(double theta, int headDim, bool tableInGlobalMemory = false)
        {
            var inv = InverseFrequencies(theta, headDim);
            return "// Hugging Face's inv_freq: float32(1 / θ^(2i/d)), θ = " + theta.ToString("R", System.Globalization.CultureInfo.InvariantCulture) + "\n"
                + (tableInGlobalMemory ? "__device__ const" : "__constant__") + " float kInvFreq[kHalf] = {\n" + string.Join(",\n", Enumerable.Range(0, (inv.Length + 7) / 8).Select(line =>
                    "    " + string.Join(", ", inv.Skip(line * 8).Take(8).Select(CudaSourceBuilder.FloatLiteral)))) + "\n};\n"
                + @"// cos and sin of position · inv_freq, rounded to the activation dtype as Hugging Face does (gc_rope_cos_sin: pair i's).
__device__ __forceinline__ void gc_rope_cos_sin_of(float position, float inv_freq, float& c, float& s) {
    float sn, cs;
    sincosf(position * inv_freq, &sn, &cs);
    c = gc_round_act(cs);
    s = gc_round_act(sn);
}
__device__ __forceinline__ void gc_rope_cos_sin(float position, int i, float& c, float& s) { gc_rope_cos_sin_of(position, kInvFreq[i], c, s); }
// Rotate one (i, i + d/2) pair: each product and the sum rounded as PyTorch does in the activation dtype.
__device__ __forceinline__ void gc_rope_rotate(float& x1, float& x2, float c, float s) {
    const float r1 = gc_round_act(x1 * c) + gc_round_act(-x2 * s);
    const float r2 = gc_round_act(x2 * c) + gc_round_act(x1 * s);
    x1 = r1;
    x2 = r2;
}
// A head row's elements d0..d0+7 and their partners d0+kHalf..: what RoPE rotates together, one 16-byte load each half.
// Separate from the rotation so that a caller can issue several rows' loads before it rotates any.
struct gc_rope_halves { gc_act8 lo, hi; };
__device__ __forceinline__ gc_rope_halves gc_rope_load(const gc_act* head_row, int d0) {
    return { *reinterpret_cast<const gc_act8*>(head_row + d0), *reinterpret_cast<const gc_act8*>(head_row + d0 + kHalf) };
}
// The eight pairs rotated with cos_sin(i, c, s), before the activation dtype's rounding of the sums.
template <typename CosSin>
__device__ __forceinline__ void gc_rope_pairs8(const gc_rope_halves& x, int d0, CosSin cos_sin, float x1[8], float x2[8]) {
#pragma unroll
    for (int e = 0; e < 8; ++e) {
        float c, s;
        cos_sin(d0 + e, c, s);
        x1[e] = gc_act_to_f32(x.lo.v[e]);
        x2[e] = gc_act_to_f32(x.hi.v[e]);
        gc_rope_rotate(x1[e], x2[e], c, s);
    }
}
// The eight rotated pairs as the activation dtype holds them, in fp32 (K, before the cache's own rounding)…
template <typename CosSin>
__device__ __forceinline__ void gc_rope_rotate8(const gc_rope_halves& x, int d0, CosSin cos_sin, float x1[8], float x2[8]) {
    gc_rope_pairs8(x, d0, cos_sin, x1, x2);
#pragma unroll
    for (int e = 0; e < 8; ++e) {
        x1[e] = gc_round_act(x1[e]);
        x2[e] = gc_round_act(x2[e]);
    }
}
// … or in the activation dtype (Q, into shared memory).
template <typename CosSin>
__device__ __forceinline__ void gc_rope_rotate8(const gc_rope_halves& x, int d0, CosSin cos_sin, gc_act8& lo, gc_act8& hi) {
    float x1[8], x2[8];
    gc_rope_pairs8(x, d0, cos_sin, x1, x2);
#pragma unroll
    for (int e = 0; e < 8; ++e) {
        lo.v[e] = gc_f32_to_act(x1[e]);
        hi.v[e] = gc_f32_to_act(x2[e]);
    }
}
";
        }

        /// <summary>float32(1 / float32(θ ^ float32(2i / d))), as transformers computes inv_freq.</summary>
        public static float[] InverseFrequencies(double theta, int headDim)
        {
            var result = new float[headDim / 2];
            for (int i = 0; i < result.Length; i++)
            {
                float exponent = (float)(2 * i) / headDim;
                float power = (float)Math.Pow(theta, exponent);
                result[i] = 1.0f / power;
            }
            return result;
        }
    }
}
