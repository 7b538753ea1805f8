using System;
using System.Linq;
using GraphCompiler.Runtime.Checkpoints;

namespace GraphCompiler.Tests.Checkpoints
{
    public class CheckpointTests
    {
        private static readonly long[] Vector = { 4 };

        /// <summary>Two shards: layers 0-1 and 10 in the first, layer 2 and the norm in the second, and an index listing them.</summary>
        private static void WriteSharded(TempFolder dir, string? indexOverride = null)
        {
            new SafetensorsWriter().Metadata("format", "pt")
                .Add("model.layers.10.input_layernorm.weight", "F16", Vector)
                .Add("model.layers.0.input_layernorm.weight", "F16", Vector)
                .Add("model.layers.1.input_layernorm.weight", "F16", Vector)
                .Write(dir.File("model-00001-of-00002.safetensors"));
            new SafetensorsWriter().Metadata("format", "pt")
                .Add("model.layers.2.input_layernorm.weight", "F16", Vector)
                .Add("model.norm.weight", "F16", Vector)
                .Write(dir.File("model-00002-of-00002.safetensors"));
            dir.Write(Checkpoint.IndexFile, indexOverride ?? @"{
  ""metadata"": { ""total_size"": 40 },
  ""weight_map"": {
    ""model.layers.0.input_layernorm.weight"": ""model-00001-of-00002.safetensors"",
    ""model.layers.1.input_layernorm.weight"": ""model-00001-of-00002.safetensors"",
    ""model.layers.10.input_layernorm.weight"": ""model-00001-of-00002.safetensors"",
    ""model.layers.2.input_layernorm.weight"": ""model-00002-of-00002.safetensors"",
    ""model.norm.weight"": ""model-00002-of-00002.safetensors""
  }
}");
        }

        private static string Rejected(string path, params string[] fragments)
        {
            var e = Assert.Throws<CheckpointException>(() => Checkpoint.Open(path).Dispose());
            foreach (var f in fragments) Assert.Contains(f, e.Message);
            return e.Message;
        }

        [Fact]
        public void Sharded_checkpoint_opens_through_its_index_with_tensors_in_natural_order()
        {
            using var dir = new TempFolder();
            WriteSharded(dir);
            using var checkpoint = Checkpoint.Open(dir.Path);
            Assert.Equal(dir.File(Checkpoint.IndexFile), checkpoint.IndexPath);
            Assert.Equal(2, checkpoint.Shards.Count);
            Assert.Equal("40", checkpoint.IndexMetadata["total_size"]);
            Assert.Equal(40, checkpoint.TotalBytes);
            Assert.Equal(new[] { 0, 1, 2, 10 }, checkpoint.Tensors.Take(4).Select(t => TensorNames.TryParseLayer(t.Name, out int l, out _) ? l : -1));
            Assert.Equal("model.norm.weight", checkpoint.Tensors[4].Name);
            Assert.True(checkpoint.TryGet("model.layers.2.input_layernorm.weight", out var t2));
            Assert.EndsWith("model-00002-of-00002.safetensors", t2.File.FilePath);
            Assert.Equal(QuantizationFamily.Plain, checkpoint.Quantization.Family);
            Assert.Equal("F16", checkpoint.Quantization.WeightDType);

            // The index file itself opens the same checkpoint.
            using var byIndex = Checkpoint.Open(dir.File(Checkpoint.IndexFile));
            Assert.Equal(5, byIndex.Tensors.Count);
        }

        [Fact]
        public void Missing_shard_file_is_named_with_the_tensors_it_should_hold()
        {
            using var dir = new TempFolder();
            WriteSharded(dir);
            System.IO.File.Delete(dir.File("model-00002-of-00002.safetensors"));
            Rejected(dir.Path, dir.File(Checkpoint.IndexFile), "shard 'model-00002-of-00002.safetensors' does not exist",
                "places 2 tensor(s) in it", "model.layers.2.input_layernorm.weight");
        }

