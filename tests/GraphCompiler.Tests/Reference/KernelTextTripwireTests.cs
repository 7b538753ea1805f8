using System.Linq;
using System.Text.RegularExpressions;
using GraphCompiler.Common;
using GraphCompiler.Graph;
using GraphCompiler.Kernels;
using GraphCompiler.Kernels.Elementwise;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests.Reference
{
    /// <summary>
    /// The references mirror specific expressions of the emitted CUDA. These tests find those expressions in the
    /// emitted text, so that changing a kernel's math fails here, next to the reference that must change with it.
    /// </summary>
    public class KernelTextTripwireTests
    {
        private static readonly ArchTiles Tiles = TestSpecs.Compile("small-llama").Spec.Tiles.For(GpuArch.Sm80);

        private static string Emit(FusedKernel k) => Regex.Replace(KernelEmitters.Emit(k, Tiles).Source!, @"\s+", " ");

        private static void AssertContains(string source, params string[] expressions)
        {
            foreach (var e in expressions) Assert.Contains(e, source);
        }

        [Fact]
        public void Prelude_fp8_encoders_are_the_ones_the_reference_ports()
        {
            var source = KernelPrelude.Emit(DType.F16, PreludeFeatures.Fp8);
            AssertContains(source,
                "if (a >= 448.0f) return (gc_e4m3)(sign | 0x7Eu);",
                "if (a < 0.015625f) return (gc_e4m3)(sign | (gc_u32)__float2int_rn(a * 512.0f));",
                "bits += 0x7FFFFu + ((bits >> 20) & 1u);",
                "if (a >= 57344.0f) return (gc_e5m2)(sign | 0x7Bu);",
                "if (a < 6.103515625e-05f) return (gc_e5m2)(sign | (gc_u32)__float2int_rn(a * 65536.0f));",
                "bits += 0xFFFFFu + ((bits >> 21) & 1u);",
                "cvt.rn.satfinite.e4m3x2.f32", "cvt.rn.f16.f32", "cvt.rn.bf16.f32");
        }

        [Fact]
        public void Rmsnorm_rounds_as_the_reference()
        {
            var source = Emit(new RmsNormKernel("rmsnorm_t", 256, 1e-5, DType.F16, true, true, true, true));
            AssertContains(source,
                "a.v[j] = gc_f32_to_act(gc_act_to_f32(a.v[j]) + gc_act_to_f32(d.v[j]));",
                "rsqrtf(gc_block_reduce<kThreads, false>(sum_sq) / (float)kHidden + kEps)",
                "gc_round_act(gc_act_to_f32(w.v[j]) * gc_round_act(x[i * kActPerVec + j] * inv_rms))",
                "const float scale = amax > 0.0f ? amax / kE4m3Max : 1.0f;",
                "gc_f32_to_e4m3(y[i * kActPerVec + j] / scale)",
                "constexpr float kEps = " + CudaSourceBuilder.FloatLiteral((float)1e-5) + ";");
        }

        [Fact]
        public void Rope_rounds_as_the_reference_and_uses_the_shared_inverse_frequencies()
        {
            var k = new RopeKernel("rope_t", 4, 2, 64, 500000, DType.BF16, 512);
            var source = Emit(k);
            AssertContains(source,
                "const float position = (float)positions[t];",
                "sincosf(position * inv_freq, &sn, &cs);",
                "gc_rope_cos_sin_of(position, kInvFreq[i], c, s);",
                "c = gc_round_act(cs);",
                "s = gc_round_act(sn);",
                "const float r1 = gc_round_act(x1 * c) + gc_round_act(-x2 * s);",
                "const float r2 = gc_round_act(x2 * c) + gc_round_act(x1 * s);",
                "x[i] = gc_f32_to_act(x1);",
                "x[i + kHalf] = gc_f32_to_act(x2);");
            AssertContains(source, RopeEmitter.InverseFrequencies(k.Theta, k.HeadDim).Select(CudaSourceBuilder.FloatLiteral).ToArray());
        }

        [Fact]
        public void Swiglu_rounds_as_the_reference()
        {
            AssertContains(Emit(new SwiGluKernel("swiglu_t", 768, DType.F16, false)),
                "o.v[j] = gc_f32_to_act(gc_round_act(gf / (1.0f + expf(-gf))) * gc_act_to_f32(u.v[j]));");
            AssertContains(Emit(new SwiGluKernel("swiglu_t", 768, DType.F16, true)),
                "gc_round_act(gc_round_act(gf / (1.0f + expf(-gf))) * gc_act_to_f32(u.v[j]))",
                "amax = fmaxf(amax, fabsf(value));");
        }

        [Fact]
        public void Embedding_gather_flags_and_dequantizes_as_the_reference()
        {
            var fp8 = new QuantScheme(QuantMethod.Fp8E4M3, WeightScale: ScaleGranularity.PerChannel);
            AssertContains(Emit(new EmbeddingGatherKernel("embed_t", 256, 1000, DType.F16, fp8)),
                "if (id < 0 || id >= kVocab) {",
                "atomicMax(error_flag, t + 1);",
                "const float scale = table_scale[id];",
                "gc_f32_to_act(gc_e4m3_to_f32((gc_e4m3)(codes >> (8 * j))) * scale)");
        }

        [Fact]
        public void Dequantization_kernels_use_the_reference_conventions()
        {
            AssertContains(Emit(new WeightDequantKernel("gptq_t", 256, 512, new QuantScheme(QuantMethod.Int4, Int4Format.Gptq, 128, false, true), DType.F16)),
                "const int group = g_idx[k];",
                "(float)((((qzeros[(long long)group * (kN / 8) + n / 8] >> (4 * (n % 8))) & 0xFu) + 1u) & 0xFu);",
                "w.v[j] = gc_f32_to_act((codes[j] - zero) * scale);");
            AssertContains(Emit(new WeightDequantKernel("awq_t", 256, 512, new QuantScheme(QuantMethod.Int4, Int4Format.Awq, 128), DType.F16)),
                "kAwqOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};",
                "const int group = k / kGroupSize;",
                "out[(long long)n * kK + k] = gc_f32_to_act((codes[j] - zero) * scale);");
            AssertContains(Emit(new WeightDequantKernel("fp8_t", 256, 512, new QuantScheme(QuantMethod.Fp8E4M3), DType.F16)),
                "const float scale = weight_scale[n];",
                "w.v[j] = gc_f32_to_act(gc_e4m3_to_f32((gc_e4m3)(codes >> (8 * j))) * scale);");
        }
    }
}
