using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using GraphCompiler.Runtime.Cli;
using static GraphCompiler.Tests.Cli.GraphcInvocation;

namespace GraphCompiler.Tests.Cli
{
    public class GraphcCommandTests
    {
        private static string WriteSpec(string text)
        {
            string path = Path.Combine(Path.GetTempPath(), "graphc-test-" + Guid.NewGuid().ToString("N") + ".yaml");
            File.WriteAllText(path, text);
            return path;
        }

        [Fact]
        public void Validate_accepts_a_shipped_spec_with_exit_code_0()
        {
            var (code, output, _) = Run("validate", TestSpecs.PathOf("llama2-70b"));
            Assert.Equal(ExitCodes.Ok, code);
            Assert.Contains("valid", output);
            Assert.Contains("80 layers", output);
        }

        [Fact]
        public void Validate_prints_each_error_as_file_line_col_and_exits_1()
        {
            string yaml = TestSpecs.Minimal.Replace("num_key_value_heads: 2", "num_key_value_heads: 3");
            string path = WriteSpec(yaml);
            var (code, output, _) = Run("validate", path);
            Assert.Equal(ExitCodes.SpecError, code);
            Assert.Contains($"{path}:{TestSpecs.LineOf(yaml, "num_key_value_heads")}:24: error GC0011:", output);
            Assert.DoesNotContain("   at ", output);
        }

        [Fact]
        public void Usage_errors_exit_2_without_a_stack_trace()
        {
            var (code, _, error) = Run("plan", TestSpecs.PathOf("llama2-70b"), "--gpu-memroy", "16GiB");
            Assert.Equal(ExitCodes.Usage, code);
            Assert.Contains("--gpu-memroy", error);
            var missing = Run("plan", "no/such/spec.yaml");
            Assert.Equal(ExitCodes.Usage, missing.Code);
            Assert.Contains("no spec file", missing.Err);
            Assert.Contains("llama2-70b", missing.Err);   // lists the built-in specs
            var badSize = Run("plan", TestSpecs.PathOf("llama2-70b"), "--gpu-memory", "lots");
            Assert.Equal(ExitCodes.Usage, badSize.Code);
            Assert.DoesNotContain("   at ", badSize.Err);
        }

        [Fact]
        public void Plan_json_for_70b_in_16GiB_says_it_does_not_fit_and_how_much_must_stream()
        {
            var (code, output, _) = Run("plan", TestSpecs.PathOf("llama2-70b"), "--gpu-memory", "16GiB", "--json");
            Assert.Equal(ExitCodes.Ok, code);
            using var json = JsonDocument.Parse(output);
            var root = json.RootElement;
            Assert.Equal(42_203_234_304L, root.GetProperty("weights_bytes").GetProperty("total").GetInt64());
            Assert.Equal(524_288_000L, root.GetProperty("weights_bytes").GetProperty("components").GetProperty("lm_head").GetInt64());
            Assert.Equal(163_840L, root.GetProperty("kv_bytes_per_token").GetInt64());
            Assert.True(root.GetProperty("workspace_bytes").GetInt64() > 0);
            Assert.Equal((long)((16L << 30) * 0.9), root.GetProperty("budget_bytes").GetInt64());
            Assert.False(root.GetProperty("fits").GetBoolean());
            Assert.True(root.GetProperty("stream_bytes").GetInt64() > 25L << 30);
            Assert.True(root.GetProperty("max_kv_tokens").GetInt64() >= 4096);
        }

        [Fact]
        public void Plan_table_explains_the_verdict_and_a_built_in_spec_name_works_as_well_as_a_path()
        {
            var (code, output, _) = Run("plan", "llama2-70b", "--gpu-memory", "80GiB");
            Assert.Equal(ExitCodes.Ok, code);
            Assert.Contains("Fits.", output);
            Assert.Contains("KV tokens", output);
            var streamed = Run("plan", "llama2-70b", "--gpu-memory", "16GiB");
            Assert.Contains("Does not fit resident", streamed.Out);
            Assert.Contains("ms per decode step", streamed.Out);
        }

        [Fact]
        public void Plan_tp_8_puts_an_eighth_of_70b_on_each_16GiB_gpu_and_refuses_a_split_the_kv_heads_do_not_allow()
        {
            var (code, output, _) = Run("plan", "llama2-70b", "--gpu-memory", "16GiB", "--tp", "8", "--json");
            Assert.Equal(ExitCodes.Ok, code);
            var root = JsonDocument.Parse(output).RootElement;
            Assert.Equal(8, root.GetProperty("tensor_parallel").GetInt32());
            Assert.Equal(163_840L / 8, root.GetProperty("kv_bytes_per_token").GetInt64());
            Assert.True(root.GetProperty("fits").GetBoolean());
            Assert.Contains("Tensor parallel over [bold]8 GPUs".Replace("[bold]", ""), Run("plan", "llama2-70b", "--tp", "8").Out);
            var three = Run("plan", "llama2-70b", "--tp", "3");
            Assert.Equal(ExitCodes.Usage, three.Code);
            Assert.Contains("allowed 1, 2, 4, 8", three.Err);
            var small = Run("plan", "small-llama", "--tp", "8");
            Assert.Equal(ExitCodes.Usage, small.Code);
            Assert.Contains("num_key_value_heads", small.Err);
        }

