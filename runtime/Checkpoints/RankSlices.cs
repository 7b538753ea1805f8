using System;
using System.Linq;
using System.Runtime.InteropServices;
using GraphCompiler.Common;
using GraphCompiler.Compilation;
using GraphCompiler.Planning;
using GraphCompiler.Runtime.Cpu;

namespace GraphCompiler.Runtime.Checkpoints
{
    /// <summary>
    /// Reads one tensor-parallel rank's part of a checkpoint tensor straight from the mapped file: rank r of t takes the
    /// r-th of t equal slices along the one dimension where its manifest's shape (<see cref="Planning.TensorShards"/>) is a
    /// t-th of the whole model's, and the whole tensor where the shapes agree (norms, embeddings, row-split scales). Only
    /// the slice's bytes are touched — a contiguous range for a split first dimension ([N, K] by N, GPTQ's qweight by K/8),
    /// one run a row otherwise — so a host loading its ranks never reads the rest of the checkpoint. GPTQ's g_idx, sliced
    /// by input rows, is renumbered from the rank's first group.
    /// </summary>
    public static class RankSlices
    {
        /// <summary><paramref name="length"/> bytes of a tensor from byte <paramref name="start"/>.</summary>
        public delegate ReadOnlySpan<byte> ByteRange(long start, int length);

        /// <summary>Rank <paramref name="rank"/>'s tensors of a checkpoint held in memory (random weights, say), as <see cref="CompiledModel.Rank"/>'s manifest names them.</summary>
        public static CheckpointTensors Split(CheckpointTensors checkpoint, CompiledModel model, int rank)
        {
            int ranks = model.Spec.Parallel.Tensor;
            var whole = model.Manifest.ToDictionary(w => w.Name);
            var result = new CheckpointTensors();
            foreach (var w in model.Rank.Manifest)
            {
                var data = checkpoint[w.Name].Data;
                result.Add(w.Name, w.Shape.ToArray(), w.DType, Read((start, length) => data.AsSpan(checked((int)start), length), whole[w.Name], w, rank, ranks));
            }
            return result;
        }

        /// <param name="bytes">The tensor as the checkpoint holds it (a mapped file's <see cref="SafetensorsTensor.Slice"/>, checked
        /// against <paramref name="whole"/> by <see cref="ManifestCheck"/>), read only where the rank's part lies.</param>
        public static byte[] Read(ByteRange bytes, WeightTensor whole, WeightTensor part, int rank, int ranks)
        {
            int axis = SplitAxis(whole, part, ranks);
            if (axis < 0) return bytes(0, checked((int)whole.Bytes)).ToArray();

            int size = whole.DType.SizeInBytes();
            long outer = 1, inner = size;
            for (int d = 0; d < axis; d++) outer *= whole.Shape[d];
            for (int d = axis + 1; d < whole.Shape.Count; d++) inner *= whole.Shape[d];
            long run = part.Shape[axis] * inner, stride = whole.Shape[axis] * inner;
            var result = new byte[checked((int)(outer * run))];
            for (long o = 0; o < outer; o++)
                bytes(o * stride + rank * run, (int)run).CopyTo(result.AsSpan((int)(o * run), (int)run));
            if (whole.Name.EndsWith(".g_idx", StringComparison.Ordinal)) Renumber(MemoryMarshal.Cast<byte, int>(result.AsSpan()), whole.Name);
            return result;
        }

        /// <summary>The dimension a rank holds a t-th of, or −1 when it holds the whole tensor.</summary>
        private static int SplitAxis(WeightTensor whole, WeightTensor part, int ranks)
        {
            if (whole.Shape.Count != part.Shape.Count || whole.DType != part.DType)
                throw new ArgumentException($"{whole.Name}: the rank's {part.DType} {part.ShapeText} is no slice of {whole.DType} {whole.ShapeText}");
            var split = Enumerable.Range(0, whole.Shape.Count).Where(d => whole.Shape[d] != part.Shape[d]).ToList();
            if (split.Count == 0) return -1;
            if (split.Count > 1 || part.Shape[split[0]] * ranks != whole.Shape[split[0]])
                throw new ArgumentException($"{whole.Name}: the rank's {part.ShapeText} is not a 1/{ranks} slice of {whole.ShapeText} along one dimension");
            return split[0];
        }

        /// <summary>A row-split GPTQ module has no act-order (the spec refuses it), so its groups run in order: the slice's
        /// first group becomes group 0.</summary>
        private static void Renumber(Span<int> groups, string name)
        {
            int first = groups.Length == 0 ? 0 : groups[0];
            for (int i = 0; i < groups.Length; i++)
            {
                if (groups[i] < first) throw new CheckpointException($"{name}: the rank's rows point at group {groups[i]}, before its first group {first}; act-order checkpoints cannot be split by input rows");
                groups[i] -= first;
            }
        }
    }
}
