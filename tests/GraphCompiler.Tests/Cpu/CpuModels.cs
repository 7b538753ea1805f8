using System;
using System.Collections.Concurrent;
using System.Linq;
using GraphCompiler.Compilation;
using GraphCompiler.Runtime.Cpu;

namespace GraphCompiler.Tests.Cpu
{
    /// <summary>A compiled spec with its random checkpoint and CPU model.</summary>
    public sealed record LoadedModel(CompiledModel Compiled, CheckpointTensors Checkpoint, CpuModel Cpu);

    /// <summary>Compiles and loads each spec once for the whole CPU test suite (random weights take a moment to make).</summary>
    public sealed class CpuModels
    {
        public const int Seed = 1234;

        /// <summary>
        /// Reaches what the shipped specs do not: q, k and v in three schemes (three GEMMs writing slices of qkv), gate and
        /// up apart (slices of gate_up), act-order GPTQ, static and dynamic W8A8, an FP8 per-tensor embedding tied to
        /// lm_head (W8A16), per-column INT4 groups, an FP8 e4m3 KV cache.
        /// </summary>
        public const string MixedYaml = @"name: cpu-mixed
model:
  dtype: fp16
  hidden_size: 256
  intermediate_size: 512
  num_hidden_layers: 2
  num_attention_heads: 4
  num_key_value_heads: 2
  vocab_size: 1024
  max_position_embeddings: 256
  tie_word_embeddings: true
quantization:
  default: fp16
  overrides:
    - modules: [embed_tokens]
      scheme: fp8_e4m3
      weight_scale: per_tensor
    - modules: [q_proj]
      scheme: int4
      format: gptq
      group_size: 64
      symmetric: true
      desc_act: true
    - modules: [v_proj]
      scheme: fp8_e4m3
      activation_scale: static
    - modules: [o_proj]
      scheme: fp8_e4m3
      activation_scale: dynamic
    - modules: [gate_proj]
      scheme: int4
      format: awq
      group_size: 32
    - modules: [down_proj]
      layers: 1
      scheme: int4
      format: gptq
      group_size: -1
kv_cache:
  dtype: fp8_e4m3
";

        /// <summary>cpu-mixed's weights with fp16 activations throughout: no W8A8, an fp16 KV cache.</summary>
        public static readonly string MixedW8A16Yaml = MixedYaml.Replace("name: cpu-mixed", "name: cpu-mixed-w8a16", StringComparison.Ordinal)
            .Replace("      activation_scale: static\n", "", StringComparison.Ordinal).Replace("      activation_scale: dynamic\n", "", StringComparison.Ordinal)
            .Replace("kv_cache:\n  dtype: fp8_e4m3", "kv_cache:\n  dtype: fp16", StringComparison.Ordinal);

        private readonly ConcurrentDictionary<string, LoadedModel> _loaded = new ConcurrentDictionary<string, LoadedModel>();

        /// <summary>A shipped or fixture spec by name, or "cpu-mixed" / "cpu-mixed-w8a16".</summary>
        public LoadedModel Get(string name) => _loaded.GetOrAdd(name, n => Load(n switch
        {
            "cpu-mixed" => CompileText(n, MixedYaml),
            "cpu-mixed-w8a16" => CompileText(n, MixedW8A16Yaml),
            _ => TestSpecs.Compile(n),
        }));

        public static CompiledModel CompileText(string name, string yaml)
        {
            var (parse, model) = ModelCompiler.Compile(name + ".yaml", yaml);
            Assert.True(model != null, string.Join("\n", parse.Diagnostics));
            return model!;
        }

        public static LoadedModel Load(CompiledModel model)
        {
            var checkpoint = RandomCheckpoint.Create(model, Seed);
            return new LoadedModel(model, checkpoint, new CpuModel(model, checkpoint));
        }

        /// <summary>Token ids drawn from a seed, within the vocabulary.</summary>
        public static int[] Prompt(CompiledModel model, int length, int seed = 7)
        {
            var rng = new Random(seed);
            return Enumerable.Range(0, length).Select(_ => rng.Next(model.Spec.Model.VocabSize)).ToArray();
        }

        /// <summary>‖a − b‖ / ‖b‖.</summary>
        public static double RelativeL2(float[] a, double[] b)
        {
            double diff = 0, norm = 0;
            for (int i = 0; i < b.Length; i++)
            {
                diff += (a[i] - b[i]) * (a[i] - b[i]);
                norm += b[i] * b[i];
            }
            return Math.Sqrt(diff / norm);
        }

        public static double RelativeL2(float[] a, float[] b) => RelativeL2(a, b.Select(x => (double)x).ToArray());
    }
}
