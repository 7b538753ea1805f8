using System.Linq;
using GraphCompiler.Compilation;
using GraphCompiler.Runtime.Tuning;
using GraphCompiler.Spec;
using GraphCompiler.Tuning;

namespace GraphCompiler.Tests.Tuning
{
    /// <summary>The runtime's use of the tuning database: tuned tiles only for a matching key, the same kernels as a rebuild
    /// after --write-spec, and the spec's tiles (saying why) otherwise.</summary>
    public class TunedTilesTests
    {
        private const string Spec = "llama2-70b";
        private static readonly GpuArch Arch = GpuArch.Sm90;
        private static readonly TileFamily Family = TileFamily.GemmInt4Decode;

        private static TuningKey Key(CompiledModel model, TileFamily family, int driver = 13000) =>
            new TuningKey("NVIDIA H200", 90, 132, driver, "13.0", TuningDatabase.ModelSignature(model.Spec), family.SpecName());

        /// <summary>A valid candidate other than the spec's own tiles, as graphc tune would record it.</summary>
        private static string OtherValidTiles(CompiledModel model)
        {
            string own = TileSearchSpace.Describe(model.Spec.Tiles.For(Arch), Family);
            return TileSearchSpace.Prune(model.Spec, Arch, Family).Valid.Select(t => TileSearchSpace.Describe(t, Family)).First(t => t != own);
        }

        [Fact]
        public void Tuned_tiles_for_this_gpu_give_the_kernels_a_rebuild_after_write_spec_gives()
        {
            var model = TestSpecs.Compile(Spec);
            string tuned = OtherValidTiles(model);
            var db = new TuningDatabase();
            db.Set(new TuningEntry(Key(model, Family), tuned, 80, 100));

            var result = TunedTiles.Apply(model, TestSpecs.PathOf(Spec), TestSpecs.Text(Spec), Arch, f => Key(model, f), db);

            var choice = Assert.Single(result.Choices, c => c.Tuned);
            Assert.Equal(Family, choice.Family);
            Assert.Equal(tuned, choice.Tiles);
            Assert.Contains("tuned on this GPU (1.25×", choice.Source);
            Assert.All(result.Choices.Where(c => !c.Tuned), c => Assert.Contains("no tuned entry", c.Source));
            Assert.Equal(tuned, TileSearchSpace.Describe(result.Model.Spec.Tiles.For(Arch), Family));

            var rewritten = SpecTileWriter.Write(TestSpecs.PathOf(Spec), TestSpecs.Text(Spec), Arch, Family, tuned);
            var rebuilt = ModelCompiler.Compile(TestSpecs.PathOf(Spec), rewritten).Model!;
            Assert.Equal(rebuilt.KernelsFor(Arch).Select(k => k.Source), result.Model.KernelsFor(Arch).Select(k => k.Source));
            Assert.Equal(rebuilt.Memory.WorkspaceBytes, result.Model.Memory.WorkspaceBytes);

            // Only the tuned family's kernels change.
            var before = model.KernelsFor(Arch).ToDictionary(k => k.Name);
            foreach (var kernel in result.Model.KernelsFor(Arch))
            {
                bool inFamily = model.Kernel(kernel.Name) is Graph.GemmKernel g && g.Tiles == Family;
                Assert.Equal(inFamily, kernel.Source != before[kernel.Name].Source);
            }
        }

        [Fact]
        public void Another_driver_keeps_the_spec_tiles_and_says_which_driver_was_tuned()
        {
            var model = TestSpecs.Compile(Spec);
            var db = new TuningDatabase();
            db.Set(new TuningEntry(Key(model, Family), OtherValidTiles(model), 80, 100));

            var result = TunedTiles.Apply(model, TestSpecs.PathOf(Spec), TestSpecs.Text(Spec), Arch, f => Key(model, f, driver: 13010), db);

            Assert.Same(model, result.Model);
            Assert.False(result.AnyTuned);
            Assert.Contains("tuned under driver 13000 / NVRTC 13.0, not this driver and NVRTC",
                result.Choices.Single(c => c.Family == Family).Source);
        }

        [Fact]
        public void Tuned_tiles_the_spec_no_longer_accepts_fall_back_to_the_spec_tiles_with_the_rule()
        {
            var model = TestSpecs.Compile(Spec);
            var db = new TuningDatabase();
            db.Set(new TuningEntry(Key(model, Family), "{ block_m: 16, block_n: 100, block_k: 64, warps: 8, stages: 4, split_k: 0 }", 80, 100));

            var result = TunedTiles.Apply(model, TestSpecs.PathOf(Spec), TestSpecs.Text(Spec), Arch, f => Key(model, f), db);

            Assert.Same(model, result.Model);
            var choice = result.Choices.Single(c => c.Family == Family);
            Assert.False(choice.Tuned);
            Assert.Equal(TileSearchSpace.Describe(model.Spec.Tiles.For(Arch), Family), choice.Tiles);
            Assert.Contains("no longer pass the spec's rules", choice.Source);
            Assert.Contains("block_n", choice.Source);
        }
    
        [Fact]
        public void A_split_model_runs_the_tiles_tuned_for_its_rank_and_stays_split()
        {
            var split = ModelCompiler.Compile(TestSpecs.Compile(Spec).Spec with { Parallel = new ParallelSpec(8) });
            string tuned = OtherValidTiles(split.Rank);
            var db = new TuningDatabase();
            db.Set(new TuningEntry(Key(split.Rank, Family), tuned, 80, 100));
            // Tiles tuned for the whole model are another model's: the rank's signature has its heads and MLP slice.
            Assert.NotEqual(Key(split, Family), Key(split.Rank, Family));

            var result = TunedTiles.Apply(split, TestSpecs.PathOf(Spec), TestSpecs.Text(Spec), Arch, f => Key(split.Rank, f), db);

            Assert.Equal(Family, Assert.Single(result.Choices, c => c.Tuned).Family);
            Assert.Equal(8, result.Model.Spec.Parallel.Tensor);
            Assert.Equal(tuned, TileSearchSpace.Describe(result.Model.Rank.Spec.Tiles.For(Arch), Family));
            Assert.Equal(8, result.Model.Rank.Spec.Model.NumAttentionHeads);
        }
    }
}
