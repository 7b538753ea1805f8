using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Compilation;
using GraphCompiler.Planning;
using GraphCompiler.Runtime.Checkpoints;
using GraphCompiler.Runtime.Reference;
using GraphCompiler.Spec;

namespace GraphCompiler.Runtime.Cpu
{
    /// <summary>
    /// Reads the tensors a spec's manifest names out of a safetensors checkpoint into the CPU backend's store, after
    /// checking the checkpoint against the spec. Where the spec quantizes modules the checkpoint stores dense (an fp16
    /// checkpoint under an INT4 or FP8 spec), they are quantized on load with the reference quantizer
    /// (<see cref="ModuleQuantizer"/>: round-to-nearest INT4, amax FP8). A checkpoint that matches neither way fails with
    /// every finding, located in the spec, and nothing is loaded. For a tensor-parallel spec it reads one rank's shards
    /// (<see cref="RankSlices"/>: only their bytes), named and shaped as the rank's manifest (<see cref="CompiledModel.Rank"/>).
    /// </summary>
    public static class CheckpointLoader
    {
        public sealed record LoadReport(int QuantizedModules, TimeSpan QuantizeTime);

        public static CheckpointTensors Load(Checkpoint checkpoint, CompiledModel model, SpecSourceMap sources) => Load(checkpoint, model, sources, out _);

        /// <param name="rank">Which of the spec's `parallel.tensor` GPUs the tensors are for (0 on one GPU).</param>
        public static CheckpointTensors Load(Checkpoint checkpoint, CompiledModel model, SpecSourceMap sources, out LoadReport report, int rank = 0)
        {
            int ranks = model.Spec.Parallel.Tensor;
            if (rank < 0 || rank >= ranks) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"{model.Spec.Name} is split over {ranks} GPU(s): ranks 0 .. {ranks - 1}");
            var check = ManifestCheck.Run(checkpoint, model, sources);
            report = new LoadReport(0, TimeSpan.Zero);
            if (check.Matches) return Copy(checkpoint, model.Manifest, model.Rank.Manifest, rank, ranks);

            var dense = DenseTwin(model);
            if (ReferenceEquals(dense, model) || !ManifestCheck.Run(checkpoint, dense, sources).Matches)
                throw check.Mismatch(checkpoint.Path, model.Spec.Name);

            var clock = Stopwatch.StartNew();
            var m = model.Rank.Spec.Model;
            var act = ActivationCodec.For(m.DType);
            var store = new CheckpointTensors();
            var wholeDense = dense.Manifest.ToDictionary(w => w.Name);
            int quantized = 0;
            foreach (var w in DenseTwin(model.Rank).Manifest)
            {
                var module = w.Module == "norm" ? (ModuleKind?)null : RandomCheckpoint.ModuleOf(w.Module);
                var scheme = module is ModuleKind mk ? model.Spec.Quantization.For(mk, Math.Max(w.Layer, 0)) : null;
                checkpoint.TryGet(w.Name, out var tensor);
                var bytes = RankSlices.Read(tensor.Slice, wholeDense[w.Name], w, rank, ranks);
                if (scheme is null || scheme.IsDense)
                {
                    store.Add(w.Name, w.Shape.ToArray(), w.DType, bytes);
                    continue;
                }
                var (k, n) = m.LinearShape(module!.Value);
                var bits = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(bytes);
                var floats = new float[bits.Length];
                for (int i = 0; i < floats.Length; i++) floats[i] = act.Load(bits[i]);
                string prefix = module.Value.HfPrefix(w.Layer) + ".";
                System.Collections.Generic.Dictionary<string, (DType, byte[])> tensors;
                try
                {
                    tensors = ModuleQuantizer.Quantize(floats, k, n, scheme, act, actOrder: null, staticInputScale: null);
                }
                catch (InvalidOperationException e)
                {
                    throw new CheckpointException($"{checkpoint.Path} stores {prefix}weight dense, and spec {model.Spec.Name} wants {scheme.Describe()}: {e.Message}");
                }
                foreach (var (suffix, (dtype, data)) in tensors)
                {
                    var target = model.Rank.Manifest.First(t => t.Name == prefix + suffix);
                    store.Add(target.Name, target.Shape.ToArray(), dtype, data);
                }
                quantized++;
            }
            report = new LoadReport(quantized, clock.Elapsed);
            return store;
        }

        /// <summary>
        /// Each rank's weights on demand, as <see cref="Execution.BackendSelection"/> asks for them: rank 0's are read now (they
        /// check the checkpoint against the spec before any backend opens) and handed over once, so the host lets go of them
        /// once their GPU has them; asked again (a GPU that failed, then the CPU), they are read again.
        /// </summary>
        public static Func<int, CheckpointTensors> ByRank(Func<int, CheckpointTensors> load)
        {
            CheckpointTensors? first = load(0);
            return rank => (rank == 0 ? System.Threading.Interlocked.Exchange(ref first, null) : null) ?? load(rank);
        }

        /// <summary>The manifest has checked name, shape and dtype: the bytes are copied as the file holds them (a rank's slice of them).</summary>
        private static CheckpointTensors Copy(Checkpoint checkpoint, IReadOnlyList<WeightTensor> whole, IReadOnlyList<WeightTensor> part, int rank, int ranks)
        {
            var store = new CheckpointTensors();
            var byName = whole.ToDictionary(w => w.Name);
            foreach (var w in part)
            {
                checkpoint.TryGet(w.Name, out var tensor);
                store.Add(w.Name, w.Shape.ToArray(), w.DType, RankSlices.Read(tensor.Slice, byName[w.Name], w, rank, ranks));
            }
            return store;
        }

        /// <summary>The same model with every weight in the activation dtype (the model itself when it already is).</summary>
        private static CompiledModel DenseTwin(CompiledModel model)
        {
            var q = model.Spec.Quantization;
            var act = model.Spec.Model.DType == DType.BF16 ? QuantScheme.Bf16 : QuantScheme.Fp16;
            if (q.EmbedTokens.IsDense && q.LmHead.IsDense && q.Layers.All(l => ModuleKinds.LayerLinears.All(x => l.For(x).IsDense))) return model;
            var layer = new LayerQuantization(act, act, act, act, act, act, act);
            var dense = new QuantizationSpec(act, act, Enumerable.Repeat(layer, q.Layers.Count).ToEquatableArray());
            return ModelCompiler.Compile(model.Spec with { Quantization = dense });
        }
    }
}
