using System.Linq;

namespace GraphCompiler.Spec
{
    /// <summary>Reads `parallel:`; each problem <see cref="ParallelSpec.Problems"/> finds is an error at `parallel.tensor`, and
    /// so is each tile rule one GPU's share of the model (<see cref="Planning.TensorShards.RankShape"/>) breaks.</summary>
    internal static class ParallelParser
    {
        public static readonly string[] Keys = { "tensor" };

        public static ParallelSpec? Read(SpecDiagnosticSink sink, MappingView? p, ModelShape? model, QuantizationSpec? quantization, KvCacheSpec? kv, TileTable? tiles)
        {
            if (p is null) return ParallelSpec.Single;
            int? tensor = p.Has("tensor") ? p.Int("tensor", int.MinValue, int.MaxValue) : 1;
            if (tensor is int t && !ParallelSpec.TensorSizes.Contains(t))
            {
                sink.Error(SpecDiagnosticIds.OutOfRange, $"'parallel.tensor' is {t}; allowed: {string.Join(", ", ParallelSpec.TensorSizes)} (the GPUs of one host; across hosts see specs/README.md)",
                    p.ValueLocation("tensor"));
                return null;
            }
            if (tensor is null || model is null || quantization is null) return null;
            var problems = ParallelSpec.Problems(tensor.Value, model, quantization, kv, tiles);
            foreach (var problem in problems)
                sink.Error(SpecDiagnosticIds.ParallelDoesNotDivide, $"'parallel.tensor' {tensor} does not split the model: {problem}", p.ValueLocation("tensor"));
            return problems.Count == 0 ? new ParallelSpec(tensor.Value) : null;
        }
    }
}
