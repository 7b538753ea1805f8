using System.Globalization;
using System.IO;
using System.Linq;
using GraphCompiler.Runtime.Checkpoints;
using GraphCompiler.Runtime.Cli;
using static GraphCompiler.Tests.Cli.GraphcInvocation;

namespace GraphCompiler.Tests.Checkpoints
{
    public class InspectCommandTests
    {
        /// <summary>A small-llama checkpoint of exactly its manifest, less the tensors named.</summary>
        private static void WriteSmallLlama(TempFolder dir, params string[] leaveOut)
        {
            var (model, _) = ManifestCheckTests.SmallLlama();
            new SafetensorsWriter().Metadata("format", "pt").AddAll(model.Manifest.Where(w => !leaveOut.Contains(w.Name)))
                .Write(dir.File(Checkpoint.SingleFile));
        }

        [Fact]
        public void Inspect_lists_the_tensors_folding_identical_layers_and_exits_0()
        {
            using var dir = new TempFolder();
            WriteSmallLlama(dir);
            var (code, output, _) = Run("inspect", dir.Path);
            Assert.Equal(ExitCodes.Ok, code);
            Assert.Contains("1 file (model.safetensors)", output);
            Assert.Contains("Quantization: plain F16", output);
            Assert.Contains("model.layers.0.self_attn.q_proj.weight", output);
            Assert.Contains("model.layers.1-5.*", output);
            Assert.Contains("as layer 0", output);
            Assert.DoesNotContain("model.layers.3.self_attn", output);
            long bytes = ManifestCheckTests.SmallLlama().Model.Manifest.Sum(w => w.Bytes);
            Assert.Contains($"Total: 56 tensors, {bytes.ToString("N0", CultureInfo.InvariantCulture)} bytes", output);
            Assert.Contains("Metadata: format = pt", output);
        }

        [Fact]
        public void A_layer_laid_out_differently_is_printed_in_full_and_later_layers_fold_into_the_layer_they_match()
        {
            using var dir = new TempFolder();
            var writer = new SafetensorsWriter();
            for (int l = 0; l < 6; l++)
                writer.Add($"model.layers.{l}.input_layernorm.weight", l == 3 ? "BF16" : "F16", new long[] { 8 })
                    .Add($"model.layers.{l}.post_attention_layernorm.weight", "F16", new long[] { 8 });
            writer.Add("model.norm.weight", "F16", new long[] { 8 }).Write(dir.File(Checkpoint.SingleFile));
            using var checkpoint = Checkpoint.Open(dir.Path);
            var names = InspectCommand.Rows(checkpoint.Tensors).Select(r => r[0]).ToArray();
            Assert.Equal(new[]
            {
                "model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight", "model.layers.1-2.*",
                "model.layers.3.input_layernorm.weight", "model.layers.3.post_attention_layernorm.weight", "model.layers.4-5.*",
                "model.norm.weight",
            }, names);
            var rows = InspectCommand.Rows(checkpoint.Tensors);
            Assert.Equal(new[] { "model.layers.1-2.*", "as layer 0", "2 tensors each", "64" }, rows[2]);
            Assert.Equal(new[] { "model.layers.4-5.*", "as layer 0", "2 tensors each", "64" }, rows[5]);
        }

        [Fact]
        public void Inspect_with_a_matching_spec_exits_0()
        {
            using var dir = new TempFolder();
            WriteSmallLlama(dir);
            var (code, output, _) = Run("inspect", dir.Path, "--spec", TestSpecs.PathOf("small-llama"));
            Assert.Equal(ExitCodes.Ok, code);
            Assert.Contains("Matches small-llama: all 56 tensors", output);
        }

        [Fact]
        public void Inspect_with_a_spec_the_checkpoint_does_not_match_prints_each_finding_and_exits_1()
        {
            using var dir = new TempFolder();
            WriteSmallLlama(dir, "model.layers.4.mlp.up_proj.weight", "model.norm.weight");
            var (code, output, _) = Run("inspect", dir.Path, "--spec", "small-llama");   // a built-in spec, by name
            Assert.Equal(ExitCodes.CheckpointError, code);
            Assert.Contains("specs/small-llama.yaml:21:12: missing tensor 'model.layers.4.mlp.up_proj.weight'", output);
            Assert.Contains("missing tensor 'model.norm.weight'", output);
            Assert.Contains("Does not match small-llama: 2 finding(s): 2 missing.", output);
        }

        [Fact]
        public void A_malformed_checkpoint_exits_1_with_the_message_and_no_stack_trace()
        {
            using var dir = new TempFolder();
            dir.Write(Checkpoint.SingleFile, SafetensorsWriter.Raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8));
            var (code, _, error) = Run("inspect", dir.Path);
            Assert.Equal(ExitCodes.CheckpointError, code);
            Assert.Contains("tensor 'w' is F32 [3]: 3 elements × 4 bytes = 12 bytes", error);
            Assert.DoesNotContain("   at ", error);
        }

        [Fact]
        public void Usage_errors_exit_2()
        {
            var missing = Run("inspect", Path.Combine(Path.GetTempPath(), "no-such-checkpoint-folder"));
            Assert.Equal(ExitCodes.Usage, missing.Code);
            Assert.Contains("no checkpoint file or folder", missing.Err);
            using var dir = new TempFolder();
            WriteSmallLlama(dir);
            Assert.Equal(ExitCodes.Usage, Run("inspect", dir.Path, "--sepc", "small-llama").Code);
            Assert.Equal(ExitCodes.Usage, Run("inspect").Code);
            Assert.Equal(ExitCodes.Usage, Run("inspect", dir.Path, "--spec", "no-such-spec").Code);
        }
    }
}
