using System;
using System.IO;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Compilation;
using GraphCompiler.Graph;
using GraphCompiler.Runtime.Checkpoints;
using GraphCompiler.Runtime.Cpu;
using GraphCompiler.Runtime.Reference;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests.TensorParallel
{
    /// <summary>
    /// Each rank's shards as read from the checkpoints tests/reference/export_quantized.py wrote (AutoGPTQ, AutoAWQ, FP8):
    /// dequantized with the rank's shapes, they are bit for bit PyTorch's dequantization of the whole weight, sliced as
    /// Megatron cuts it (q/k/v and gate/up by output rows, o_proj and down_proj by input columns).
    /// </summary>
    public class RankSlicesTests
    {
        [Theory]
        [InlineData("small-llama-gptq", "small-llama-int4-gptq")]
        [InlineData("small-llama-awq", "small-llama-int4-awq")]
        [InlineData("small-llama-fp8", "small-llama-fp8")]
        public void Each_rank_s_shards_dequantize_to_its_slice_of_pytorch_s_whole_weight(string folder, string spec)
        {
            var (parse, whole) = ModelCompiler.Compile(TestSpecs.PathOf(spec), TestSpecs.Text(spec));
            var split = ModelCompiler.Compile(whole!.Spec with { Parallel = new ParallelSpec(2) });
            var m = whole.Spec.Model;
            using var checkpoint = Checkpoint.Open(TestSpecs.Fixture(folder));
            using var reference = Checkpoint.Open(TestSpecs.Fixture("small-llama-reference-dequant.safetensors"));
            string format = folder.Substring("small-llama-".Length);
            for (int rank = 0; rank < 2; rank++)
            {
                var tensors = CheckpointLoader.Load(checkpoint, split, parse.SourceMap, out var report, rank);
                Assert.Equal(0, report.QuantizedModules);
                foreach (var module in ModuleKinds.LayerLinears)
                {
                    var (k, n) = split.Rank.Spec.Model.LinearShape(module);
                    var (start, _) = GraphCompiler.Planning.TensorShards.Slice(m, module, 2, rank);
                    var ours = Cpu.QuantizedFixtureTests.Dequantize(tensors, module, k, n, whole.Spec.Quantization.For(module, 0));
                    reference.TryGet($"{format}.{module.HfPrefix(0)}.weight", out var expected);
                    var theirs = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(expected.Span);
                    int fullK = m.LinearShape(module).K;
                    int mismatches = 0;
                    for (int row = 0; row < n; row++)
                        for (int col = 0; col < k; col++)
                        {
                            long at = module.TensorSplit() == TensorSplit.Rows ? (long)row * fullK + start + col : (long)(start + row) * fullK + col;
                            if (ours[(long)row * k + col] != theirs[(int)at]) mismatches++;
                        }
                    Assert.True(mismatches == 0, $"rank {rank} {module.SpecName()}: {mismatches} of {ours.Length} values differ from PyTorch's slice");
                }
            }
        }

        [Fact]
        public void A_row_split_gptq_rank_numbers_its_groups_from_zero()
        {
            var (parse, whole) = ModelCompiler.Compile(TestSpecs.PathOf("small-llama-int4-gptq"), TestSpecs.Text("small-llama-int4-gptq"));
            var split = ModelCompiler.Compile(whole!.Spec with { Parallel = new ParallelSpec(2) });
            using var checkpoint = Checkpoint.Open(TestSpecs.Fixture("small-llama-gptq"));
            var second = CheckpointLoader.Load(checkpoint, split, parse.SourceMap, out _, 1);
            var groups = second["model.layers.0.mlp.down_proj.g_idx"].As<int>();
            Assert.Equal(384, groups.Length);
            Assert.Equal(Enumerable.Range(0, 384).Select(i => i / 128), groups);   // rows 384..767 of the whole are groups 3..5 there
        }

        [Fact]
        public void A_rank_out_of_range_is_refused_naming_the_ranks()
        {
            var (parse, whole) = ModelCompiler.Compile(TestSpecs.PathOf("small-llama"), TestSpecs.Text("small-llama"));
            var split = ModelCompiler.Compile(whole!.Spec with { Parallel = new ParallelSpec(2) });
            using var checkpoint = Checkpoint.Open(TestSpecs.Fixture("small-llama"));
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => CheckpointLoader.Load(checkpoint, split, parse.SourceMap, out _, 2));
            Assert.Contains("split over 2 GPU(s): ranks 0 .. 1", e.Message);
        }
    }
}
