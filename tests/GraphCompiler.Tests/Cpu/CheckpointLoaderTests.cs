using System.IO;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Compilation;
using GraphCompiler.Runtime.Checkpoints;
using GraphCompiler.Runtime.Cli;
using GraphCompiler.Runtime.Cpu;
using GraphCompiler.Tests.Checkpoints;

namespace GraphCompiler.Tests.Cpu
{
    /// <summary>A safetensors checkpoint on disk runs on the CPU backend exactly as the same tensors in memory.</summary>
    public class CheckpointLoaderTests
    {
        private static string WriteCheckpoint(TempFolder folder, CheckpointTensors tensors, string? skip = null)
        {
            var writer = new SafetensorsWriter();
            foreach (var name in tensors.Names.Where(n => n != skip))
            {
                var t = tensors[name];
                writer.Add(name, t.DType.SafetensorsName(), t.Shape.Select(d => (long)d).ToArray(), t.Data);
            }
            return writer.Write(folder.File(Checkpoint.SingleFile));
        }

        [Fact]
        public void A_checkpoint_read_from_disk_gives_the_same_logits_as_the_tensors_it_was_written_from()
        {
            var (parse, model) = ModelCompiler.Compile(TestSpecs.PathOf("small-llama"), TestSpecs.Text("small-llama"));
            var tensors = RandomCheckpoint.Create(model!, 3);
            using var folder = new TempFolder();
            WriteCheckpoint(folder, tensors);
            using var checkpoint = Checkpoint.Open(folder.Path);
            var loaded = CheckpointLoader.Load(checkpoint, model!, parse.SourceMap);

            int[] prompt = { 1, 17, 400, 2000, 9 };
            var expected = new CpuModel(model!, tensors);
            var actual = new CpuModel(model!, loaded);
            Assert.Equal(expected.Prefill(expected.NewSequence(), prompt), actual.Prefill(actual.NewSequence(), prompt));
        }

        [Fact]
        public void A_checkpoint_missing_a_tensor_is_refused_naming_it_and_nothing_is_loaded()
        {
            var (parse, model) = ModelCompiler.Compile(TestSpecs.PathOf("small-llama"), TestSpecs.Text("small-llama"));
            using var folder = new TempFolder();
            WriteCheckpoint(folder, RandomCheckpoint.Create(model!, 4), skip: "model.layers.3.mlp.down_proj.weight");
            using var checkpoint = Checkpoint.Open(folder.Path);
            var e = Assert.Throws<CheckpointException>(() => CheckpointLoader.Load(checkpoint, model!, parse.SourceMap));
            Assert.Contains("model.layers.3.mlp.down_proj.weight", e.Message);
        }

        [Fact]
        public void Graphc_run_generates_from_a_checkpoint_folder()
        {
            var (_, model) = ModelCompiler.Compile(TestSpecs.PathOf("small-llama"), TestSpecs.Text("small-llama"));
            using var folder = new TempFolder();
            WriteCheckpoint(folder, RandomCheckpoint.Create(model!, 5));
            var output = new StringWriter();
            var error = new StringWriter();
            int code = GraphcCommand.Run(new[] { "run", TestSpecs.PathOf("small-llama"), "--model", folder.Path, "--steps", "3" }, output, error);
            Assert.True(code == ExitCodes.Ok, output + "\n" + error);
            Assert.Contains("weights from " + folder.Path, output.ToString().Replace("\n", ""));
            Assert.Contains("generated 3 tokens", output.ToString());

            int both = GraphcCommand.Run(new[] { "run", "small-llama", "--model", folder.Path, "--random-weights" }, new StringWriter(), error);
            Assert.Equal(ExitCodes.Usage, both);
        }
    }
}
