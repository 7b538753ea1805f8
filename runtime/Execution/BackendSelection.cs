using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Compilation;
using GraphCompiler.Runtime.Compilation;
using GraphCompiler.Runtime.Cpu;
using GraphCompiler.Runtime.Cuda;
using GraphCompiler.Runtime.Memory;
using GraphCompiler.Runtime.TensorParallel;
using GraphCompiler.Runtime.Tuning;
using GraphCompiler.Spec;

namespace GraphCompiler.Runtime.Execution
{
    /// <summary>Which backend runs a model: the GPU when there is one that can run the spec, else the CPU (auto); or insist on one.</summary>
    public enum BackendKind
    {
        Auto,
        Gpu,
        Cpu,
    }

    /// <summary>A backend and the GPU it holds, released together.</summary>
    public sealed class OpenedBackend : IDisposable
    {
        public OpenedBackend(IDecoderBackend backend, CudaDevice? device, DeviceAllocator? allocator)
        {
            Backend = backend;
            Device = device;
            Allocator = allocator;
        }

        public IDecoderBackend Backend { get; }

        /// <summary>The GPU, or null on the CPU backend.</summary>
        public CudaDevice? Device { get; }

        public DeviceAllocator? Allocator { get; }

        public void Dispose()
        {
            Backend.Dispose();
            Device?.Dispose();
        }
    }

    /// <summary>
    /// Opens the backend for a model and its loaded weights. Auto takes the GPU when one can run the spec — no driver, no
    /// GPU, an arch-pending kernel, a compile failure or a budget too small each say why in <c>log</c> and the CPU backend
    /// runs instead; Gpu throws <see cref="BackendUnavailableException"/> for the same causes; Cpu never opens the driver.
    /// On the GPU the tiles are the tuned ones where the tuning database has them (<see cref="TunedTiles.ForGpu"/>).
    /// A tensor-parallel spec opens a <see cref="TensorParallelBackend"/> of its ranks, one weight set each
    /// (<see cref="CheckpointLoader"/> with its rank): on the CPU they exchange through host memory; on GPUs through NCCL,
    /// a GPU a rank, or with <paramref name="stagedExchange"/> through host memory with ranks sharing the GPUs there are.
    /// </summary>
    public static class BackendSelection
    {
        public static OpenedBackend Open(BackendKind kind, CompiledModel model, string specPath, string specText, CheckpointTensors weights,
            GpuModelOptions gpuOptions, bool tunedTiles, Action<string> log) =>
            model.Spec.Parallel.Tensor == 1 ? Open(kind, model, specPath, specText, _ => weights, gpuOptions, tunedTiles, log)
                : throw new ArgumentException($"{model.Spec.Name} is split over {model.Spec.Parallel.Tensor} GPUs: give each rank its own weights", nameof(weights));

        /// <param name="weights">Rank r's weights (<see cref="CompiledModel.Rank"/>'s manifest; rank 0's alone without a
        /// split), asked for when the rank is loaded: a GPU rank's are uploaded and dropped before the next rank's are read,
        /// so the host holds one rank's shards at a time, never the whole checkpoint.</param>
        public static OpenedBackend Open(BackendKind kind, CompiledModel model, string specPath, string specText, Func<int, CheckpointTensors> weights,
            GpuModelOptions gpuOptions, bool tunedTiles, Action<string> log, bool stagedExchange = false)
        {
            int ranks = model.Spec.Parallel.Tensor;
            if (kind != BackendKind.Cpu)
            {
                CudaDevice? device = null;
                try
                {
                    // A split's ranks open their GPUs themselves and release them if they fail.
                    if (ranks > 1) return OpenGpuRanks(model, (r, rank, kernels, allocator, options) => GpuModel.Load(rank, weights(r), kernels, allocator, options),
                        gpuOptions, stagedExchange, specPath, specText, tunedTiles, log);
                    device = CudaDevice.Open();
                    var allocator = DeviceAllocator.WithinBudget(model.Spec.Limits, device.Info.TotalMemoryBytes);
                    var kernels = GpuKernels.For(device);
                    var runs = TunedTiles.ForGpu(model, specPath, specText, device.Info, tunedTiles, log);
                    var gpu = GpuModel.Load(runs, weights(0), kernels, allocator, gpuOptions);
                    return new OpenedBackend(gpu, device, allocator);
                }
                catch (Exception e) when (e is GpuUnavailableException or NotSupportedException or KernelCompileException or DllNotFoundException or MemoryBudgetException or NcclException)
                {
                    device?.Dispose();
                    if (kind == BackendKind.Gpu) throw new BackendUnavailableException("the GPU backend cannot run it: " + e.Message, e);
                    log("not on the GPU: " + e.Message);
                }
            }
            long need = CpuWeights.EstimateHostBytes(model.Rank) * ranks, have = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
            if (need > have * 0.9)
                throw new BackendUnavailableException(
                    $"the CPU backend keeps every weight as float32: {model.Spec.Name} needs about {ByteSize.Format(need)} of host memory, and this machine has "
                    + $"{ByteSize.Format(have)}. Use a smaller model on the CPU, or a GPU");
            if (ranks == 1) return new OpenedBackend(new CpuModel(model, weights(0)), null, null);
            var group = new HostAllReduce(ranks);
            var cpuRanks = Enumerable.Range(0, ranks).Select(r => (IDecoderBackend)new CpuModel(model.Rank, CpuWeights.Load(model.Rank, weights(r)), (group, r))).ToList();
            return new OpenedBackend(new TensorParallelBackend(model, cpuRanks, "all-reduce in host memory", group.Abort, new[] { group }), null, null);
        }

