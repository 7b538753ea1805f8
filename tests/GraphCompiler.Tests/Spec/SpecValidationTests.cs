using System;
using System.Linq;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests.Spec
{
    /// <summary>
    /// One test per spec validation rule: the diagnostic ID, where it points (line, and column where it matters) and
    /// the words that tell the user what is allowed.
    /// </summary>
    public class SpecValidationTests
    {
        // ---------------------------------------------------------------- helpers

        /// <summary><see cref="TestSpecs.Minimal"/> with <paramref name="oldText"/> replaced (it must be there).</summary>
        private static string MinimalWith(string oldText, string newText) => Replace(TestSpecs.Minimal, oldText, newText);

        private static string Replace(string yaml, string oldText, string newText)
        {
            Assert.Contains(oldText, yaml);
            return yaml.Replace(oldText, newText, StringComparison.Ordinal);
        }

        /// <summary>Minimal with its quantization section replaced by <paramref name="quantization"/>.</summary>
        private static string MinimalWithQuantization(string quantization) =>
            MinimalWith("quantization:\n  default: fp16\n", quantization);

        /// <summary>The one diagnostic with <paramref name="id"/>.</summary>
        private static SpecDiagnostic Single(string yaml, string id) => Assert.Single(TestSpecs.Expect(yaml, id));

        /// <summary>1-based column of <paramref name="token"/> on the first line containing <paramref name="lineText"/>.</summary>
        private static int ColumnOf(string yaml, string lineText, string token)
        {
            var line = yaml.Split('\n')[TestSpecs.LineOf(yaml, lineText) - 1];
            int index = line.IndexOf(token, StringComparison.Ordinal);
            Assert.True(index >= 0, $"'{token}' not on line '{line}'");
            return index + 1;
        }

        /// <summary>Asserts the diagnostic starts on the line containing <paramref name="lineText"/>, at <paramref name="token"/> when given.</summary>
        private static void AssertAt(SpecDiagnostic d, string yaml, string lineText, string? token = null)
        {
            Assert.Equal(TestSpecs.LineOf(yaml, lineText), d.Location.StartLine);
            if (token != null) Assert.Equal(ColumnOf(yaml, lineText, token), d.Location.StartColumn);
            Assert.Equal("test.yaml", d.Location.FilePath);
        }

        private static void AssertValid(string yaml)
        {
            var result = TestSpecs.Parse(yaml);
            Assert.False(result.HasErrors, string.Join("\n", result.Diagnostics));
            Assert.NotNull(result.Spec);
        }

        // ---------------------------------------------------------------- baseline

        [Fact]
        public void Minimal_spec_parses_without_diagnostics()
        {
            var result = TestSpecs.Parse(TestSpecs.Minimal);
            Assert.Empty(result.Diagnostics);
            Assert.NotNull(result.Spec);
            Assert.Equal("test-model", result.Spec!.Name);
            Assert.Equal("TestModel", result.Spec.ClassName);
        }

        [Fact]
        public void Every_diagnostic_id_is_distinct_and_has_a_title()
        {
            Assert.Equal(SpecDiagnosticIds.All.Length, SpecDiagnosticIds.All.Distinct().Count());
            Assert.All(SpecDiagnosticIds.All, id =>
            {
                Assert.Matches("^GC[0-9]{4}$", id);
                Assert.False(string.IsNullOrWhiteSpace(SpecDiagnosticIds.Title(id)));
            });
        }

        // ---------------------------------------------------------------- GC0001 YAML syntax

        [Fact]
        public void Yaml_syntax_error_is_GC0001_at_the_broken_line()
        {
            string yaml = MinimalWith("  vocab_size: 1000\n", "  vocab_size: 1000: 2000\n");
            var d = Single(yaml, SpecDiagnosticIds.YamlSyntax);
            Assert.True(d.IsError);
            AssertAt(d, yaml, "vocab_size: 1000: 2000");
            Assert.DoesNotContain("(Line:", d.Message);
            Assert.Null(TestSpecs.Parse(yaml).Spec);
        }

        [Fact]
        public void Second_yaml_document_is_GC0001_at_the_separator()
        {
            string yaml = TestSpecs.Minimal + "---\nname: other\n";
            var d = Single(yaml, SpecDiagnosticIds.YamlSyntax);
            Assert.Contains("one YAML document", d.Message);
            Assert.Contains("'---'", d.Message);
            AssertAt(d, yaml, "---", "---");
        }

        [Fact]
        public void Alias_without_anchor_is_GC0001_naming_the_alias()
        {
            string yaml = MinimalWith("  default: fp16\n", "  default: *scheme\n");
            var d = Single(yaml, SpecDiagnosticIds.YamlSyntax);
            Assert.Contains("*scheme", d.Message);
            Assert.Contains("no anchor", d.Message);
            AssertAt(d, yaml, "default: *scheme", "*scheme");
        }

        // ---------------------------------------------------------------- GC0002 empty spec

        [Theory]
        [InlineData("")]
        [InlineData("# just a comment\n# and another\n")]
        [InlineData("   \n\n")]
        [InlineData("---\n")]
        [InlineData("~\n")]
        public void Empty_or_comment_only_file_is_GC0002_at_the_start(string yaml)
        {
            var result = TestSpecs.Parse(yaml);
            var d = Assert.Single(result.Diagnostics);
            Assert.Equal(SpecDiagnosticIds.EmptySpec, d.Id);
            Assert.Contains("'name'", d.Message);
            Assert.Contains("'model'", d.Message);
            Assert.Equal(1, d.Location.StartLine);
            Assert.Equal(1, d.Location.StartColumn);
            Assert.Null(result.Spec);
        }

        // ---------------------------------------------------------------- GC0003 unknown key

        [Fact]
        public void Unknown_key_suggests_the_nearest_valid_key()
        {
            string yaml = MinimalWith("  vocab_size: 1000\n", "  vocab_size: 1000\n  rope_thta: 10000.0\n");
            var d = Single(yaml, SpecDiagnosticIds.UnknownKey);
            Assert.Contains("unknown key 'rope_thta' in 'model'", d.Message);
            Assert.Contains("did you mean 'rope_theta'?", d.Message);
            Assert.Contains("Valid keys:", d.Message);
            Assert.Contains("hidden_size", d.Message);
            AssertAt(d, yaml, "rope_thta", "rope_thta");
        }

        [Fact]
        public void Unknown_key_unlike_any_valid_key_lists_the_valid_keys_without_a_guess()
        {
            string yaml = TestSpecs.Minimal + "frobnicator: 1\n";
            var d = Single(yaml, SpecDiagnosticIds.UnknownKey);
            Assert.DoesNotContain("did you mean", d.Message);
            Assert.Contains("(top level)", d.Message);
            Assert.Contains("Valid keys: name, class_name, namespace, description, model, quantization, kv_cache, limits, parallel, tiles", d.Message);
            AssertAt(d, yaml, "frobnicator", "frobnicator");
        }

        [Fact]
        public void Unknown_tile_family_suggests_the_nearest_family()
        {
            string yaml = TestSpecs.Minimal + "tiles:\n  sm_90:\n    gemm_int4_decod: { block_k: 64 }\n";
            var d = Single(yaml, SpecDiagnosticIds.UnknownKey);
            Assert.Contains("'tiles.sm_90'", d.Message);
            Assert.Contains("did you mean 'gemm_int4_decode'?", d.Message);
            AssertAt(d, yaml, "gemm_int4_decod:", "gemm_int4_decod");
        }

        // ---------------------------------------------------------------- GC0004 missing key

        [Fact]
        public void Missing_model_section_is_GC0004_at_the_top_level()
        {
            string yaml = "name: test-model\n";
            var d = Single(yaml, SpecDiagnosticIds.MissingKey);
            Assert.Contains("needs 'model'", d.Message);
            Assert.Contains("config.json", d.Message);
            Assert.Equal(1, d.Location.StartLine);
            Assert.Equal(1, d.Location.StartColumn);
        }

        [Fact]
        public void Missing_name_is_GC0004_with_an_example_name()
        {
            string yaml = MinimalWith("name: test-model\n", "");
            var d = Single(yaml, SpecDiagnosticIds.MissingKey);
            Assert.Contains("needs 'name'", d.Message);
            Assert.Contains("llama2-70b", d.Message);
        }

        [Fact]
        public void Missing_required_model_key_is_GC0004_in_the_model_section()
        {
            string yaml = MinimalWith("  hidden_size: 256\n", "");
            var d = Single(yaml, SpecDiagnosticIds.MissingKey);
            Assert.Contains("'model' needs 'hidden_size'", d.Message);
            Assert.Contains("model width", d.Message);
            // The model mapping starts at its first key.
            AssertAt(d, yaml, "intermediate_size: 768", "intermediate_size");
        }

        [Fact]
        public void Null_value_counts_as_missing_for_a_required_key()
        {
            string yaml = MinimalWith("  vocab_size: 1000\n", "  vocab_size: ~\n");
            var d = Single(yaml, SpecDiagnosticIds.MissingKey);
            Assert.Contains("needs 'vocab_size'", d.Message);
        }

        [Fact]
        public void Override_without_scheme_is_GC0004_at_the_override()
        {
            string yaml = TestSpecs.Minimal + "  overrides:\n    - modules: [q_proj]\n      layers: 0-1\n";
            var d = Single(yaml, SpecDiagnosticIds.MissingKey);
            Assert.Contains("'quantization.overrides[0]' needs 'scheme'", d.Message);
            Assert.Contains("int4", d.Message);
            AssertAt(d, yaml, "- modules: [q_proj]", "modules");
        }

        // ---------------------------------------------------------------- GC0005 wrong type

        [Theory]
        [InlineData("  hidden_size: 256\n", "  hidden_size: wide\n", "'model.hidden_size' must be an integer, not 'wide'", "wide")]
        [InlineData("  num_hidden_layers: 4\n", "  num_hidden_layers: 4.5\n", "'model.num_hidden_layers' must be an integer, not '4.5'", "4.5")]
        [InlineData("  vocab_size: 1000\n", "  vocab_size: 1000\n  tie_word_embeddings: yes\n", "'model.tie_word_embeddings' must be true or false, not 'yes'", "yes")]
        [InlineData("  vocab_size: 1000\n", "  vocab_size: 1000\n  rope_theta: high\n", "'model.rope_theta' must be a number, not 'high'", "high")]
        [InlineData("  vocab_size: 1000\n", "  vocab_size: [1000]\n", "'model.vocab_size' must be an integer, not a list", "[1000]")]
        public void Value_of_the_wrong_type_is_GC0005_at_the_value(string oldText, string newText, string phrase, string value)
        {
            string yaml = MinimalWith(oldText, newText);
            var d = Single(yaml, SpecDiagnosticIds.WrongType);
            Assert.Contains(phrase, d.Message);
            AssertAt(d, yaml, ": " + value, value);
        }

        [Fact]
        public void Section_that_is_not_a_mapping_is_GC0005_listing_its_keys()
        {
            string yaml = TestSpecs.Minimal + "kv_cache: fp8_e4m3\n";
            var d = Single(yaml, SpecDiagnosticIds.WrongType);
            Assert.Contains("'kv_cache' must be a mapping of keys (dtype, block_size, scale)", d.Message);
            AssertAt(d, yaml, "kv_cache: fp8_e4m3", "fp8_e4m3");
        }

        [Fact]
        public void Overrides_that_are_not_a_list_are_GC0005()
        {
            string yaml = TestSpecs.Minimal + "  overrides:\n    modules: [q_proj]\n    scheme: int4\n";
            var d = Single(yaml, SpecDiagnosticIds.WrongType);
            Assert.Contains("'quantization.overrides' must be a list", d.Message);
            AssertAt(d, yaml, "modules: [q_proj]", "modules");
        }

        // ---------------------------------------------------------------- GC0006 invalid enum value

        [Fact]
        public void Kv_cache_dtype_fp9_is_GC0006_listing_the_valid_dtypes()
        {
            string yaml = TestSpecs.Minimal + "kv_cache:\n  dtype: fp9\n";
            var d = Single(yaml, SpecDiagnosticIds.InvalidEnum);
            Assert.Contains("'kv_cache.dtype' is 'fp9'", d.Message);
            Assert.Contains("Valid values: fp16, bf16, fp8_e4m3, fp8_e5m2", d.Message);
            AssertAt(d, yaml, "dtype: fp9", "fp9");
        }

        [Fact]
        public void Unknown_quantization_scheme_is_GC0006_suggesting_the_nearest()
        {
            string yaml = MinimalWith("  default: fp16\n", "  default: int3\n");
            var d = Single(yaml, SpecDiagnosticIds.InvalidEnum);
            Assert.Contains("'quantization.default' is 'int3'", d.Message);
            Assert.Contains("did you mean 'int4'?", d.Message);
            Assert.Contains("Valid values: fp16, bf16, fp8_e4m3, int4", d.Message);
            AssertAt(d, yaml, "default: int3", "int3");
        }

        [Fact]
        public void Unknown_module_in_override_is_GC0006_listing_module_names()
        {
            string yaml = TestSpecs.Minimal + "  overrides:\n    - modules: [q_prj]\n      scheme: fp16\n";
            var d = Single(yaml, SpecDiagnosticIds.InvalidEnum);
            Assert.Contains("did you mean 'q_proj'?", d.Message);
            Assert.Contains("embed_tokens", d.Message);
            Assert.Contains("lm_head", d.Message);
            AssertAt(d, yaml, "[q_prj]", "q_prj");
        }

        [Fact]
        public void Unsupported_hidden_act_is_GC0006_naming_the_only_supported_value()
        {
            string yaml = MinimalWith("  vocab_size: 1000\n", "  vocab_size: 1000\n  hidden_act: gelu\n");
            var d = Single(yaml, SpecDiagnosticIds.InvalidEnum);
            Assert.Contains("'model.hidden_act' is 'gelu'; only 'silu' is supported", d.Message);
            AssertAt(d, yaml, "hidden_act: gelu", "gelu");
        }

        // ---------------------------------------------------------------- GC0007 out of range

        [Theory]
        [InlineData("  hidden_size: 256\n", "  hidden_size: -8\n", "-8", "'model.hidden_size' is -8; allowed: 64 to 65536")]
        [InlineData("  num_hidden_layers: 4\n", "  num_hidden_layers: 100000\n", "100000", "'model.num_hidden_layers' is 100000; allowed: 1 to 1024")]
        [InlineData("  num_attention_heads: 4\n", "  num_attention_heads: 0\n", "0", "'model.num_attention_heads' is 0; allowed: 1 to 1024")]
        [InlineData("  vocab_size: 1000\n", "  vocab_size: 1000\n  rms_norm_eps: 0\n", "0", "'model.rms_norm_eps' is 0; allowed: above 0 to 0.1")]
        public void Negative_or_absurd_number_is_GC0007_with_the_allowed_range(string oldText, string newText, string value, string phrase)
        {
            string yaml = MinimalWith(oldText, newText);
            var d = Single(yaml, SpecDiagnosticIds.OutOfRange);
            Assert.Contains(phrase, d.Message);
            string line = newText.TrimEnd('\n').Split('\n').Last().Trim();
            AssertAt(d, yaml, line);
            Assert.Equal(ColumnOf(yaml, line, ": " + value) + 2, d.Location.StartColumn);
        }

        [Fact]
        public void Gpu_memory_utilization_above_one_is_GC0007()
        {
            string yaml = TestSpecs.Minimal + "limits:\n  gpu_memory_utilization: 1.5\n";
            var d = Single(yaml, SpecDiagnosticIds.OutOfRange);
            Assert.Contains("'limits.gpu_memory_utilization' is 1.5; allowed: above 0 to 1", d.Message);
            AssertAt(d, yaml, "gpu_memory_utilization: 1.5", "1.5");
        }

        [Theory]
        [InlineData(100)]
        [InlineData(0)]
        [InlineData(256)]
        public void Int4_group_size_outside_32_64_128_or_minus_1_is_GC0007(int groupSize)
        {
            string yaml = MinimalWithQuantization($"quantization:\n  default:\n    scheme: int4\n    group_size: {groupSize}\n");
            var d = Single(yaml, SpecDiagnosticIds.OutOfRange);
            Assert.Contains($"is {groupSize}; allowed: 32, 64, 128 or -1", d.Message);
            AssertAt(d, yaml, $"group_size: {groupSize}", groupSize.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        [Fact]
        public void Kv_block_size_not_a_power_of_two_is_GC0007()
        {
            string yaml = TestSpecs.Minimal + "kv_cache:\n  block_size: 48\n";
            var d = Single(yaml, SpecDiagnosticIds.OutOfRange);
            Assert.Contains("'kv_cache.block_size' is 48; allowed: 8, 16, 32, 64, 128 or 256", d.Message);
            AssertAt(d, yaml, "block_size: 48", "48");
        }

        [Fact]
        public void Intermediate_size_not_divisible_by_16_is_GC0007_at_intermediate_size()
        {
            string yaml = MinimalWith("  intermediate_size: 768\n", "  intermediate_size: 776\n");
            var d = Single(yaml, SpecDiagnosticIds.OutOfRange);
            Assert.Contains("intermediate_size 776 must be divisible by 16", d.Message);
            AssertAt(d, yaml, "intermediate_size: 776", "776");
            Assert.DoesNotContain(TestSpecs.Parse(yaml).Diagnostics, x => x.Id == SpecDiagnosticIds.TileDoesNotDivideShape);
        }

        [Fact]
        public void Token_id_outside_the_vocabulary_is_GC0007()
        {
            string yaml = MinimalWith("  vocab_size: 1000\n", "  vocab_size: 1000\n  eos_token_id: 1000\n");
            var d = Single(yaml, SpecDiagnosticIds.OutOfRange);
            Assert.Contains("'model.eos_token_id' is 1000, outside the vocabulary (vocab_size 1000)", d.Message);
            AssertAt(d, yaml, "eos_token_id: 1000", "1000");
        }

        [Fact]
        public void Rope_scaling_is_GC0007_saying_it_is_not_supported()
        {
            string yaml = MinimalWith("  vocab_size: 1000\n", "  vocab_size: 1000\n  rope_scaling: { type: linear, factor: 2.0 }\n");
            var d = Single(yaml, SpecDiagnosticIds.OutOfRange);
            Assert.Contains("rope_scaling is not supported", d.Message);
            AssertAt(d, yaml, "rope_scaling:", "{");
        }

        [Fact]
        public void Rope_scaling_null_is_accepted()
        {
            AssertValid(MinimalWith("  vocab_size: 1000\n", "  vocab_size: 1000\n  rope_scaling: null\n"));
        }

        // ---------------------------------------------------------------- GC0008 duplicate key

        [Fact]
        public void Duplicate_key_is_GC0008_at_the_second_occurrence_naming_the_first_line()
        {
            string yaml = MinimalWith("  vocab_size: 1000\n", "  vocab_size: 1000\n  vocab_size: 2000\n");
            var d = Single(yaml, SpecDiagnosticIds.DuplicateKey);
            int first = TestSpecs.LineOf(yaml, "vocab_size: 1000");
            Assert.Contains($"key 'vocab_size' appears twice in 'model' (first at line {first}); keep one", d.Message);
            AssertAt(d, yaml, "vocab_size: 2000", "vocab_size");
        }

        [Fact]
        public void Same_tile_architecture_twice_in_any_case_is_GC0008()
        {
            string yaml = TestSpecs.Minimal + "tiles:\n  sm_90:\n    elementwise: { threads: 128 }\n  SM_90:\n    elementwise: { threads: 256 }\n";
            var d = Single(yaml, SpecDiagnosticIds.DuplicateKey);
            Assert.Contains("'tiles.sm_90' appears twice", d.Message);
            AssertAt(d, yaml, "SM_90", "SM_90");
        }

        // ---------------------------------------------------------------- GC0009 invalid name

        [Theory]
        [InlineData("Test-Model")]
        [InlineData("my model")]
        [InlineData("-leading-dash")]
        public void Name_that_is_not_lower_case_is_GC0009_at_the_name(string name)
        {
            string yaml = MinimalWith("name: test-model\n", $"name: \"{name}\"\n");
            var d = Single(yaml, SpecDiagnosticIds.InvalidName);
            Assert.Contains($"name '{name}' must be lower-case letters, digits", d.Message);
            AssertAt(d, yaml, "name: \"", "\"");
        }

        [Fact]
        public void Class_name_that_is_not_an_identifier_is_GC0009()
        {
            string yaml = TestSpecs.Minimal + "class_name: 7Llama\n";
            var d = Single(yaml, SpecDiagnosticIds.InvalidName);
            Assert.Contains("class_name '7Llama' is not a C# identifier", d.Message);
            AssertAt(d, yaml, "class_name:", "7Llama");
        }

        [Fact]
        public void Namespace_with_an_empty_part_is_GC0009()
        {
            string yaml = TestSpecs.Minimal + "namespace: My..Models\n";
            var d = Single(yaml, SpecDiagnosticIds.InvalidName);
            Assert.Contains("namespace 'My..Models' is not a dotted C# name", d.Message);
            AssertAt(d, yaml, "namespace:", "My..Models");
        }

        [Fact]
        public void Explicit_class_name_and_namespace_are_used()
        {
            var result = TestSpecs.Parse(TestSpecs.Minimal + "class_name: Tiny\nnamespace: My.Models\n");
            Assert.Empty(result.Diagnostics);
            Assert.Equal("Tiny", result.Spec!.ClassName);
            Assert.Equal("My.Models", result.Spec.Namespace);
        }

        // ---------------------------------------------------------------- GC0010 – GC0013 model shape

        [Fact]
        public void Heads_not_dividing_hidden_size_is_GC0010_at_num_attention_heads()
        {
            string yaml = MinimalWith("  num_attention_heads: 4\n", "  num_attention_heads: 3\n");
            var d = Single(yaml, SpecDiagnosticIds.HeadsDoNotDivideHidden);
            Assert.Contains("hidden_size 256 is not divisible by num_attention_heads 3", d.Message);
            AssertAt(d, yaml, "num_attention_heads: 3", "3");
        }

        [Fact]
        public void Kv_heads_not_dividing_heads_is_GC0011_at_num_key_value_heads()
        {
            string yaml = MinimalWith("  num_key_value_heads: 2\n", "  num_key_value_heads: 3\n");
            var d = Single(yaml, SpecDiagnosticIds.KvHeadsDoNotDivideHeads);
            Assert.Contains("num_attention_heads 4 is not divisible by num_key_value_heads 3", d.Message);
            AssertAt(d, yaml, "num_key_value_heads: 3", "3");
        }

        [Fact]
        public void Head_dim_96_is_GC0012_listing_the_supported_head_dims()
        {
            // 384 / 4 = 96
            string yaml = MinimalWith("  hidden_size: 256\n", "  hidden_size: 384\n");
            var d = Single(yaml, SpecDiagnosticIds.UnsupportedHeadDim);
            Assert.Contains("= 96", d.Message);
            Assert.Contains("support head_dim 64 or 128", d.Message);
            AssertAt(d, yaml, "num_attention_heads: 4", "4");
        }

        [Fact]
        public void Head_dim_not_matching_hidden_over_heads_is_GC0012_at_head_dim()
        {
            string yaml = MinimalWith("  vocab_size: 1000\n", "  vocab_size: 1000\n  head_dim: 128\n");
            var d = Single(yaml, SpecDiagnosticIds.UnsupportedHeadDim);
            Assert.Contains("head_dim 128 differs from hidden_size / num_attention_heads = 64", d.Message);
            AssertAt(d, yaml, "head_dim: 128", "128");
        }

        [Fact]
        public void Head_dim_matching_hidden_over_heads_is_accepted()
        {
            AssertValid(MinimalWith("  vocab_size: 1000\n", "  vocab_size: 1000\n  head_dim: 64\n"));
        }

        [Fact]
        public void Architecture_other_than_llama_is_GC0013_at_the_value()
        {
            string yaml = MinimalWith("model:\n", "model:\n  architecture: mistral\n");
            var d = Single(yaml, SpecDiagnosticIds.UnsupportedArchitecture);
            Assert.Contains("architecture 'mistral' is not supported; supported: llama", d.Message);
            AssertAt(d, yaml, "architecture: mistral", "mistral");
        }

        [Fact]
        public void Model_type_other_than_llama_is_GC0013_at_model_type()
        {
            string yaml = MinimalWith("model:\n", "model:\n  model_type: gpt2\n");
            var d = Single(yaml, SpecDiagnosticIds.UnsupportedArchitecture);
            Assert.Contains("model_type 'gpt2' is not supported", d.Message);
            AssertAt(d, yaml, "model_type: gpt2", "gpt2");
        }

        [Fact]
        public void Model_type_contradicting_architecture_llama_is_still_GC0013()
        {
            string yaml = MinimalWith("model:\n", "model:\n  architecture: llama\n  model_type: mistral\n");
            var d = Single(yaml, SpecDiagnosticIds.UnsupportedArchitecture);
            AssertAt(d, yaml, "model_type: mistral", "mistral");
        }

        // ---------------------------------------------------------------- GC0020 layer ranges

        [Fact]
        public void Layer_range_past_the_last_layer_is_GC0020_giving_the_layer_count()
        {
            string yaml = TestSpecs.Minimal + "  overrides:\n    - modules: [q_proj]\n      layers: 0-9\n      scheme: fp16\n";
            var d = Single(yaml, SpecDiagnosticIds.BadLayerRange);
            Assert.Contains("layer range '0-9' goes past the last layer: the model has 4 layers, numbered 0-3", d.Message);
            AssertAt(d, yaml, "layers: 0-9", "0-9");
        }

        [Fact]
        public void Single_layer_number_past_the_last_layer_is_GC0020()
        {
            string yaml = TestSpecs.Minimal + "  overrides:\n    - modules: [q_proj]\n      layers: [1, 4]\n      scheme: fp16\n";
            var d = Single(yaml, SpecDiagnosticIds.BadLayerRange);
            Assert.Contains("'4' goes past the last layer", d.Message);
            AssertAt(d, yaml, "layers: [1, 4]", "4]");
        }

        [Fact]
        public void Reversed_layer_range_is_GC0020_suggesting_the_right_order()
        {
            string yaml = TestSpecs.Minimal + "  overrides:\n    - modules: [q_proj]\n      layers: 3-1\n      scheme: fp16\n";
            var d = Single(yaml, SpecDiagnosticIds.BadLayerRange);
            Assert.Contains("layer range '3-1' runs backwards; write 1-3", d.Message);
            AssertAt(d, yaml, "layers: 3-1", "3-1");
        }

        [Fact]
        public void Unreadable_layer_spec_is_GC0020_showing_the_accepted_forms()
        {
            string yaml = TestSpecs.Minimal + "  overrides:\n    - modules: [q_proj]\n      layers: first\n      scheme: fp16\n";
            var d = Single(yaml, SpecDiagnosticIds.BadLayerRange);
            Assert.Contains("'first'", d.Message);
            Assert.Contains("write 'all', a layer number, or a range like 0-3", d.Message);
            AssertAt(d, yaml, "layers: first", "first");
        }

        // ---------------------------------------------------------------- GC0021 gaps

        [Fact]
        public void Overrides_not_covering_every_layer_without_default_is_GC0021_naming_the_gaps()
        {
            string yaml = MinimalWithQuantization(
                "quantization:\n" +
                "  overrides:\n" +
                "    - modules: [q_proj, k_proj, v_proj, o_proj]\n" +
                "      scheme: fp16\n" +
                "    - modules: [gate_proj, up_proj]\n" +
                "      layers: 0-1\n" +
                "      scheme: fp16\n");
            var d = Single(yaml, SpecDiagnosticIds.QuantizationGap);
            Assert.Contains("gate_proj in layers 2-3", d.Message);
            Assert.Contains("up_proj in layers 2-3", d.Message);
            Assert.Contains("down_proj in layers 0-3", d.Message);
            Assert.DoesNotContain("q_proj", d.Message);
            Assert.DoesNotContain("o_proj", d.Message);
            Assert.Contains("Add 'quantization.default'", d.Message);
            // The quantization mapping starts at its first key.
            AssertAt(d, yaml, "  overrides:", "overrides");
        }

        [Fact]
        public void Gap_with_scattered_layers_is_reported_as_compact_ranges()
        {
            string yaml = MinimalWith("  num_hidden_layers: 4\n", "  num_hidden_layers: 8\n")
                .Replace("quantization:\n  default: fp16\n",
                    "quantization:\n  overrides:\n    - modules: [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]\n      layers: [0, 3-4, 7]\n      scheme: fp16\n",
                    StringComparison.Ordinal);
            var d = Single(yaml, SpecDiagnosticIds.QuantizationGap);
            Assert.Contains("q_proj in layers 1-2, 5-6", d.Message);
            Assert.Contains("down_proj in layers 1-2, 5-6", d.Message);
        }

        [Fact]
        public void Missing_quantization_section_means_every_weight_in_the_activation_dtype()
        {
            var result = TestSpecs.Parse(MinimalWithQuantization(""));
            Assert.Empty(result.Diagnostics);
            foreach (var module in GraphCompiler.Spec.ModuleKinds.LayerLinears)
                Assert.Equal(QuantScheme.Fp16, result.Spec!.Quantization.For(module, 3));
        }

        [Fact]
        public void Quantization_section_without_default_leaving_modules_uncovered_is_GC0021_naming_them()
        {
            string yaml = MinimalWithQuantization("quantization:\n  overrides:\n    - modules: [q_proj]\n      scheme: fp16\n");
            var d = Single(yaml, SpecDiagnosticIds.QuantizationGap);
            foreach (var module in new[] { "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj" })
                Assert.Contains(module + " in layers 0-3", d.Message);
            Assert.DoesNotContain("q_proj", d.Message);
        }

        [Fact]
        public void An_invalid_default_is_reported_once_without_a_spurious_gap()
        {
            string yaml = MinimalWithQuantization("quantization:\n  default: int3\n");
            var result = TestSpecs.Parse(yaml);
            Assert.Equal(new[] { SpecDiagnosticIds.InvalidEnum }, result.Diagnostics.Select(x => x.Id));
        }

        [Fact]
        public void An_empty_layer_list_is_GC0020()
        {
            string yaml = TestSpecs.Minimal + "  overrides:\n    - modules: [q_proj]\n      layers: []\n      scheme: fp16\n";
            var d = Single(yaml, SpecDiagnosticIds.BadLayerRange);
            Assert.Contains("names no layers", d.Message);
        }

        [Fact]
        public void A_dense_scheme_in_the_wrong_dtype_is_reported_once_for_all_the_modules_it_covers()
        {
            string yaml = MinimalWith("  max_position_embeddings: 512\n", "  max_position_embeddings: 512\n  dtype: bf16\n");
            var result = TestSpecs.Parse(yaml);
            Assert.Single(result.Diagnostics, x => x.Id == SpecDiagnosticIds.WeightDTypeMismatch);
        }

        [Fact]
        public void Int4_lm_head_with_a_vocabulary_not_divisible_by_8_says_n_must_be_divisible_by_8()
        {
            string yaml = MinimalWith("  vocab_size: 1000\n", "  vocab_size: 1001\n")
                + "  overrides:\n    - modules: [lm_head]\n      scheme: int4\n";
            var d = Single(yaml, SpecDiagnosticIds.GroupSizeDoesNotDivideK);
            Assert.Contains("N = 1001", d.Message);
            Assert.Contains("divisible by 8", d.Message);
            Assert.DoesNotContain("group_size that divides", d.Message);
        }

        [Fact]
        public void Explicit_unsupported_head_dim_is_GC0012_at_head_dim()
        {
            string yaml = MinimalWith("  hidden_size: 256\n", "  hidden_size: 384\n  head_dim: 96\n");
            var d = Single(yaml, SpecDiagnosticIds.UnsupportedHeadDim);
            AssertAt(d, yaml, "head_dim: 96", "96");
        }

        [Fact]
        public void A_byte_size_without_a_unit_is_GC0041()
        {
            string yaml = TestSpecs.Minimal + "limits:\n  gpu_memory_budget: 16\n";
            var d = Single(yaml, SpecDiagnosticIds.BadByteSize);
            Assert.Contains("with a unit", d.Message);
        }

        [Fact]
        public void Kv_block_size_out_of_range_states_the_real_rule()
        {
            string yaml = TestSpecs.Minimal + "kv_cache:\n  block_size: 4096\n";
            var d = Single(yaml, SpecDiagnosticIds.OutOfRange);
            Assert.Contains("8, 16, 32, 64, 128 or 256", d.Message);
        }

        // ---------------------------------------------------------------- GC0022 shadowed override

        [Fact]
        public void Override_fully_replaced_by_a_later_one_is_a_GC0022_warning_and_the_spec_stays_valid()
        {
            string yaml = TestSpecs.Minimal +
                "  overrides:\n" +
                "    - modules: [q_proj]\n" +
                "      layers: 1-2\n" +
                "      scheme: int4\n" +
                "    - modules: [q_proj, k_proj]\n" +
                "      scheme: fp8_e4m3\n";
            var result = TestSpecs.Parse(yaml);
            var d = Assert.Single(result.Diagnostics);
            Assert.Equal(SpecDiagnosticIds.ShadowedOverride, d.Id);
            Assert.Equal(SpecSeverity.Warning, d.Severity);
            Assert.False(result.HasErrors);
            Assert.NotNull(result.Spec);
            Assert.Contains("quantization.overrides[0] never applies", d.Message);
            AssertAt(d, yaml, "- modules: [q_proj]", "modules");
            Assert.StartsWith("test.yaml:" + d.Location.StartLine + ":", d.ToString());
            Assert.Contains("warning GC0022", d.ToString());
            Assert.Equal(QuantMethod.Fp8E4M3, result.Spec!.Quantization.For(ModuleKind.QProj, 1).Method);
        }

        [Fact]
        public void Override_that_still_wins_some_layer_is_not_shadowed()
        {
            string yaml = TestSpecs.Minimal +
                "  overrides:\n" +
                "    - modules: [q_proj]\n" +
                "      layers: 0-2\n" +
                "      scheme: int4\n" +
                "    - modules: [q_proj]\n" +
                "      layers: 1-3\n" +
                "      scheme: fp8_e4m3\n";
            var result = TestSpecs.Parse(yaml);
            Assert.Empty(result.Diagnostics);
        }

        // ---------------------------------------------------------------- GC0023 scheme not allowed for module

        [Fact]
        public void Int4_embed_tokens_is_GC0023_saying_what_it_may_use()
        {
            string yaml = TestSpecs.Minimal + "  overrides:\n    - modules: [embed_tokens]\n      scheme: int4\n";
            var d = Single(yaml, SpecDiagnosticIds.SchemeNotAllowedForModule);
            Assert.Contains("embed_tokens cannot be int4", d.Message);
            Assert.Contains("use fp16/bf16 or fp8_e4m3", d.Message);
            AssertAt(d, yaml, "scheme: int4", "int4");
        }

        [Fact]
        public void Tied_lm_head_with_a_scheme_other_than_embed_tokens_is_GC0023()
        {
            string yaml = MinimalWith("  vocab_size: 1000\n", "  vocab_size: 1000\n  tie_word_embeddings: true\n")
                + "  overrides:\n    - modules: [lm_head]\n      scheme: fp8_e4m3\n";
            var d = Single(yaml, SpecDiagnosticIds.SchemeNotAllowedForModule);
            Assert.Contains("lm_head is tied to embed_tokens (tie_word_embeddings: true)", d.Message);
            Assert.Contains("drop the lm_head override or give both the same scheme", d.Message);
            AssertAt(d, yaml, "scheme: fp8_e4m3", "fp8_e4m3");
        }

        [Fact]
        public void Tied_lm_head_follows_embed_tokens()
        {
            string yaml = MinimalWith("  vocab_size: 1000\n", "  vocab_size: 1000\n  tie_word_embeddings: true\n")
                + "  overrides:\n    - modules: [embed_tokens]\n      scheme: fp8_e4m3\n";
            var result = TestSpecs.Parse(yaml);
            Assert.Empty(result.Diagnostics);
            Assert.Equal(QuantMethod.Fp8E4M3, result.Spec!.Quantization.For(ModuleKind.LmHead, 0).Method);
            Assert.Equal(result.Spec.Quantization.EmbedTokens, result.Spec.Quantization.LmHead);
        }

        [Fact]
        public void Fp8_embed_tokens_with_activation_scaling_is_GC0023()
        {
            string yaml = TestSpecs.Minimal +
                "  overrides:\n    - modules: [embed_tokens]\n      scheme: fp8_e4m3\n      activation_scale: dynamic\n";
            var d = Single(yaml, SpecDiagnosticIds.SchemeNotAllowedForModule);
            Assert.Contains("activation_scale: none", d.Message);
            AssertAt(d, yaml, "scheme: fp8_e4m3", "fp8_e4m3");
        }

        // ---------------------------------------------------------------- GC0024 option not applicable

        [Fact]
        public void Group_size_on_fp8_is_GC0024_at_the_key()
        {
            string yaml = MinimalWithQuantization("quantization:\n  default:\n    scheme: fp8_e4m3\n    group_size: 128\n");
            var d = Single(yaml, SpecDiagnosticIds.OptionNotApplicable);
            Assert.Contains("'group_size' applies to int4 only; scheme here is fp8_e4m3", d.Message);
            AssertAt(d, yaml, "group_size: 128", "group_size");
        }

        [Fact]
        public void Weight_scale_on_int4_is_GC0024()
        {
            string yaml = MinimalWithQuantization("quantization:\n  default:\n    scheme: int4\n    weight_scale: per_tensor\n");
            var d = Single(yaml, SpecDiagnosticIds.OptionNotApplicable);
            Assert.Contains("'weight_scale' applies to fp8_e4m3 only; scheme here is int4", d.Message);
            AssertAt(d, yaml, "weight_scale:", "weight_scale");
        }

        [Fact]
        public void Kv_cache_scale_on_an_fp16_cache_is_GC0024()
        {
            string yaml = TestSpecs.Minimal + "kv_cache:\n  dtype: fp16\n  scale: per_head\n";
            var d = Single(yaml, SpecDiagnosticIds.OptionNotApplicable);
            Assert.Contains("'kv_cache.scale' applies to FP8 caches only; the cache dtype is fp16", d.Message);
            AssertAt(d, yaml, "scale: per_head", "scale");
        }

        [Fact]
        public void Kv_cache_scale_on_an_fp8_cache_is_accepted()
        {
            var result = TestSpecs.Parse(TestSpecs.Minimal + "kv_cache:\n  dtype: fp8_e4m3\n  scale: per_head\n");
            Assert.Empty(result.Diagnostics);
            Assert.Equal(KvScaleGranularity.PerHead, result.Spec!.KvCache.Scale);
            Assert.True(result.Spec.KvCache.IsFp8);
        }

        [Fact]
        public void Awq_with_desc_act_is_GC0024_at_the_value()
        {
            string yaml = MinimalWithQuantization("quantization:\n  default:\n    scheme: int4\n    format: awq\n    desc_act: true\n");
            var d = Single(yaml, SpecDiagnosticIds.OptionNotApplicable);
            Assert.Contains("AWQ has no act-order", d.Message);
            Assert.Contains("needs format: gptq", d.Message);
            AssertAt(d, yaml, "desc_act: true", "true");
        }

        [Fact]
        public void Awq_with_symmetric_true_is_GC0024()
        {
            string yaml = MinimalWithQuantization("quantization:\n  default:\n    scheme: int4\n    format: awq\n    symmetric: true\n");
            var d = Single(yaml, SpecDiagnosticIds.OptionNotApplicable);
            Assert.Contains("AWQ checkpoints store zero points", d.Message);
            AssertAt(d, yaml, "symmetric: true", "true");
        }

        [Fact]
        public void Layers_on_an_embed_tokens_override_is_GC0024()
        {
            string yaml = TestSpecs.Minimal + "  overrides:\n    - modules: [embed_tokens]\n      layers: 0-1\n      scheme: fp16\n";
            var d = Single(yaml, SpecDiagnosticIds.OptionNotApplicable);
            Assert.Contains("'layers' applies to decoder-layer modules", d.Message);
            AssertAt(d, yaml, "layers: 0-1", "layers");
        }

        // ---------------------------------------------------------------- GC0025 dense dtype mismatch

        [Fact]
        public void Fp16_dense_weights_in_a_bf16_model_are_GC0025()
        {
            string yaml = MinimalWith("model:\n", "model:\n  dtype: bf16\n");
            var all = TestSpecs.Expect(yaml, SpecDiagnosticIds.WeightDTypeMismatch);
            Assert.All(all, d =>
            {
                Assert.Contains("is fp16 but the activations are bf16", d.Message);
                Assert.Contains("dense weights use the activation dtype (bf16) or a quantized scheme", d.Message);
                AssertAt(d, yaml, "default: fp16", "fp16");
            });
            Assert.Contains(all, d => d.Message.StartsWith("q_proj ", StringComparison.Ordinal));
        }

        [Fact]
        public void Fp16_kv_cache_in_a_bf16_model_is_GC0025()
        {
            string yaml = MinimalWith("model:\n", "model:\n  dtype: bf16\n")
                .Replace("  default: fp16\n", "  default: bf16\n", StringComparison.Ordinal)
                + "kv_cache:\n  dtype: fp16\n";
            var d = Single(yaml, SpecDiagnosticIds.WeightDTypeMismatch);
            Assert.Contains("'kv_cache.dtype' fp16 differs from the activation dtype bf16", d.Message);
            AssertAt(d, yaml, "  dtype: fp16", "fp16");
        }

        [Fact]
        public void Bf16_model_with_bf16_weights_defaults_its_kv_cache_to_bf16()
        {
            string yaml = MinimalWith("model:\n", "model:\n  dtype: bfloat16\n")
                .Replace("  default: fp16\n", "  default: bf16\n", StringComparison.Ordinal);
            var result = TestSpecs.Parse(yaml);
            Assert.Empty(result.Diagnostics);
            Assert.Equal(GraphCompiler.Common.DType.BF16, result.Spec!.KvCache.DType);
            Assert.Equal(QuantScheme.Bf16, result.Spec.Quantization.For(ModuleKind.EmbedTokens, 0));
        }

        [Fact]
        public void Hoppers_default_prefill_tiles_take_128_keys_three_deep_with_a_2_byte_cache_and_64_four_deep_with_fp8()
        {
            // FP8's widened pairs would not fit three stages of 128 keys: the default must pick by the cache dtype.
            var fp16 = TestSpecs.Parse(TestSpecs.Minimal).Spec!.Tiles.For(GpuArch.Sm90).PrefillAttention;
            Assert.Equal(new PrefillAttentionTiles(128, 128, 12, 3, AttentionMma.WgmmaWarpSpecialized), fp16);
            var fp8 = TestSpecs.Parse(TestSpecs.Minimal + "kv_cache:\n  dtype: fp8_e4m3\n").Spec!.Tiles.For(GpuArch.Sm90).PrefillAttention;
            Assert.Equal(new PrefillAttentionTiles(128, 64, 12, 4, AttentionMma.WgmmaWarpSpecialized), fp8);
            Assert.Equal(new PrefillAttentionTiles(128, 64, 4, 2), TestSpecs.Parse(TestSpecs.Minimal).Spec!.Tiles.For(GpuArch.Sm80).PrefillAttention);
        }

        // ---------------------------------------------------------------- GC0026 group size vs K

        [Fact]
        public void Group_size_not_dividing_K_is_GC0026_at_group_size()
        {
            // down_proj's K is intermediate_size 864 = 6 × 128 + 96.
            string yaml = MinimalWith("  intermediate_size: 768\n", "  intermediate_size: 864\n")
                .Replace("quantization:\n  default: fp16\n", "quantization:\n  default:\n    scheme: int4\n    group_size: 128\n", StringComparison.Ordinal);
            var d = Single(yaml, SpecDiagnosticIds.GroupSizeDoesNotDivideK);
            Assert.Contains("down_proj has K = 864", d.Message);
            Assert.Contains("group_size 128", d.Message);
            Assert.Contains("Use a group_size that divides 864, or -1", d.Message);
            AssertAt(d, yaml, "group_size: 128", "128");
        }

        [Fact]
        public void Group_size_minus_one_takes_one_group_per_channel_for_any_K()
        {
            string yaml = MinimalWith("  intermediate_size: 768\n", "  intermediate_size: 864\n")
                .Replace("quantization:\n  default: fp16\n", "quantization:\n  default:\n    scheme: int4\n    group_size: -1\n", StringComparison.Ordinal);
            var result = TestSpecs.Parse(yaml);
            Assert.Empty(result.Diagnostics);
            var down = result.Spec!.Quantization.For(ModuleKind.DownProj, 3);
            Assert.Equal(-1, down.GroupSize);
            Assert.Equal(864, down.GroupSizeFor(864));
        }

        // ---------------------------------------------------------------- GC0040 / GC0041 limits

        [Fact]
        public void Both_gpu_memory_utilization_and_budget_is_GC0040_at_the_budget()
        {
            string yaml = TestSpecs.Minimal + "limits:\n  gpu_memory_utilization: 0.8\n  gpu_memory_budget: 16GiB\n";
            var d = Single(yaml, SpecDiagnosticIds.LimitsInconsistent);
            Assert.Contains("set either 'gpu_memory_utilization'", d.Message);
            Assert.Contains("not both", d.Message);
            AssertAt(d, yaml, "gpu_memory_budget:", "gpu_memory_budget");
        }

        [Fact]
        public void Max_input_len_above_max_seq_len_is_GC0040()
        {
            string yaml = TestSpecs.Minimal + "limits:\n  max_seq_len: 256\n  max_input_len: 300\n";
            var d = Single(yaml, SpecDiagnosticIds.LimitsInconsistent);
            Assert.Contains("'limits.max_input_len' 300 exceeds 'limits.max_seq_len' 256", d.Message);
            AssertAt(d, yaml, "max_input_len: 300", "300");
        }

        [Fact]
        public void Max_num_batched_tokens_below_max_num_seqs_is_GC0040()
        {
            string yaml = TestSpecs.Minimal + "limits:\n  max_num_seqs: 64\n  max_num_batched_tokens: 32\n";
            var d = Single(yaml, SpecDiagnosticIds.LimitsInconsistent);
            Assert.Contains("'limits.max_num_batched_tokens' 32 is below 'limits.max_num_seqs' 64", d.Message);
            AssertAt(d, yaml, "max_num_batched_tokens: 32", "32");
        }

        [Fact]
        public void Max_seq_len_above_max_position_embeddings_is_GC0040()
        {
            string yaml = TestSpecs.Minimal + "limits:\n  max_seq_len: 1024\n";
            var d = Single(yaml, SpecDiagnosticIds.LimitsInconsistent);
            Assert.Contains("'limits.max_seq_len' 1024 exceeds 'model.max_position_embeddings' 512", d.Message);
            Assert.Contains("lower max_seq_len", d.Message);
            AssertAt(d, yaml, "max_seq_len: 1024", "1024");
        }

        [Fact]
        public void Limits_default_from_the_model_when_left_out()
        {
            var result = TestSpecs.Parse(TestSpecs.Minimal);
            var limits = result.Spec!.Limits;
            Assert.Equal(512, limits.MaxSeqLen);
            Assert.Equal(512, limits.MaxInputLen);
            Assert.Null(limits.GpuMemoryBudget);
        }

        [Theory]
        [InlineData("lots")]
        [InlineData("-4GB")]
        [InlineData("16GiBs")]
        [InlineData("0B")]
        public void Unparsable_byte_size_is_GC0041_showing_accepted_units(string value)
        {
            string yaml = TestSpecs.Minimal + $"limits:\n  gpu_memory_budget: {value}\n";
            var d = Single(yaml, SpecDiagnosticIds.BadByteSize);
            Assert.Contains($"'limits.gpu_memory_budget' is '{value}'", d.Message);
            Assert.Contains("KiB, MiB, GiB, TiB", d.Message);
            AssertAt(d, yaml, "gpu_memory_budget:", value);
        }

        [Theory]
        [InlineData("16GiB", 16L << 30)]
        [InlineData("80 GB", 80_000_000_000L)]
        [InlineData("1.5 gib", 3L << 29)]
        public void Byte_sizes_with_units_are_read(string value, long bytes)
        {
            var result = TestSpecs.Parse(TestSpecs.Minimal + $"limits:\n  gpu_memory_budget: {value}\n");
            Assert.Empty(result.Diagnostics);
            Assert.Equal(bytes, result.Spec!.Limits.GpuMemoryBudget);
        }

        // ---------------------------------------------------------------- GC0050 – GC0054 tiles

        [Fact]
        public void Unknown_gpu_arch_sm_75_is_GC0050_suggesting_a_known_one()
        {
            string yaml = TestSpecs.Minimal + "tiles:\n  sm_75:\n    elementwise: { threads: 128 }\n";
            var d = Single(yaml, SpecDiagnosticIds.UnknownGpuArch);
            Assert.Contains("unknown GPU architecture 'sm_75'", d.Message);
            Assert.Contains("did you mean 'sm_", d.Message);
            Assert.Contains("Known: sm_80, sm_86, sm_89, sm_90", d.Message);
            AssertAt(d, yaml, "sm_75:", "sm_75");
        }

        [Fact]
        public void Gemm_block_n_not_a_multiple_of_16_is_GC0051_at_block_n()
        {
            string yaml = TestSpecs.Minimal + "tiles:\n  sm_90:\n    gemm_dense_decode: { block_m: 16, block_n: 24, warps: 1 }\n";
            var d = Single(yaml, SpecDiagnosticIds.TileMmaShape);
            Assert.Contains("sm_90 gemm_dense_decode: block_n 24 must be a multiple of 16", d.Message);
            AssertAt(d, yaml, "gemm_dense_decode:", "24");
        }

        [Fact]
        public void Prefill_block_m_not_a_multiple_of_16_times_warps_is_GC0051()
        {
            string yaml = TestSpecs.Minimal + "tiles:\n  sm_90:\n    prefill_attention:\n      block_m: 64\n      warps: 8\n";
            var d = Single(yaml, SpecDiagnosticIds.TileMmaShape);
            Assert.Contains("block_m 64 must be a multiple of 16 × warps = 128", d.Message);
            AssertAt(d, yaml, "block_m: 64", "64");
        }

        [Fact]
        public void Prefill_mma_wgmma_is_read_for_sm_90_and_its_default_is_mma_sync()
        {
            var spec = TestSpecs.Parse(TestSpecs.Minimal + "tiles:\n  sm_90:\n    prefill_attention: { block_m: 128, block_n: 64, warps: 8, stages: 4, mma: wgmma }\n");
            Assert.Empty(spec.Diagnostics);
            var p = spec.Spec!.Tiles.For(GpuArch.Sm90).PrefillAttention;
            Assert.Equal(new PrefillAttentionTiles(128, 64, 8, 4, AttentionMma.Wgmma), p);
            Assert.True(p.Ring);
            Assert.Equal("{ block_m: 128, block_n: 64, warps: 8, stages: 4, mma: wgmma }", p.FlowMapping());
            Assert.Equal(AttentionMma.MmaSync, spec.Spec.Tiles.For(GpuArch.Sm80).PrefillAttention.Mma);
        }

        [Fact]
        public void Prefill_q_operand_registers_is_read_with_wgmma_and_written_back_by_the_tuner()
        {
            var spec = TestSpecs.Parse(TestSpecs.Minimal + "tiles:\n  sm_90:\n    prefill_attention: { block_m: 128, block_n: 64, warps: 12, stages: 4, mma: wgmma_ws, q_operand: registers }\n");
            Assert.Empty(spec.Diagnostics);
            var p = spec.Spec!.Tiles.For(GpuArch.Sm90).PrefillAttention;
            Assert.Equal(new PrefillAttentionTiles(128, 64, 12, 4, AttentionMma.WgmmaWarpSpecialized, QInRegisters: true), p);
            Assert.Equal("{ block_m: 128, block_n: 64, warps: 12, stages: 4, mma: wgmma_ws, q_operand: registers }", p.FlowMapping());
            var shared = TestSpecs.Parse(TestSpecs.Minimal + "tiles:\n  sm_90:\n    prefill_attention: { block_m: 128, block_n: 64, warps: 8, stages: 4, mma: wgmma, q_operand: shared }\n");
            Assert.False(shared.Spec!.Tiles.For(GpuArch.Sm90).PrefillAttention.QInRegisters);
        }

        [Fact]
        public void Prefill_q_operand_registers_without_wgmma_is_GC0051_at_q_operand()
        {
            string yaml = TestSpecs.Minimal + "tiles:\n  sm_90:\n    prefill_attention:\n      block_m: 128\n      warps: 4\n      q_operand: registers\n";
            var d = Single(yaml, SpecDiagnosticIds.TileMmaShape);
            Assert.Contains("q_operand: registers is wgmma's choice", d.Message);
            Assert.Contains("use 'mma: wgmma' or 'mma: wgmma_ws'", d.Message);
            AssertAt(d, yaml, "q_operand: registers", "registers");
            // Below sm_90 there is no wgmma to ask for.
            var ampere = Single(yaml.Replace("sm_90:", "sm_80:"), SpecDiagnosticIds.TileMmaShape);
            Assert.Contains("sm_80 has mma.sync only: leave 'q_operand' out", ampere.Message);
        }

        [Fact]
        public void Prefill_q_operand_other_than_shared_or_registers_names_both()
        {
            var spec = TestSpecs.Parse(TestSpecs.Minimal + "tiles:\n  sm_90:\n    prefill_attention: { block_m: 128, block_n: 64, warps: 8, stages: 4, mma: wgmma, q_operand: global }\n");
            var d = Assert.Single(spec.Diagnostics);
            Assert.Contains("shared", d.Message);
            Assert.Contains("registers", d.Message);
        }

        [Fact]
        public void Prefill_mma_wgmma_on_sm_80_is_GC0051_at_mma()
        {
            string yaml = TestSpecs.Minimal + "tiles:\n  sm_80:\n    prefill_attention:\n      block_m: 128\n      warps: 8\n      mma: wgmma\n";
            var d = Single(yaml, SpecDiagnosticIds.TileMmaShape);
            Assert.Contains("wgmma is Hopper's (sm_90a); sm_80 has mma.sync only", d.Message);
            AssertAt(d, yaml, "mma: wgmma", "wgmma");
        }

        [Fact]
        public void Prefill_wgmma_block_m_other_than_16_per_warp_is_GC0051_at_block_m()
        {
            string yaml = TestSpecs.Minimal + "tiles:\n  sm_90:\n    prefill_attention:\n      block_m: 128\n      warps: 4\n      mma: wgmma\n";
            var d = Single(yaml, SpecDiagnosticIds.TileMmaShape);
            Assert.Contains("each warpgroup (4 warps) 64 query rows: block_m 128 must be 16 × warps", d.Message);
            AssertAt(d, yaml, "block_m: 128", "128");
        }

        [Fact]
        public void Prefill_mma_wgmma_ws_gives_a_loading_warpgroup_and_the_registers_it_leaves_to_the_others()
        {
            var spec = TestSpecs.Parse(TestSpecs.Minimal + "tiles:\n  sm_90:\n    prefill_attention: { block_m: 128, block_n: 64, warps: 12, stages: 4, mma: wgmma_ws }\n");
            Assert.Empty(spec.Diagnostics);
            var p = spec.Spec!.Tiles.For(GpuArch.Sm90).PrefillAttention;
            Assert.Equal(new PrefillAttentionTiles(128, 64, 12, 4, AttentionMma.WgmmaWarpSpecialized), p);
            Assert.Equal("{ block_m: 128, block_n: 64, warps: 12, stages: 4, mma: wgmma_ws }", p.FlowMapping());
            Assert.Equal(8, p.ComputeWarps);
            // 384 threads launch with 168 registers each; the loaders keep 48, so 256 computing threads get 224.
            Assert.Equal(224, p.ConsumerRegisters);
            Assert.False(p.Ring);
        }

        [Fact]
        public void Prefill_wgmma_ws_block_m_other_than_16_per_computing_warp_is_GC0051_at_block_m()
        {
            string yaml = TestSpecs.Minimal + "tiles:\n  sm_90:\n    prefill_attention:\n      block_m: 128\n      warps: 8\n      mma: wgmma_ws\n";
            var d = Single(yaml, SpecDiagnosticIds.TileMmaShape);
            Assert.Contains("block_m 128 must be 16 × (warps − 4)", d.Message);
            AssertAt(d, yaml, "block_m: 128", "128");
        }

        [Fact]
        public void Prefill_wgmma_ws_tiles_past_a_computing_threads_registers_are_GC0053()
        {
            // 256-key tiles at head_dim 64: O, S and the previous tile's P come to about 272 registers; 12 warps leave 224.
            string yaml = TestSpecs.Minimal + "tiles:\n  sm_90:\n    prefill_attention: { block_m: 128, block_n: 256, warps: 12, stages: 2, mma: wgmma_ws }\n";
            var all = TestSpecs.Expect(yaml, SpecDiagnosticIds.TileRegisters);
            Assert.Contains(all, d => d.Message.Contains("a computing thread needs about 272 registers; with 12 warps it gets 224", StringComparison.Ordinal));
            // 128-key tiles (FlashAttention-3's) fit: P is made as soon as the softmax is done, so S's registers serve the next tile.
            Assert.Empty(TestSpecs.Parse(TestSpecs.Minimal + "tiles:\n  sm_90:\n    prefill_attention: { block_m: 128, block_n: 128, warps: 12, stages: 2, mma: wgmma_ws }\n").Diagnostics);
        }

        [Fact]
        public void Prefill_mma_of_an_unknown_instruction_names_the_choices()
        {
            string yaml = TestSpecs.Minimal + "tiles:\n  sm_90:\n    prefill_attention: { mma: tcgen05 }\n";
            var result = TestSpecs.Parse(yaml);
            var d = Assert.Single(result.Diagnostics);
            Assert.Contains("mma_sync", d.Message);
            Assert.Contains("wgmma", d.Message);
            AssertAt(d, yaml, "tcgen05", "tcgen05");
        }

        [Fact]
        public void Prefill_tiles_whose_block_needs_more_registers_than_an_sm_has_are_GC0053()
        {
            // wgmma 192 × 128 (the minimal spec's head_dim is 64): S, P and O, about 176 registers for each of 384 threads,
            // under a thread's 255 but over the SM's 65536.
            string yaml = TestSpecs.Minimal + "tiles:\n  sm_90:\n    prefill_attention: { block_m: 192, block_n: 128, warps: 12, stages: 3, mma: wgmma }\n";
            var all = TestSpecs.Expect(yaml, SpecDiagnosticIds.TileRegisters);
            Assert.Contains(all, d => d.Message.Contains("12 warps of about", StringComparison.Ordinal) && d.Message.Contains("an SM has 65536", StringComparison.Ordinal));
        }

        [Fact]
        public void Gemm_tile_that_warps_cannot_share_evenly_is_GC0051_at_warps()
        {
            // 16×128×64: one warp per 64-column tile (2), one per 16-row tile (1), and the other warps split each K step's
            // 4 slices; 6 warps leave 3 to split 4 slices.
            string yaml = TestSpecs.Minimal + "tiles:\n  sm_90:\n    gemm_dense_decode:\n      block_n: 128\n      warps: 6\n";
            var d = Single(yaml, SpecDiagnosticIds.TileMmaShape);
            Assert.Contains("leave 3 warps to split each K step of 4 16-deep MMA steps, which they cannot share evenly", d.Message);
            AssertAt(d, yaml, "warps: 6", "6");
        }

        [Fact]
        public void Gemm_block_n_not_a_multiple_of_64_is_GC0051_at_block_n()
        {
            string yaml = TestSpecs.Minimal + "tiles:\n  sm_90:\n    gemm_dense_decode: { block_m: 16, block_n: 96, warps: 1 }\n";
            var d = Single(yaml, SpecDiagnosticIds.TileMmaShape);
            Assert.Contains("block_n 96 must be a multiple of 64: a warp owns whole 64-column weight tiles", d.Message);
            AssertAt(d, yaml, "gemm_dense_decode:", "96");
        }

        [Fact]
        public void Elementwise_threads_not_a_multiple_of_32_is_GC0051()
        {
            string yaml = TestSpecs.Minimal + "tiles:\n  sm_80:\n    elementwise:\n      threads: 48\n";
            var d = Single(yaml, SpecDiagnosticIds.TileMmaShape);
            Assert.Contains("threads 48 must be a multiple of 32, at most 1024", d.Message);
            AssertAt(d, yaml, "threads: 48", "48");
        }

        [Fact]
        public void Tile_over_the_arch_shared_memory_is_GC0052_naming_the_limit()
        {
            // 4 stages × (128×(64+8)×2 + 64×128×2) = 139264 bytes (activation rows padded by 16 bytes): fits sm_90 (232448), not sm_86 (101376).
            string yaml = TestSpecs.Minimal +
                "tiles:\n" +
                "  sm_90:\n" +
                "    gemm_dense_prefill: { block_m: 128, block_n: 128, block_k: 64, warps: 8, stages: 4 }\n" +
                "  sm_86:\n" +
                "    gemm_dense_prefill:\n" +
                "      block_m: 128\n" +
                "      block_n: 128\n" +
                "      block_k: 64\n" +
                "      warps: 8\n" +
                "      stages: 4\n";
            var d = Single(yaml, SpecDiagnosticIds.TileSharedMemory);
            Assert.Contains("sm_86 gemm_dense_prefill: needs 139264 bytes of shared memory per block", d.Message);
            Assert.Contains("allows 101376", d.Message);
            Assert.Contains("Lower stages or the block sizes", d.Message);
            AssertAt(d, yaml, "      stages: 4", "4");
        }

        [Fact]
        public void Tile_needing_more_than_255_registers_is_GC0053()
        {
            // 64×256 fp32 accumulators over 2 warps = 256 per thread, + 64 = 320.
            string yaml = TestSpecs.Minimal + "tiles:\n  sm_90:\n    gemm_dense_decode:\n      block_m: 64\n      block_n: 256\n      warps: 2\n";
            var d = Single(yaml, SpecDiagnosticIds.TileRegisters);
            Assert.Contains("needs about 320 registers per thread", d.Message);
            Assert.Contains("a thread has 255", d.Message);
            AssertAt(d, yaml, "block_n: 256", "256");
        }

        [Fact]
        public void Block_k_not_dividing_K_is_GC0054_at_block_k()
        {
            string yaml = TestSpecs.Minimal + "tiles:\n  sm_90:\n    gemm_dense_decode:\n      block_k: 96\n";
            var all = TestSpecs.Expect(yaml, SpecDiagnosticIds.TileDoesNotDivideShape);
            Assert.Contains(all, d => d.Message.Contains("block_k 96 does not divide K = 256 of q_proj", StringComparison.Ordinal));
            Assert.All(all, d => AssertAt(d, yaml, "block_k: 96", "96"));
        }

        [Fact]
        public void Decode_block_n_and_kv_block_size_not_dividing_each_other_is_GC0054()
        {
            string yaml = TestSpecs.Minimal + "kv_cache:\n  block_size: 32\ntiles:\n  sm_90:\n    decode_attention:\n      block_n: 48\n";
            var d = Single(yaml, SpecDiagnosticIds.TileDoesNotDivideShape);
            Assert.Contains("block_n 48 and kv_cache.block_size 32 must divide one another", d.Message);
            AssertAt(d, yaml, "block_n: 48", "48");
        }

        [Fact]
        public void Decode_splits_past_a_cluster_on_sm_90_are_GC0007_at_splits()
        {
            string yaml = TestSpecs.Minimal + "tiles:\n  sm_90:\n    decode_attention:\n      splits: 32\n  sm_89:\n    decode_attention:\n      splits: 32\n";
            var d = Single(yaml, SpecDiagnosticIds.OutOfRange);   // sm_89 merges through global memory: any count
            Assert.Contains("splits 32: on sm_90 a (sequence, KV head)'s splits merge in one thread-block cluster, at most 16 CTAs", d.Message);
            AssertAt(d, yaml, "splits: 32", "32");
        }

        [Fact]
        public void Decode_block_n_that_does_not_give_each_warp_whole_mma_steps_is_GC0051()
        {
            string yaml = TestSpecs.Minimal + "tiles:\n  sm_90:\n    decode_attention:\n      block_n: 32\n      warps: 4\n";
            var d = Single(yaml, SpecDiagnosticIds.TileMmaShape);
            Assert.Contains("block_n 32 must be a multiple of 16 × warps = 64", d.Message);
            AssertAt(d, yaml, "block_n: 32", "32");
        }

        [Fact]
        public void Decode_block_n_whose_warp_tile_spans_more_than_32_cache_blocks_is_GC0054()
        {
            // 272 positions a warp over pages of 8 tokens: 34 block ids, one a lane of a warp of 32.
            string yaml = TestSpecs.Minimal + "kv_cache:\n  block_size: 8\ntiles:\n  sm_90:\n    decode_attention:\n      block_n: 272\n      warps: 1\n      stages: 1\n";
            var d = Single(yaml, SpecDiagnosticIds.TileDoesNotDivideShape);
            Assert.Contains("a warp's 272 positions (block_n 272 / 1 warps) lie in 34 cache blocks of 8 tokens; at most 32", d.Message);
            AssertAt(d, yaml, "block_n: 272", "272");
        }

        [Fact]
        public void Wide_decode_tiles_take_decode_attention_values_for_the_keys_they_leave_out()
        {
            string yaml = TestSpecs.Minimal + "tiles:\n  sm_90:\n    decode_attention: { block_n: 64, warps: 4, stages: 3 }\n    decode_attention_wide: { block_n: 128, warps: 8 }\n";
            var result = TestSpecs.Parse(yaml);
            Assert.Empty(result.Diagnostics);
            Assert.Equal(new DecodeAttentionTiles(128, 8, 3, 0), result.Spec!.Tiles.For(GpuArch.Sm90).DecodeAttentionWide);
            Assert.Null(result.Spec.Tiles.For(GpuArch.Sm89).DecodeAttentionWide);   // only where the spec names them
        }

        [Fact]
        public void Wide_decode_tiles_are_checked_as_decode_tiles_at_their_own_keys()
        {
            // The narrow tiles are valid; the wide twin's block_n gives its 8 warps 8 positions each: GC0051 at its block_n.
            string yaml = TestSpecs.Minimal + "tiles:\n  sm_90:\n    decode_attention_wide:\n      block_n: 64\n      warps: 8\n";
            var d = Single(yaml, SpecDiagnosticIds.TileMmaShape);
            Assert.StartsWith("sm_90 decode_attention_wide: block_n 64 must be a multiple of 16 × warps = 128", d.Message);
            AssertAt(d, yaml, "block_n: 64", "64");
        }

        [Fact]
        public void Split_k_not_dividing_K_is_GC0054_at_split_k()
        {
            // K = 256 in 64-wide steps is 4 steps; 3 splits cannot share them.
            string yaml = TestSpecs.Minimal + "tiles:\n  sm_90:\n    gemm_dense_prefill:\n      block_k: 64\n      split_k: 3\n";
            var all = TestSpecs.Expect(yaml, SpecDiagnosticIds.TileDoesNotDivideShape);
            Assert.Contains(all, d => d.Message.Contains("split_k 3 × block_k 64 does not divide K = 256", StringComparison.Ordinal));
            Assert.All(all, d => AssertAt(d, yaml, "split_k: 3", "3"));
        }

        [Fact]
        public void Tiles_from_the_spec_replace_only_the_keys_they_name()
        {
            var result = TestSpecs.Parse(TestSpecs.Minimal + "tiles:\n  sm_90:\n    gemm_dense_decode: { block_n: 64 }\n");
            Assert.Empty(result.Diagnostics);
            var sm90 = result.Spec!.Tiles.For(GpuArch.Sm90);
            Assert.True(sm90.FromSpec);
            Assert.Equal(64, sm90.GemmDenseDecode.BlockN);
            Assert.Equal(16, sm90.GemmDenseDecode.BlockM);
            Assert.False(result.Spec.Tiles.For(GpuArch.Sm80).FromSpec);
        }

        // ---------------------------------------------------------------- cross-cutting behaviour

        [Fact]
        public void Independent_errors_are_all_reported_in_file_order()
        {
            string yaml = MinimalWith("name: test-model\n", "name: Test Model\n")
                + "kv_cache:\n  dtype: fp9\n"
                + "limits:\n  gpu_memory_budget: lots\n";
            var result = TestSpecs.Parse(yaml);
            Assert.Null(result.Spec);
            Assert.Equal(
                new[] { SpecDiagnosticIds.InvalidName, SpecDiagnosticIds.InvalidEnum, SpecDiagnosticIds.BadByteSize },
                result.Diagnostics.Select(d => d.Id).ToArray());
            Assert.Equal(
                new[] { TestSpecs.LineOf(yaml, "name: Test Model"), TestSpecs.LineOf(yaml, "dtype: fp9"), TestSpecs.LineOf(yaml, "gpu_memory_budget: lots") },
                result.Diagnostics.Select(d => d.Location.StartLine).ToArray());
        }

        [Fact]
        public void Errors_in_several_model_keys_are_all_reported()
        {
            string yaml = MinimalWith("  hidden_size: 256\n", "  hidden_size: -8\n")
                .Replace("  num_hidden_layers: 4\n", "  num_hidden_layers: 100000\n", StringComparison.Ordinal)
                .Replace("  vocab_size: 1000\n", "  vocab_size: many\n", StringComparison.Ordinal);
            var result = TestSpecs.Parse(yaml);
            Assert.Equal(
                new[] { SpecDiagnosticIds.OutOfRange, SpecDiagnosticIds.OutOfRange, SpecDiagnosticIds.WrongType },
                result.Diagnostics.Select(d => d.Id).ToArray());
            Assert.Equal(
                new[] { TestSpecs.LineOf(yaml, "hidden_size: -8"), TestSpecs.LineOf(yaml, "num_hidden_layers: 100000"), TestSpecs.LineOf(yaml, "vocab_size: many") },
                result.Diagnostics.Select(d => d.Location.StartLine).ToArray());
        }

        [Fact]
        public void Diagnostic_text_is_file_line_col_severity_id_message()
        {
            string yaml = TestSpecs.Minimal + "kv_cache:\n  dtype: fp9\n";
            var d = Single(yaml, SpecDiagnosticIds.InvalidEnum);
            int line = TestSpecs.LineOf(yaml, "dtype: fp9");
            Assert.StartsWith($"test.yaml:{line}:10: error GC0006: 'kv_cache.dtype' is 'fp9'", d.ToString());
        }

        [Fact]
        public void Later_override_wins_over_an_earlier_one_on_overlapping_layers()
        {
            string yaml = TestSpecs.Minimal +
                "  overrides:\n" +
                "    - modules: [q_proj, k_proj]\n" +
                "      layers: 0-2\n" +
                "      scheme: int4\n" +
                "      group_size: 64\n" +
                "    - modules: [q_proj]\n" +
                "      layers: [2, 3]\n" +
                "      scheme: fp8_e4m3\n" +
                "    - modules: [lm_head]\n" +
                "      scheme: fp8_e4m3\n" +
                "      weight_scale: per_tensor\n";
            var result = TestSpecs.Parse(yaml);
            Assert.Empty(result.Diagnostics);
            var q = result.Spec!.Quantization;

            var int4 = new QuantScheme(QuantMethod.Int4, Int4Format.Gptq, 64, Symmetric: true);
            Assert.Equal(int4, q.For(ModuleKind.QProj, 0));
            Assert.Equal(int4, q.For(ModuleKind.QProj, 1));
            Assert.Equal(QuantMethod.Fp8E4M3, q.For(ModuleKind.QProj, 2).Method);   // overlap: the later override wins
            Assert.Equal(QuantMethod.Fp8E4M3, q.For(ModuleKind.QProj, 3).Method);
            Assert.Equal(int4, q.For(ModuleKind.KProj, 2));                          // not named by the later override
            Assert.Equal(QuantScheme.Fp16, q.For(ModuleKind.KProj, 3));              // outside 0-2: the default
            Assert.Equal(QuantScheme.Fp16, q.For(ModuleKind.VProj, 0));
            Assert.Equal(QuantScheme.Fp16, q.For(ModuleKind.EmbedTokens, 0));        // activation dtype
            Assert.Equal(new QuantScheme(QuantMethod.Fp8E4M3, WeightScale: ScaleGranularity.PerTensor), q.For(ModuleKind.LmHead, 0));
        }

        // ---------------------------------------------------------------- GC0007 / GC0042 parallel

        [Fact]
        public void Parallel_tensor_splits_a_model_whose_kv_heads_and_mlp_divide()
        {
            var result = TestSpecs.Parse(TestSpecs.Minimal + "parallel:\n  tensor: 2\n");
            Assert.False(result.HasErrors, string.Join("\n", result.Diagnostics));
            Assert.Equal(2, result.Spec!.Parallel.Tensor);
            Assert.Equal(1, TestSpecs.Parse(TestSpecs.Minimal).Spec!.Parallel.Tensor);
        }

        [Theory]
        [InlineData(3)]
        [InlineData(16)]
        [InlineData(0)]
        public void Parallel_tensor_other_than_1_2_4_or_8_is_GC0007(int tensor)
        {
            string yaml = TestSpecs.Minimal + $"parallel:\n  tensor: {tensor}\n";
            var d = Single(yaml, SpecDiagnosticIds.OutOfRange);
            Assert.Contains($"'parallel.tensor' is {tensor}; allowed: 1, 2, 4, 8", d.Message);
            AssertAt(d, yaml, $"tensor: {tensor}", tensor.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        [Fact]
        public void Parallel_tensor_past_the_kv_heads_is_GC0042_naming_the_sizes_that_split()
        {
            string yaml = TestSpecs.Minimal + "parallel:\n  tensor: 4\n";
            var d = Single(yaml, SpecDiagnosticIds.ParallelDoesNotDivide);
            Assert.Contains("num_key_value_heads 2 does not divide by 4", d.Message);
            Assert.Contains("use 1, 2", d.Message);
            AssertAt(d, yaml, "tensor: 4", "4");
        }

        [Fact]
        public void Parallel_tensor_cutting_an_int4_group_of_a_row_split_module_is_GC0042()
        {
            // down_proj's K is intermediate_size: 768 is 384 a GPU at tensor 2, three groups of 128; 896 is 448, three and a half.
            string Yaml(int intermediate) => MinimalWithQuantization("quantization:\n  default: fp16\n  overrides:\n    - modules: [down_proj]\n" +
                "      scheme: int4\n      group_size: 128\n").Replace("intermediate_size: 768", $"intermediate_size: {intermediate}") + "parallel:\n  tensor: 2\n";
            AssertValid(Yaml(768));
            var d = Single(Yaml(896), SpecDiagnosticIds.ParallelDoesNotDivide);
            Assert.Contains("down_proj (int4 gptq g128", d.Message);
            Assert.Contains("448 input features a rank, not whole groups of 128", d.Message);
        }

        [Fact]
        public void Parallel_tensor_whose_share_of_the_model_breaks_a_tile_rule_is_GC0042_at_parallel_tensor()
        {
            // block_k 256 divides every K of the whole model (256 and 768) but not a GPU's 128 (o_proj) or 384 (down_proj) at tensor 2.
            string Yaml(int tensor) => TestSpecs.Minimal + "tiles:\n  sm_90:\n    gemm_dense_decode: { block_k: 256, stages: 2 }\n" + $"parallel:\n  tensor: {tensor}\n";
            AssertValid(Yaml(1));
            var all = TestSpecs.Expect(Yaml(2), SpecDiagnosticIds.ParallelDoesNotDivide);
            Assert.Equal(2, all.Length);
            Assert.All(all, d => Assert.Contains("each GPU's share (2 query / 1 KV heads, intermediate 384) breaks a tile rule", d.Message));
            Assert.Contains("block_k 256 does not divide K = 128 of o_proj", all[0].Message);
            Assert.Contains("block_k 256 does not divide K = 384 of down_proj", all[1].Message);
            Assert.All(all, d => AssertAt(d, Yaml(2), "tensor: 2", "2"));
        }

        [Fact]
        public void Parallel_tensor_with_act_order_on_a_row_split_module_is_GC0042()
        {
            string yaml = MinimalWithQuantization("quantization:\n  default: fp16\n  overrides:\n    - modules: [o_proj]\n" +
                "      scheme: int4\n      group_size: 128\n      desc_act: true\n") + "parallel:\n  tensor: 2\n";
            var d = Single(yaml, SpecDiagnosticIds.ParallelDoesNotDivide);
            Assert.Contains("o_proj (int4 gptq g128", d.Message);
            Assert.Contains("act-order (desc_act)", d.Message);
        }
    }
}
