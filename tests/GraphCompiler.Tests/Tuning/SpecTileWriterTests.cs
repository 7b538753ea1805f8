using System.Linq;
using GraphCompiler.Spec;
using GraphCompiler.Tuning;

namespace GraphCompiler.Tests.Tuning
{
    /// <summary>Tuned tiles written back into a spec: only the family's value changes, or the missing family, architecture or section is added.</summary>
    public class SpecTileWriterTests
    {
        private const string Int4Decode = "{ block_m: 16, block_n: 256, block_k: 128, warps: 8, stages: 4, split_k: 0 }";

        private static ModelSpec Parse(string text)
        {
            var result = SpecParser.Parse("spec.yaml", text);
            Assert.True(result.Spec != null, string.Join("\n", result.Diagnostics));
            return result.Spec!;
        }

        [Fact]
        public void A_flow_mapping_is_replaced_in_place_and_nothing_else_changes()
        {
            string before = TestSpecs.Text("llama2-70b");
            string after = SpecTileWriter.Write("llama2-70b.yaml", before, GpuArch.Sm90, TileFamily.GemmInt4Decode, Int4Decode);
            Assert.Equal(new GemmTiles(16, 256, 128, 8, 4, 0), Parse(after).Tiles.For(GpuArch.Sm90).GemmInt4Decode);
            var a = before.Split('\n');
            var b = after.Split('\n');
            Assert.Equal(a.Length, b.Length);
            var changed = Enumerable.Range(0, a.Length).Where(i => a[i] != b[i]).ToList();
            var line = Assert.Single(changed);
            Assert.Contains("sm_90", string.Join("\n", a.Take(line)).Split("tiles:")[1]);
            Assert.StartsWith("    gemm_int4_decode: " + Int4Decode + "   # graphc tune", b[line]);   // the line's comment stays
            // The sm_80 and sm_89 sections keep their own tiles.
            Assert.Equal(Parse(before).Tiles.For(GpuArch.Sm80), Parse(after).Tiles.For(GpuArch.Sm80));
        }

        [Fact]
        public void A_block_mapping_becomes_a_flow_mapping_and_keeps_the_comment_after_it()
        {
            string before = TestSpecs.Minimal + "tiles:\n  sm_90:\n    gemm_int4_decode:\n      block_n: 128\n      warps: 4   # tried first\n    # the next family\n    elementwise: { threads: 128 }\n";
            string after = SpecTileWriter.Write("spec.yaml", before, GpuArch.Sm90, TileFamily.GemmInt4Decode, Int4Decode);
            Assert.Contains("    gemm_int4_decode: " + Int4Decode + "   # tried first\n    # the next family\n    elementwise: { threads: 128 }\n", after);
            Assert.Equal(new GemmTiles(16, 256, 128, 8, 4, 0), Parse(after).Tiles.For(GpuArch.Sm90).GemmInt4Decode);
        }

        [Fact]
        public void A_missing_family_architecture_or_section_is_added()
        {
            string spec = TestSpecs.Text("llama2-70b");
            string withFamily = SpecTileWriter.Write("s.yaml", spec, GpuArch.Sm90, TileFamily.GemmDenseDecode, "{ block_m: 16, block_n: 128, block_k: 128, warps: 4, stages: 4, split_k: 0 }");
            Assert.Equal(new GemmTiles(16, 128, 128, 4, 4, 0), Parse(withFamily).Tiles.For(GpuArch.Sm90).GemmDenseDecode);
            Assert.Equal(Parse(spec).Tiles.For(GpuArch.Sm90).GemmInt4Decode, Parse(withFamily).Tiles.For(GpuArch.Sm90).GemmInt4Decode);

            string withArch = SpecTileWriter.Write("s.yaml", spec, GpuArch.Sm86, TileFamily.GemmInt4Decode, Int4Decode);
            Assert.Equal(new GemmTiles(16, 256, 128, 8, 4, 0), Parse(withArch).Tiles.For(GpuArch.Sm86).GemmInt4Decode);
            Assert.StartsWith(spec.TrimEnd('\n'), withArch);

            string small = TestSpecs.Text("small-llama");
            Assert.DoesNotContain("tiles:", small);
            string withSection = SpecTileWriter.Write("s.yaml", small, GpuArch.Sm90, TileFamily.DecodeAttention, "{ block_n: 32, warps: 2, stages: 2, splits: 0 }");
            Assert.Equal(new DecodeAttentionTiles(32, 2, 2, 0), Parse(withSection).Tiles.For(GpuArch.Sm90).DecodeAttention);
            Assert.StartsWith(small, withSection);
        }
    }
}
