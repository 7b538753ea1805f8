using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading.Tasks;
using GraphCompiler.Compilation;
using GraphCompiler.Runtime.Checkpoints;
using GraphCompiler.Runtime.Cuda;
using GraphCompiler.Runtime.Memory;

namespace GraphCompiler.Runtime.Weights
{
    /// <summary>Where a load stands: bytes done of the total and the time so far (rate and ETA follow).</summary>
    public readonly record struct LoadProgress(long BytesDone, long BytesTotal, TimeSpan Elapsed)
    {
        public double BytesPerSecond => Elapsed.TotalSeconds > 0 ? BytesDone / Elapsed.TotalSeconds : 0;
        public TimeSpan Remaining => BytesPerSecond > 0 ? TimeSpan.FromSeconds((BytesTotal - BytesDone) / BytesPerSecond) : TimeSpan.Zero;
    }

    /// <summary>The weights of a model on the GPU, one device buffer per checkpoint tensor, charged to the budget ledger.</summary>
    public sealed class DeviceWeights : IDisposable
    {
        private readonly Dictionary<string, DeviceAllocator.TrackedBuffer> _tensors = new Dictionary<string, DeviceAllocator.TrackedBuffer>(StringComparer.Ordinal);

        public IReadOnlyDictionary<string, DeviceAllocator.TrackedBuffer> Tensors => _tensors;
        public long Bytes { get; private set; }

        internal void Add(string name, DeviceAllocator.TrackedBuffer buffer)
        {
            _tensors.Add(name, buffer);
            Bytes += buffer.Buffer.Bytes;
        }

        public void Dispose()
        {
            foreach (var b in _tensors.Values) b.Dispose();
            _tensors.Clear();
        }
    }

    /// <summary>
    /// Streams a checkpoint's tensors (those the spec's manifest names, already checked against it) from the memory-mapped
    /// files to the GPU through two pinned staging buffers: while one buffer's copy runs on the stream, host threads fill
    /// the other from the mapping, so disk, memcpy and PCIe overlap and host memory stays at two staging buffers.
    /// </summary>
    public static class GpuWeightLoader
    {
        public const long DefaultStagingBytes = 64L << 20;

        /// <summary>Slices of this size are copied from the mapping into the staging buffer by separate threads: one thread
        /// reading a page-cached mapping tops out near 8 GB/s, below what PCIe carries.</summary>
        private const int CopySlice = 4 << 20;

        private static void Fill(PinnedHostBuffer staging, SafetensorsTensor tensor, long offset, int chunk)
        {
            int slices = (chunk + CopySlice - 1) / CopySlice;
            Parallel.For(0, slices, i =>
            {
                int start = i * CopySlice, length = Math.Min(CopySlice, chunk - start);
                tensor.Slice(offset + start, length).CopyTo(staging.AsSpan().Slice(start, length));
            });
        }

        public static DeviceWeights Load(Checkpoint checkpoint, CompiledModel model, DeviceAllocator allocator, CudaStream stream,
            IProgress<LoadProgress>? progress = null, long stagingBytes = DefaultStagingBytes)
        {
            long total = 0;
            foreach (var w in model.Manifest) total += w.Bytes;
            var weights = new DeviceWeights();
            var staging = new[] { new PinnedHostBuffer(stagingBytes), new PinnedHostBuffer(stagingBytes) };
            var done = new[] { new CudaEvent(), new CudaEvent() };
            var inUse = new bool[2];
            var clock = Stopwatch.StartNew();
            long moved = 0;
            int next = 0;
            try
            {
                foreach (var w in model.Manifest)
                {
                    if (!checkpoint.TryGet(w.Name, out var tensor))
                        throw new CheckpointException($"{checkpoint.Path} has no tensor {w.Name}; check it against the spec first (graphc inspect --spec)");
                    var device = allocator.Allocate(MemoryComponent.Weights, Math.Max(1, tensor.ByteLength));
                    weights.Add(w.Name, device);
                    for (long offset = 0; offset < tensor.ByteLength; offset += stagingBytes)
                    {
                        int chunk = (int)Math.Min(stagingBytes, tensor.ByteLength - offset);
                        int slot = next;
                        next ^= 1;
                        if (inUse[slot]) done[slot].Synchronize();   // the copy that last used this buffer has finished
                        Fill(staging[slot], tensor, offset, chunk);
                        staging[slot].CopyToAsync(device.Buffer, offset, chunk, stream);
                        done[slot].Record(stream);
                        inUse[slot] = true;
                        moved += chunk;
                        progress?.Report(new LoadProgress(moved, total, clock.Elapsed));
                    }
                }
                stream.Synchronize();
                progress?.Report(new LoadProgress(moved, total, clock.Elapsed));
                return weights;
            }
            catch
            {
                weights.Dispose();
                throw;
            }
            finally
            {
                foreach (var e in done) e.Dispose();
                foreach (var s in staging) s.Dispose();
            }
        }
    }
}
