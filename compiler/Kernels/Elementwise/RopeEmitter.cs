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
            var inv = InverseFrequencies(k.Theta, k.HeadDim);
            var b = new CudaSourceBuilder(k.Name, k.Summary, k.Activation, PreludeFeatures.None)
                .Constant("kHeadDim", k.HeadDim, "head_dim")
                .Constant("kHalf", half, "rotation pairs per head")
                .Constant("kRotatedHeads", k.Heads + k.KvHeads, "query heads then key heads, contiguous at the start of a qkv row")
                .Constant("kRowStride", k.RowStride, "elements per qkv row: q | k | v")
                .Constant("kThreads", threads, "tiles." + tiles.Arch.Name + ".elementwise.threads")
                .Raw("// Hugging Face's inv_freq: float32(1 / θ^(2i/d)), θ = " + k.Theta.ToString("R", System.Globalization.CultureInfo.InvariantCulture) + "\n")
                .Raw("__constant__ float kInvFreq[kHalf] = {\n" + string.Join(",\n", Enumerable.Range(0, (half + 7) / 8).Select(line =>
                    "    " + string.Join(", ", inv.Skip(line * 8).Take(8).Select(CudaSourceBuilder.FloatLiteral)))) + "\n};\n");
            b.Parameter("gc_act* __restrict__", "qkv", "buffer qkv [T, q|k|v] (q and k rotated in place)")
             .Parameter("const int* __restrict__", "positions", "input positions [T]")
             .Parameter("int", "tokens", "rows T");

            string body = @"    const int t = blockIdx.x;
    if (t >= tokens) return;

    // ---- cos/sin of this token's position, rounded to the activation dtype as Hugging Face does ----
    __shared__ float cos_t[kHalf];
    __shared__ float sin_t[kHalf];
    const float position = (float)positions[t];
    for (int i = threadIdx.x; i < kHalf; i += kThreads) {
        float s, c;
        sincosf(position * kInvFreq[i], &s, &c);
        cos_t[i] = gc_round_act(c);
        sin_t[i] = gc_round_act(s);
    }
    __syncthreads();

    // ---- Rotate each (i, i + d/2) pair of every query and key head ----
    gc_act* row = qkv + (long long)t * kRowStride;
    for (int p = threadIdx.x; p < kRotatedHeads * kHalf; p += kThreads) {
        const int head = p / kHalf, i = p - head * kHalf;
        gc_act* x = row + head * kHeadDim;
        const float x1 = gc_act_to_f32(x[i]), x2 = gc_act_to_f32(x[i + kHalf]);
        const float c = cos_t[i], s = sin_t[i];
        x[i] = gc_f32_to_act(gc_round_act(x1 * c) + gc_round_act(-x2 * s));
        x[i + kHalf] = gc_f32_to_act(gc_round_act(x2 * c) + gc_round_act(x1 * s));
    }
";
            return ElementwiseLaunch.Source(k, tiles, b, body, GridExtent.Of("T"));
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
