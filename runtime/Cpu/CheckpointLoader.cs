using System;
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
    /// every finding, located in the spec, and nothing is loaded.
    /// </summary>
    public static class CheckpointLoader
    {
        public sealed record LoadReport(int QuantizedModules, TimeSpan QuantizeTime);

        public static CheckpointTensors Load(Checkpoint checkpoint, CompiledModel model, SpecSourceMap sources) => Load(checkpoint, model, sources, out _);

        public static CheckpointTensors Load(Checkpoint checkpoint, CompiledModel model, SpecSourceMap sources, out LoadReport report)
        {
            var check = ManifestCheck.Run(checkpoint, model, sources);
            report = new LoadReport(0, TimeSpan.Zero);
            if (check.Matches) return Copy(checkpoint, model.Manifest);

            var dense = DenseTwin(model);
            if (ReferenceEquals(dense, model) || !ManifestCheck.Run(checkpoint, dense, sources).Matches)
                throw check.Mismatch(checkpoint.Path, model.Spec.Name);

            var clock = Stopwatch.StartNew();
            var m = model.Spec.Model;
            var act = ActivationCodec.For(m.DType);
            var store = new CheckpointTensors();
            int quantized = 0;
            foreach (var w in dense.Manifest)
            {
                var module = w.Module == "norm" ? (ModuleKind?)null : RandomCheckpoint.ModuleOf(w.Module);
                var scheme = module is ModuleKind mk ? model.Spec.Quantization.For(mk, Math.Max(w.Layer, 0)) : null;
                checkpoint.TryGet(w.Name, out var tensor);
                if (scheme is null || scheme.IsDense)
                {
                    CopyTensor(store, tensor, w);
                    continue;
                }
                var (k, n) = m.LinearShape(module!.Value);
                var bits = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(tensor.Span);
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
                    var target = model.Manifest.First(t => t.Name == prefix + suffix);
                    store.Add(target.Name, target.Shape.ToArray(), dtype, data);
                }
                quantized++;
            }
            report = new LoadReport(quantized, clock.Elapsed);
            return store;
        }

        private static CheckpointTensors Copy(Checkpoint checkpoint, System.Collections.Generic.IReadOnlyList<WeightTensor> manifest)
        {
            var store = new CheckpointTensors();
            foreach (var w in manifest)
            {
                checkpoint.TryGet(w.Name, out var tensor);
                CopyTensor(store, tensor, w);
            }
            return store;
        }

        /// <summary>The manifest has checked name, shape and dtype: the bytes are copied as the file holds them.</summary>
        private static void CopyTensor(CheckpointTensors store, SafetensorsTensor tensor, WeightTensor w) =>
            store.Add(w.Name, w.Shape.ToArray(), w.DType, tensor.Span.ToArray());

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
