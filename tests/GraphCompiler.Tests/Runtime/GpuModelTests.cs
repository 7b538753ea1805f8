using System;
using System.Linq;
using GraphCompiler.Compilation;
using GraphCompiler.Planning;
using GraphCompiler.Runtime.Bench;
using GraphCompiler.Runtime.Compilation;
using GraphCompiler.Runtime.Cpu;
using GraphCompiler.Runtime.Cuda;
using GraphCompiler.Runtime.Execution;
using GraphCompiler.Runtime.Memory;
using GraphCompiler.Spec;
using GraphCompiler.Tests.Cpu;

namespace GraphCompiler.Tests.Runtime
{
    public class GpuModelTests
    {
        private static CompiledModel Compile(string name) => ModelCompiler.Compile(TestSpecs.PathOf(name), TestSpecs.Text(name)).Model!;

        /// <summary>The model with random weights from <paramref name="seed"/> on this GPU and on the CPU backend.</summary>
        private static GpuAndCpu SmallOnBoth(CompiledModel model, int seed)
        {
            var checkpoint = RandomCheckpoint.Create(model, seed);
            var device = CudaDevice.Open();
            try
            {
                var kernels = new GpuKernels(device, KernelCache.Default(), device.Info.Arch);
                var gpu = GpuModel.Load(model, checkpoint, kernels, new DeviceAllocator(new MemoryLedger(4L << 30, "test")));
                return new GpuAndCpu(device, gpu, new CpuModel(model, checkpoint));
            }
            catch
            {
                device.Dispose();
                throw;
            }
        }

        private sealed record GpuAndCpu(CudaDevice Device, GpuModel Gpu, CpuModel Cpu) : IDisposable
        {
            public void Dispose()
            {
                Gpu.Dispose();
                Device.Dispose();
            }
        }

        [Fact]
        public void A_gemm_launch_writes_its_module_columns_after_the_ones_before_it_in_the_row()
        {
            var m = Compile("llama2-70b").Spec.Model;
            Graph.PlannedLaunch Launch(string modules) => new Graph.PlannedLaunch("g", Common.EquatableArray.ToEquatableArray(modules.Split('+')),
                Common.EquatableArray<string>.Empty, Common.EquatableArray<string>.Empty);
            Assert.Equal(0, Launch("q_proj+k_proj+v_proj").OutputColumn(m));
            Assert.Equal(8192, Launch("k_proj").OutputColumn(m));
            Assert.Equal(8192 + 1024, Launch("v_proj").OutputColumn(m));
            Assert.Equal(28672, Launch("up_proj").OutputColumn(m));
            Assert.Equal(0, Launch("lm_head").OutputColumn(m));
        }

        [Fact]
        public void The_memory_plan_reserves_a_split_arrival_counter_per_sequence_and_kv_head()
        {
            var model = Compile("llama2-70b");
            var slot = model.Memory.Workspace.Single(s => s.Name == "decode_split_counters");
            Assert.Equal(64L * 8 * 4, slot.Bytes);
            Assert.Equal(16, MemoryPlanner.DecodeSplitCapacity(model.Spec));
        }

        [Fact]
        public void The_end_to_end_flop_count_uses_every_gemm_weight_of_llama2_70b()
        {
            // 80 × (q, o 8192² + k, v 8192×1024 + gate, up, down 8192×28672) + lm_head 8192×32000.
            Assert.Equal(68_713_185_280L, ModelBench.GemmParameters(Compile("llama2-70b").Spec));
        }

        /// <summary>The GPU backend against the CPU reference on the small model: a ragged prefill of two prompts (one longer
        /// than a prefill step, so it is chunked) and greedy decode steps replayed as CUDA graphs.</summary>
        [GpuFact]
        public void The_gpu_backend_gives_the_cpu_backends_logits_and_greedy_tokens()
        {
            var model = Compile("small-llama");
            using var both = SmallOnBoth(model, 5);
            var (gpu, cpu) = (both.Gpu, both.Cpu);
            var a = CpuModels.Prompt(model, 9, seed: 1);
            var b = CpuModels.Prompt(model, model.Spec.Limits.MaxNumBatchedTokens + 40, seed: 2);
            IDecoderBackend[] backends = { gpu, cpu };
            var sequences = backends.Select(x => (x.NewSequence(), x.NewSequence())).ToArray();
            var prefill = backends.Select((x, i) => x.Prefill(new[] { (sequences[i].Item1, a), (sequences[i].Item2, b) })).ToArray();
            for (int s = 0; s < 2; s++) Assert.True(CpuModels.RelativeL2(prefill[0][s], prefill[1][s]) < 5e-3, $"prefill sequence {s}");
            var next = prefill[1].Select(l => GraphCompiler.Runtime.Sampling.Sampler.Argmax(l)).ToArray();
            for (int step = 0; step < 8; step++)
            {
                var logits = backends.Select((x, i) => x.Decode(new[] { (sequences[i].Item1, next[0]), (sequences[i].Item2, next[1]) })).ToArray();
                for (int s = 0; s < 2; s++)
                {
                    Assert.True(CpuModels.RelativeL2(logits[0][s], logits[1][s]) < 5e-3, $"decode step {step}, sequence {s}");
                    Assert.Equal(GraphCompiler.Runtime.Sampling.Sampler.Argmax(logits[1][s]), GraphCompiler.Runtime.Sampling.Sampler.Argmax(logits[0][s]));
                    next[s] = GraphCompiler.Runtime.Sampling.Sampler.Argmax(logits[1][s]);
                }
            }
        }

        /// <summary>A verification step on the GPU against the CPU backend: sequences bringing 8 and 3 tokens (8 is two CTAs a
        /// KV head at the small model's group of 2), every token's logits; then each rewound to part of its tokens, and a
        /// decode step from there.</summary>
        [GpuFact]
        public void A_gpu_verification_step_gives_every_token_the_cpu_backends_logits_and_rewinds()
        {
            var model = Compile("small-llama");
            using var both = SmallOnBoth(model, 6);
            var (gpu, cpu) = (both.Gpu, both.Cpu);
            var prompts = new[] { CpuModels.Prompt(model, 21, seed: 3), CpuModels.Prompt(model, 5, seed: 4) };
            var steps = new[] { new[] { 11, 12, 13, 14, 15, 16, 17, 18 }, new[] { 21, 22, 23 } };
            IDecoderBackend[] backends = { gpu, cpu };
            var sequences = backends.Select(x => new[] { x.NewSequence(), x.NewSequence() }).ToArray();
            for (int b = 0; b < 2; b++) backends[b].Prefill(new[] { (sequences[b][0], prompts[0]), (sequences[b][1], prompts[1]) });
            var verified = backends.Select((x, b) => x.Verify(new[] { (sequences[b][0], steps[0]), (sequences[b][1], steps[1]) })).ToArray();
            for (int s = 0; s < 2; s++)
                for (int t = 0; t < steps[s].Length; t++)
                    Assert.True(CpuModels.RelativeL2(verified[0][s][t], verified[1][s][t]) < 5e-3, $"sequence {s}, step token {t}");
            var decoded = backends.Select((x, b) =>
            {
                x.Rewind(sequences[b][0], prompts[0].Length + 3);
                x.Rewind(sequences[b][1], prompts[1].Length + 1);
                return x.Decode(new[] { (sequences[b][0], 7), (sequences[b][1], 9) });
            }).ToArray();
            for (int s = 0; s < 2; s++) Assert.True(CpuModels.RelativeL2(decoded[0][s], decoded[1][s]) < 5e-3, $"decode after rewind, sequence {s}");
        }
    }
}
