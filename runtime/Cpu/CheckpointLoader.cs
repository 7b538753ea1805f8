using System.Linq;
using GraphCompiler.Compilation;
using GraphCompiler.Runtime.Checkpoints;
using GraphCompiler.Spec;

namespace GraphCompiler.Runtime.Cpu
{
    /// <summary>
    /// Reads the tensors a spec's manifest names out of a safetensors checkpoint into the CPU backend's store, after
    /// checking the checkpoint against the spec: a checkpoint that does not match fails with every finding, located in
    /// the spec, and nothing is loaded.
    /// </summary>
    public static class CheckpointLoader
    {
        public static CheckpointTensors Load(Checkpoint checkpoint, CompiledModel model, SpecSourceMap sources)
        {
            var check = ManifestCheck.Run(checkpoint, model, sources);
            if (!check.Matches)
                throw new CheckpointException($"{checkpoint.Path} does not match spec {model.Spec.Name}:\n  "
                    + string.Join("\n  ", check.Findings.Select(f => f.ToString())));
            var store = new CheckpointTensors();
            foreach (var w in model.Manifest)
            {
                checkpoint.TryGet(w.Name, out var tensor);
                store.Add(w.Name, w.Shape.ToArray(), w.DType, tensor.Span.ToArray());
            }
            return store;
        }
    }
}