        [Fact]
        public void Tensor_listed_in_the_index_but_absent_from_its_shard()
        {
            using var dir = new TempFolder();
            WriteSharded(dir, @"{ ""weight_map"": {
    ""model.layers.0.input_layernorm.weight"": ""model-00001-of-00002.safetensors"",
    ""model.layers.1.input_layernorm.weight"": ""model-00001-of-00002.safetensors"",
    ""model.layers.10.input_layernorm.weight"": ""model-00001-of-00002.safetensors"",
    ""model.layers.2.input_layernorm.weight"": ""model-00002-of-00002.safetensors"",
    ""model.layers.3.input_layernorm.weight"": ""model-00002-of-00002.safetensors"",
    ""model.norm.weight"": ""model-00002-of-00002.safetensors"" } }");
            Rejected(dir.Path, "1 problem(s)",
                "'model.layers.3.input_layernorm.weight' is listed in shard 'model-00002-of-00002.safetensors', which does not hold it");
        }

        [Fact]
        public void Shard_holding_a_tensor_the_index_does_not_list()
        {
            using var dir = new TempFolder();
            WriteSharded(dir, @"{ ""weight_map"": {
    ""model.layers.0.input_layernorm.weight"": ""model-00001-of-00002.safetensors"",
    ""model.layers.1.input_layernorm.weight"": ""model-00001-of-00002.safetensors"",
    ""model.layers.10.input_layernorm.weight"": ""model-00001-of-00002.safetensors"",
    ""model.layers.2.input_layernorm.weight"": ""model-00002-of-00002.safetensors"" } }");
            Rejected(dir.Path, "shard 'model-00002-of-00002.safetensors' holds 'model.norm.weight', which the index does not list");
        }

        [Fact]
        public void Tensor_in_another_shard_than_the_index_says()
        {
            using var dir = new TempFolder();
            WriteSharded(dir, @"{ ""weight_map"": {
    ""model.layers.0.input_layernorm.weight"": ""model-00001-of-00002.safetensors"",
    ""model.layers.1.input_layernorm.weight"": ""model-00001-of-00002.safetensors"",
    ""model.layers.10.input_layernorm.weight"": ""model-00001-of-00002.safetensors"",
    ""model.layers.2.input_layernorm.weight"": ""model-00002-of-00002.safetensors"",
    ""model.norm.weight"": ""model-00001-of-00002.safetensors"" } }");
            Rejected(dir.Path, "2 problem(s)",
                "'model.norm.weight' is listed in shard 'model-00001-of-00002.safetensors', which does not hold it",
                "shard 'model-00002-of-00002.safetensors' holds 'model.norm.weight', which the index places in 'model-00001-of-00002.safetensors'");
        }

        [Fact]
        public void Index_whose_shard_is_a_path_outside_the_folder()
        {
            using var dir = new TempFolder();
            WriteSharded(dir, @"{ ""weight_map"": { ""model.norm.weight"": ""../model-00002-of-00002.safetensors"" } }");
            Rejected(dir.Path, "'model.norm.weight'", "a shard must be a file name in the index's folder");
        }

        [Fact]
        public void Index_with_a_duplicate_tensor()
        {
            using var dir = new TempFolder();
            WriteSharded(dir, @"{ ""weight_map"": { ""model.norm.weight"": ""a.safetensors"", ""model.norm.weight"": ""b.safetensors"" } }");
            Rejected(dir.Path, dir.File(Checkpoint.IndexFile), "'weight_map.model.norm.weight' appears twice");
        }

        [Fact]
        public void Folder_without_a_checkpoint_or_with_unindexed_shards()
        {
            using var dir = new TempFolder();
            Rejected(dir.Path, "no model.safetensors, no model.safetensors.index.json");
            WriteSharded(dir);
            System.IO.File.Delete(dir.File(Checkpoint.IndexFile));
            Rejected(dir.Path, "2 .safetensors files", "model-00001-of-00002.safetensors");
        }

        private static CheckpointQuantization Detect(string? config, string? gptqConfig = null, Action<SafetensorsWriter>? tensors = null)
        {
            using var dir = new TempFolder();
            var writer = new SafetensorsWriter();
            if (tensors != null) tensors(writer);
            else writer.Add("model.norm.weight", "BF16", Vector).Add("lm_head.weight", "BF16", new long[] { 8, 4 });
            writer.Write(dir.File(Checkpoint.SingleFile));
            if (config != null) dir.Write(CheckpointQuantization.ConfigFile, config);
            if (gptqConfig != null) dir.Write(CheckpointQuantization.GptqConfigFile, gptqConfig);
            using var checkpoint = Checkpoint.Open(dir.Path);
            return checkpoint.Quantization;
        }

        [Fact]
        public void Plain_checkpoint_reports_the_weight_dtype()
        {
            var q = Detect(@"{ ""model_type"": ""llama"", ""torch_dtype"": ""bfloat16"" }");
            Assert.Equal(QuantizationFamily.Plain, q.Family);
            Assert.Equal("BF16", q.WeightDType);
            Assert.StartsWith("plain BF16", q.Describe());
        }

        [Fact]
        public void Gptq_from_config_json_quantization_config()
        {
            var q = Detect(@"{ ""quantization_config"": { ""quant_method"": ""gptq"", ""bits"": 4, ""group_size"": 128, ""desc_act"": true, ""sym"": false } }");
            Assert.Equal(QuantizationFamily.Gptq, q.Family);
            Assert.Equal((4, 128, true, false), (q.Bits, q.GroupSize, q.DescAct, q.Symmetric));
            Assert.Equal("config.json quantization_config", q.Source);
        }

        [Fact]
        public void Gptq_from_quantize_config_json()
        {
            var q = Detect(null, @"{ ""bits"": 4, ""group_size"": -1, ""desc_act"": false, ""sym"": true, ""checkpoint_format"": ""gptq"" }");
            Assert.Equal(QuantizationFamily.Gptq, q.Family);
            Assert.Equal((4, -1, false, true, "gptq"), (q.Bits, q.GroupSize, q.DescAct, q.Symmetric, q.Version));
            Assert.Equal("quantize_config.json", q.Source);
        }

        [Fact]
        public void Awq_gemm_from_config_json()
        {
            var q = Detect(@"{ ""quantization_config"": { ""quant_method"": ""awq"", ""bits"": 4, ""group_size"": 128, ""version"": ""GEMM"", ""zero_point"": true } }");
            Assert.Equal(QuantizationFamily.Awq, q.Family);
            Assert.Equal((4, 128, false, "gemm"), (q.Bits, q.GroupSize, q.Symmetric, q.Version));
        }

        [Fact]
        public void Fp8_from_quant_method_from_compressed_tensors_and_from_the_tensors()
        {
            Assert.Equal(QuantizationFamily.Fp8, Detect(@"{ ""quantization_config"": { ""quant_method"": ""fp8"", ""activation_scheme"": ""dynamic"" } }").Family);
            Assert.Equal(QuantizationFamily.Fp8, Detect(@"{ ""quantization_config"": { ""quant_method"": ""compressed-tensors"",
                ""config_groups"": { ""group_0"": { ""targets"": [""Linear""], ""weights"": { ""num_bits"": 8, ""type"": ""float"", ""strategy"": ""channel"" } } } } }").Family);
            var fromTensors = Detect(null, tensors: w => w.Add("model.layers.0.mlp.up_proj.weight", "F8_E4M3", new long[] { 8, 4 })
                .Add("model.layers.0.mlp.up_proj.weight_scale", "F32", new long[] { 8, 1 }));
            Assert.Equal(QuantizationFamily.Fp8, fromTensors.Family);
            Assert.Contains("weight_scale", fromTensors.Source);
        }

        [Fact]
        public void Unsupported_methods_are_named()
        {
            var bnb = Detect(@"{ ""quantization_config"": { ""quant_method"": ""bitsandbytes"", ""load_in_4bit"": true } }");
            Assert.Equal(QuantizationFamily.Unsupported, bnb.Family);
            Assert.Contains("bitsandbytes", bnb.Describe());
            var intWeights = Detect(@"{ ""quantization_config"": { ""quant_method"": ""compressed-tensors"",
                ""config_groups"": { ""group_0"": { ""weights"": { ""num_bits"": 4, ""type"": ""int"" } } } } }");
            Assert.Equal(QuantizationFamily.Unsupported, intWeights.Family);
            var packed = Detect(null, tensors: w => w.Add("model.layers.0.mlp.up_proj.qweight", "I32", new long[] { 1, 8 }));
            Assert.Equal(QuantizationFamily.Unsupported, packed.Family);
            Assert.Contains("quantize_config.json", packed.Source);
        }

        [Fact]
        public void Malformed_config_values_name_the_file_and_key()
        {
            var e = Assert.Throws<CheckpointException>(() => Detect(@"{ ""quantization_config"": { ""quant_method"": ""gptq"", ""bits"": ""four"" } }"));
            Assert.Contains("config.json: 'quantization_config.bits' is \"four\"; it must be an integer", e.Message);
            var json = Assert.Throws<CheckpointException>(() => Detect(@"{ ""quantization_config"": "));
            Assert.Contains("config.json: not valid JSON", json.Message);
        }
    }
}
