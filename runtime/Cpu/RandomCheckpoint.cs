using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Compilation;
using GraphCompiler.Planning;
using GraphCompiler.Runtime.Reference;
using GraphCompiler.Spec;

namespace GraphCompiler.Runtime.Cpu
{
    /// <summary>
    /// A full checkpoint for a compiled model's manifest with realistic random values, for running without real weights:
    /// linear and embedding weights ~ N(0, 0.02²) as floats, then stored in the module's scheme the way a quantizer would
    /// (dense: rounded to the activation dtype; FP8: e4m3 with a per-channel or per-tensor amax/448 scale; INT4: round-to-
    /// nearest groups from <see cref="QuantizedPacking.QuantizeInt4Rtn"/>, packed as GPTQ or AWQ, with a random act-order
    /// permutation when desc_act); RMSNorm weights ~ N(1, 0.1²). The same model and seed give the same bytes.
    /// </summary>
    public static class RandomCheckpoint
    {
        private const double WeightStd = 0.02;
        private const double NormStd = 0.1;

        /// <summary>Static W8A8 input_scale: random checkpoints are uncalibrated, so e4m3's range covers |x| ≤ 4, about
        /// four standard deviations of an RMS-normalised input.</summary>
        private const float StaticInputScale = 4.0f / Fp8E4M3.MaxFinite;

        /// <summary>One weight set a rank of the model's split (<see cref="Checkpoints.RankSlices.Split"/> of one random checkpoint).</summary>
        public static IReadOnlyList<CheckpointTensors> ForRanks(CompiledModel model, int seed)
        {
            var whole = Create(model, seed);
            return model.Spec.Parallel.Tensor == 1 ? new[] { whole }
                : Enumerable.Range(0, model.Spec.Parallel.Tensor).Select(r => Checkpoints.RankSlices.Split(whole, model, r)).ToList();
        }

        public static CheckpointTensors Create(CompiledModel model, int seed)
        {
            var rng = new Random(seed);
            var checkpoint = new CheckpointTensors();
            var m = model.Spec.Model;
            var act = ActivationCodec.For(m.DType);
            // The manifest lists each module's tensors together, in load order; generate per module, then store under the
            // manifest's names, shapes and dtypes so the two cannot drift apart.
            foreach (var group in Consecutive(model.Manifest))
            {
                var first = group[0];
                if (first.Module == "norm")
                {
                    checkpoint.Add(first.Name, first.Shape.ToArray(), first.DType, Bytes(Normal(rng, m.HiddenSize, 1.0, NormStd).Select(act.Store).ToArray()));
                    continue;
                }
                var module = ModuleOf(first.Module);
                var (k, n) = m.LinearShape(module);
                var scheme = model.Spec.Quantization.For(module, Math.Max(first.Layer, 0));
                // Act-order needs an input-row order; a random one stands in for GPTQ's Hessian-based one.
                int[]? order = scheme is { Method: QuantMethod.Int4, DescAct: true } ? Permutation(rng, k) : null;
                var bySuffix = ModuleQuantizer.Quantize(Normal(rng, k * n, 0.0, WeightStd), k, n, scheme, act, order, StaticInputScale);
                string prefix = module.HfPrefix(first.Layer) + ".";
                foreach (var t in group)
                {
                    var (dtype, data) = bySuffix[t.Name.Substring(prefix.Length)];
                    if (dtype != t.DType) throw new InvalidOperationException($"generated {t.Name} as {dtype}, the manifest says {t.DType}");
                    checkpoint.Add(t.Name, t.Shape.ToArray(), t.DType, data);
                }
            }
            return checkpoint;
        }

        internal static ModuleKind ModuleOf(string specName) =>
            Enum.GetValues<ModuleKind>().First(x => x.SpecName() == specName);

        private static IEnumerable<List<WeightTensor>> Consecutive(IReadOnlyList<WeightTensor> manifest)
        {
            var group = new List<WeightTensor>();
            foreach (var t in manifest)
            {
                if (group.Count > 0 && (group[0].Module != t.Module || group[0].Layer != t.Layer || t.Module == "norm"))
                {
                    yield return group;
                    group = new List<WeightTensor>();
                }
                group.Add(t);
            }
            if (group.Count > 0) yield return group;
        }

        /// <summary>Box–Muller normals; System.Random with a seed is the same sequence on every platform.</summary>
        private static float[] Normal(Random rng, int count, double mean, double std)
        {
            var result = new float[count];
            for (int i = 0; i < count; i += 2)
            {
                double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
                double r = Math.Sqrt(-2.0 * Math.Log(u1)), a = 2.0 * Math.PI * u2;
                result[i] = (float)(mean + std * r * Math.Cos(a));
                if (i + 1 < count) result[i + 1] = (float)(mean + std * r * Math.Sin(a));
            }
            return result;
        }

        private static int[] Permutation(Random rng, int k)
        {
            var a = Enumerable.Range(0, k).ToArray();
            for (int i = a.Length - 1; i > 0; i--)
            {
                int j = rng.Next(i + 1);
                (a[i], a[j]) = (a[j], a[i]);
            }
            return a;
        }

        private static byte[] Bytes<T>(T[] values) where T : unmanaged =>
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
    }
}
