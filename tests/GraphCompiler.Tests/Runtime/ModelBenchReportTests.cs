using System.Collections.Generic;
using System.Text.Json;
using GraphCompiler.Runtime.Bench;
using GraphCompiler.Runtime.Cli;

namespace GraphCompiler.Tests.Runtime
{
    /// <summary>graphc bench --synthetic --json: snake_case figures, fractions of the bound, profiles, no nulls (a trimmed graphc serializes it).</summary>
    public class ModelBenchReportTests
    {
        [Fact]
        public void The_report_carries_every_figure_and_profile_in_snake_case_without_nulls()
        {
            var timings = new[]
            {
                new ModelTiming("prefill", 1, 1024, 587.1, 1744.3, null, 242.1, 0),
                new ModelTiming("decode", 1, 1024, 23.69, 42.2, 100.6, 5.8, 42_000_000_000),
            };
            var profile = new DecodeProfile(1, new[] { new KernelProfile("gemm_gptq_g128_sym_k8192_n57344_decode_swiglu", 80, 9662, 0.379, 2.0e12), new KernelProfile("rope_h64_kv8_d128", 80, 746, 0.029, null) });
            var report = new ModelBenchReport("llama2-70b", "NVIDIA H200", "GPU backend", 4.2e12, new Dictionary<string, long> { ["Weights"] = 42_000_000_000 }, timings, new[] { profile });

            using var json = JsonDocument.Parse(JsonSerializer.Serialize(report, ModelBenchJson.Default.ModelBenchReport));
            var root = json.RootElement;
            Assert.Equal(4.2e12, root.GetProperty("copy_bytes_per_second").GetDouble());
            var decode = root.GetProperty("timings")[1];
            Assert.Equal(42.2 / 100.6, decode.GetProperty("fraction_of_bound").GetDouble(), 12);
            Assert.Equal(23.69, decode.GetProperty("milliseconds_per_step").GetDouble());
            Assert.False(root.GetProperty("timings")[0].TryGetProperty("bound_tokens_per_second", out _));
            var kernels = root.GetProperty("decode_profiles")[0].GetProperty("kernels");
            Assert.Equal(2.0e12, kernels[0].GetProperty("weight_bytes_per_second").GetDouble());
            Assert.False(kernels[1].TryGetProperty("weight_bytes_per_second", out _));
            Assert.Equal(80, kernels[1].GetProperty("launches").GetInt32());
        }
    }
}