        /// <summary>
        /// A tensor-parallel model's ranks on GPUs: a GPU a rank with NCCL between them; or, staged, the ranks dealt
        /// round-robin over the GPUs there are, each with a share of its GPU's budget, summing through host memory.
        /// <paramref name="loadRank"/> makes rank r's <see cref="GpuModel"/> of the rank model it is given (from its checkpoint
        /// shards, or synthetic weights) on the GPU current when it is called. The rank model runs the tiles tuned for it
        /// (graphc tune --tp) where the database has them for the first GPU (the GPUs of one host are alike), else the spec's.
        /// </summary>
        public static OpenedBackend OpenGpuRanks(CompiledModel model, Func<int, CompiledModel, GpuKernels, DeviceAllocator, GpuModelOptions, GpuModel> loadRank,
            GpuModelOptions options, bool staged, string specPath, string specText, bool tunedTiles, Action<string> log)
        {
            int ranks = model.Spec.Parallel.Tensor;
            var devices = new List<CudaDevice> { CudaDevice.Open(0) };
            var backends = new List<IDecoderBackend>();
            IDisposable? owned = null;
            try
            {
                int count = CudaDevice.Count();
                if (!staged && count < ranks)
                    throw new GpuUnavailableException($"{model.Spec.Name} is split over {ranks} GPUs (parallel.tensor / --tp) and this machine has {count}. "
                        + $"Use --tp {ParallelSpec.TensorSizes.Where(t => t <= count).Max()}, or --tp-staged to run the {ranks} ranks on {count} GPU(s) with the exchange staged through host memory (slow; for checking)");
                int used = Math.Min(count, ranks);
                for (int d = 1; d < used; d++) devices.Add(CudaDevice.Open(d));
                IReadOnlyList<IDeviceAllReduce> exchange;
                Action abort;
                if (staged)
                {
                    var group = new HostAllReduce(ranks);
                    var members = Enumerable.Range(0, ranks).Select(r => new HostStagedAllReduce(group, r)).ToList();
                    exchange = members;
                    owned = new Disposables(members.Cast<IDisposable>().Append(group));
                    abort = group.Abort;
                }
                else
                {
                    var comms = NcclCommunicator.InitAll(Enumerable.Range(0, ranks).ToList());
                    exchange = comms.Ranks;
                    owned = comms;
                    abort = comms.Abort;
                }
                var rankModel = TunedTiles.ForGpu(model, specPath, specText, devices[0].Info, tunedTiles, log).Rank;
                for (int r = 0; r < ranks; r++)
                {
                    var device = devices[r % used];
                    device.MakeCurrent();
                    int sharing = (ranks - 1 - r % used) / used + 1;
                    var allocator = DeviceAllocator.WithinBudget(rankModel.Spec.Limits, device.Info.TotalMemoryBytes / sharing);
                    backends.Add(loadRank(r, rankModel, GpuKernels.For(device), allocator, options with { AllReduce = exchange[r] }));
                }
                string how = staged ? $"all-reduce staged through host memory, {ranks} ranks on {used} GPU(s)" : $"NCCL {NcclCommunicator.Version()}, a GPU a rank";
                return new OpenedBackend(new TensorParallelBackend(model, backends, how, abort, new[] { owned }.Concat(devices.Skip(1)).ToList()), devices[0], null);
            }
            catch
            {
                foreach (var b in backends) b.Dispose();
                owned?.Dispose();
                foreach (var d in devices) d.Dispose();
                throw;
            }
        }

        /// <summary>Several disposables as one, disposed in order.</summary>
        private sealed class Disposables : IDisposable
        {
            private readonly List<IDisposable> _items;
            public Disposables(IEnumerable<IDisposable> items) => _items = items.ToList();
            public void Dispose() => _items.ForEach(i => i.Dispose());
        }
    }

    /// <summary>The backend asked for cannot run the model here; the message says why and what to change.</summary>
    public sealed class BackendUnavailableException : Exception
    {
        public BackendUnavailableException(string message, Exception? inner = null) : base(message, inner)
        {
        }
    }
}