        [Fact]
        public void Plan_max_seq_len_override_changes_the_kv_reserved_per_sequence()
        {
            var a = JsonDocument.Parse(Run("plan", "llama2-70b", "--gpu-memory", "80GiB", "--json").Out).RootElement;
            var b = JsonDocument.Parse(Run("plan", "llama2-70b", "--gpu-memory", "80GiB", "--json", "--max-seq-len", "1024").Out).RootElement;
            Assert.Equal(1024, b.GetProperty("max_seq_len").GetInt32());
            Assert.Equal(a.GetProperty("max_kv_tokens").GetInt64(), b.GetProperty("max_kv_tokens").GetInt64());
            Assert.Equal(a.GetProperty("max_kv_tokens").GetInt64() / 4096, a.GetProperty("max_concurrent_sequences").GetInt64());
            Assert.Equal(b.GetProperty("max_kv_tokens").GetInt64() / 1024, b.GetProperty("max_concurrent_sequences").GetInt64());
            Assert.Equal(ExitCodes.Usage, Run("plan", "llama2-70b", "--max-seq-len", "999999").Code);
        }

        [Fact]
        public void Emit_writes_one_cu_file_per_emitted_kernel()
        {
            string dir = Path.Combine(Path.GetTempPath(), "graphc-emit-" + Guid.NewGuid().ToString("N"));
            var (code, output, _) = Run("emit", "small-llama", "--arch", "sm_80", "--out", dir);
            Assert.Equal(ExitCodes.Ok, code);
            var files = Directory.GetFiles(dir, "*.cu").Select(Path.GetFileName).ToList();
            Assert.Contains("rmsnorm_h256.cu", files);
            Assert.Contains("decode_attention_h4_kv2_d64_fp16_b16_rope.cu", files);
            Assert.Contains("prefill_attention_h4_kv2_d64_fp16_b16.cu", files);
            Assert.DoesNotContain("pending", output);
            Directory.Delete(dir, true);
        }

        [Fact]
        public void Unknown_arch_is_a_usage_error_that_lists_the_known_ones()
        {
            var (code, _, error) = Run("emit", "small-llama", "--arch", "sm_75", "--out", Path.GetTempPath());
            Assert.Equal(ExitCodes.Usage, code);
            Assert.Contains("sm_80", error);
        }

        [Kernels.NvrtcTheory]
        [InlineData("all")]
        public void Compile_builds_every_kernel_of_a_shipped_spec(string arch)
        {
            var (code, output, error) = Run("compile", "llama2-70b", "--arch", arch);
            Assert.True(code == ExitCodes.Ok, output + error);
            Assert.Contains("NVRTC", output);
            Assert.DoesNotContain("FAILED", output);
        }

        [Fact]
        public void Tune_refuses_bad_options_before_it_looks_for_a_gpu()
        {
            var (code, _, error) = Run("tune", "small-llama", "--shapes", "everything");
            Assert.Equal(ExitCodes.Usage, code);
            Assert.Contains("use decode, prefill or all", error);
            (code, _, error) = Run("tune", "small-llama", "--budget", "ten");
            Assert.Equal(ExitCodes.Usage, code);
            Assert.Contains("a positive number with s, m or h", error);
            (code, _, error) = Run("tune", "small-llama", "--write-spec");
            Assert.Equal(ExitCodes.Usage, code);
            Assert.Contains("copy specs/small-llama.yaml and tune the copy", error);
        }

        [Fact]
        public void Tune_budgets_read_seconds_minutes_and_hours()
        {
            Assert.Equal(TimeSpan.FromSeconds(90), TuneCommand.ParseBudget("90s"));
            Assert.Equal(TimeSpan.FromMinutes(1.5), TuneCommand.ParseBudget("1.5m"));
            Assert.Equal(TimeSpan.FromHours(1), TuneCommand.ParseBudget("1h"));
        }

        [Fact]
        public void Bench_sweep_points_that_do_not_parse_are_usage_errors_naming_the_form()
        {
            var (code, _, error) = Run("bench", "small-llama", "--attention-points", "16by2048");
            Assert.Equal(ExitCodes.Usage, code);
            Assert.Contains("--attention-points: '16by2048' is not BATCHxCONTEXT", error);
            (code, _, error) = Run("bench", "small-llama", "--gemm-shapes", "8192");
            Assert.Equal(ExitCodes.Usage, code);
            Assert.Contains("--gemm-shapes: '8192' is not KxN", error);
            (code, _, error) = Run("bench", "small-llama", "--prefill-points", "1x4096,1x0");
            Assert.Equal(ExitCodes.Usage, code);
            Assert.Contains("--prefill-points: '1x0' is not BATCHxTOKENS", error);
        }
    }
}
