using System;
using System.Linq;
using GraphCompiler.Compilation;
using GraphCompiler.Runtime.Checkpoints;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests.Checkpoints
{
    public class ManifestCheckTests
    {
        private const string WithInt4Override = TestSpecs.Minimal + @"  overrides:
    - modules: [gate_proj, up_proj]
      layers: 1-2
      scheme: int4
      group_size: 64
";

        internal static (CompiledModel Model, SpecSourceMap Sources) Compile(string path, string yaml)
        {
            var (parse, model) = ModelCompiler.Compile(path, yaml);
            Assert.True(model != null, string.Join("\n", parse.Diagnostics));
            return (model!, parse.SourceMap);
        }

        internal static (CompiledModel Model, SpecSourceMap Sources) SmallLlama() => Compile(TestSpecs.PathOf("small-llama"), TestSpecs.Text("small-llama"));

        /// <summary>"path:line:col" of <paramref name="value"/> on the first line of the spec containing <paramref name="text"/>.</summary>
        private static string Where(string path, string yaml, string text, string value)
        {
            int line = TestSpecs.LineOf(yaml, text);
            int column = yaml.Replace("\r\n", "\n").Split('\n')[line - 1].IndexOf(value, StringComparison.Ordinal) + 1;
            return $"{path}:{line}:{column}";
        }

        private static ManifestCheckResult Check(TempFolder dir, (CompiledModel Model, SpecSourceMap Sources) spec, SafetensorsWriter writer)
        {
            writer.Write(dir.File(Checkpoint.SingleFile));
            using var checkpoint = Checkpoint.Open(dir.Path);
            return ManifestCheck.Run(checkpoint, spec.Model, spec.Sources);
        }

        [Fact]
        public void A_checkpoint_of_exactly_the_manifest_matches_and_harmless_extras_are_ignored_with_a_reason()
        {
            var spec = SmallLlama();
            using var dir = new TempFolder();
            var result = Check(dir, spec, new SafetensorsWriter().AddAll(spec.Model.Manifest)
                .Add("model.layers.0.self_attn.rotary_emb.inv_freq", "F32", new long[] { 32 })
                .Add("lm_head.weight", "F16", new long[] { 4096, 256 }));
            Assert.True(result.Matches, string.Join("\n", result.Findings));
            Assert.Equal(new[] { "lm_head.weight", "model.layers.0.self_attn.rotary_emb.inv_freq" }, result.Ignored.Select(i => i.Name));
            Assert.Contains("tie_word_embeddings", result.Ignored[0].Reason);
            Assert.Contains("rope_theta", result.Ignored[1].Reason);
        }

        [Fact]
        public void Every_finding_is_collected_with_expected_and_found_and_the_spec_location_that_decided_it()
        {
            var spec = SmallLlama();
            string path = TestSpecs.PathOf("small-llama"), yaml = TestSpecs.Text("small-llama");
            var writer = new SafetensorsWriter();
            foreach (var w in spec.Model.Manifest)
            {
                if (w.Name == "model.layers.2.mlp.down_proj.weight") continue;
                if (w.Name == "model.layers.1.self_attn.k_proj.weight") writer.Add(w.Name, "F16", new long[] { 256, 256 });
                else if (w.Name == "model.norm.weight") writer.Add(w.Name, "BF16", new long[] { 256 });
                else writer.Add(w);
            }
            writer.Add("model.layers.0.mlp.gate_proj.qweight", "I32", new long[] { 32, 768 })
                .Add("model.layers.6.input_layernorm.weight", "F16", new long[] { 256 })
                .Add("vision_tower.patch_embed.weight", "F16", new long[] { 4, 4 });
            using var dir = new TempFolder();
            var result = Check(dir, spec, writer);

            string scheme = Where(path, yaml, "default: fp16", "fp16");
            Assert.Equal(new[]
            {
                $"{scheme}: tensor 'model.layers.1.self_attn.k_proj.weight' has shape [256, 256]; the spec's k_proj in layer 1 (fp16) needs [128, 256]",
                $"{scheme}: missing tensor 'model.layers.2.mlp.down_proj.weight': the spec's down_proj in layer 2 (fp16) needs F16 [256, 768]",
                $"{Where(path, yaml, "dtype: fp16", "fp16")}: tensor 'model.norm.weight' is BF16; the spec's final norm (fp16) needs F16",
                $"{scheme}: extra tensor 'model.layers.0.mlp.gate_proj.qweight' (I32 [32, 768]): the spec's gate_proj in layer 0 (fp16) stores only weight; the checkpoint holds this module in another scheme",
                $"{Where(path, yaml, "num_hidden_layers", "6")}: extra tensor 'model.layers.6.input_layernorm.weight' (F16 [256]): layer 6 is past the spec's 6 layers (num_hidden_layers); the checkpoint is of a deeper model",
                "extra tensor 'vision_tower.patch_embed.weight' (F16 [4, 4]) belongs to no weight the spec describes",
            }, result.Findings.Select(f => f.ToString()));
            Assert.Equal(new[]
            {
                ManifestFindingKind.WrongShape, ManifestFindingKind.Missing, ManifestFindingKind.WrongDType,
                ManifestFindingKind.Extra, ManifestFindingKind.Extra, ManifestFindingKind.Extra,
            }, result.Findings.Select(f => f.Kind));
        }

        [Fact]
        public void Findings_in_overridden_layers_point_at_the_override_that_set_their_scheme()
        {
            var spec = Compile("test.yaml", WithInt4Override);
            var writer = new SafetensorsWriter();
            foreach (var w in spec.Model.Manifest.Where(w => w.Name is not ("model.layers.1.mlp.up_proj.g_idx" or "model.layers.0.mlp.up_proj.weight")))
                writer.Add(w);
            using var dir = new TempFolder();
            var result = Check(dir, spec, writer);
            Assert.Equal(new[]
            {
                $"{Where("test.yaml", WithInt4Override, "default: fp16", "fp16")}: missing tensor 'model.layers.0.mlp.up_proj.weight': the spec's up_proj in layer 0 (fp16) needs F16 [768, 256]",
                $"{Where("test.yaml", WithInt4Override, "scheme: int4", "int4")}: missing tensor 'model.layers.1.mlp.up_proj.g_idx': the spec's up_proj in layer 1 (int4 gptq g64 sym) needs I32 [256]",
            }, result.Findings.Select(f => f.ToString()));
        }

        [Fact]
        public void A_declared_gptq_configuration_is_checked_against_each_int4_scheme()
        {
            var spec = Compile("test.yaml", WithInt4Override);
            using var dir = new TempFolder();
            dir.Write(CheckpointQuantization.ConfigFile,
                @"{ ""quantization_config"": { ""quant_method"": ""gptq"", ""bits"": 4, ""group_size"": 128, ""desc_act"": false, ""sym"": false } }");
            var result = Check(dir, spec, new SafetensorsWriter().AddAll(spec.Model.Manifest));
            Assert.Equal(new[]
            {
                $"{Where("test.yaml", WithInt4Override, "group_size: 64", "64")}: the checkpoint is GPTQ (config.json quantization_config) with group_size 128; this scheme says 64. Set group_size: 128",
                $"{Where("test.yaml", WithInt4Override, "scheme: int4", "int4")}: the checkpoint is GPTQ (config.json quantization_config) with asymmetric zeros; this scheme says symmetric: true. Set symmetric: false",
            }, result.Findings.Select(f => f.ToString()));
            Assert.All(result.Findings, f => Assert.Equal(ManifestFindingKind.SchemeMismatch, f.Kind));
        }
    }
}
