using System;
using GraphCompiler.Common;
using GraphCompiler.Compilation;
using GraphCompiler.Runtime.Compilation;
using GraphCompiler.Runtime.Cpu;
using GraphCompiler.Runtime.Cuda;
using GraphCompiler.Runtime.Memory;
using GraphCompiler.Runtime.Tuning;

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
        internal OpenedBackend(IDecoderBackend backend, CudaDevice? device, DeviceAllocator? allocator)
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
    /// </summary>
    public static class BackendSelection
    {
        public static OpenedBackend Open(BackendKind kind, CompiledModel model, string specPath, string specText, CheckpointTensors weights,
            GpuModelOptions gpuOptions, bool tunedTiles, Action<string> log)
        {
            if (kind != BackendKind.Cpu)
            {
                CudaDevice? device = null;
                try
                {
                    device = CudaDevice.Open();
                    var allocator = DeviceAllocator.WithinBudget(model.Spec.Limits, device.Info.TotalMemoryBytes);
                    var kernels = GpuKernels.For(device);
                    var runs = TunedTiles.ForGpu(model, specPath, specText, device.Info, tunedTiles, log);
                    var gpu = GpuModel.Load(runs, weights, kernels, allocator, gpuOptions);
                    return new OpenedBackend(gpu, device, allocator);
                }
                catch (Exception e) when (e is GpuUnavailableException or NotSupportedException or KernelCompileException or DllNotFoundException or MemoryBudgetException)
                {
                    device?.Dispose();
                    if (kind == BackendKind.Gpu) throw new BackendUnavailableException("the GPU backend cannot run it: " + e.Message, e);
                    log("not on the GPU: " + e.Message);
                }
            }
            long need = CpuWeights.EstimateHostBytes(model), have = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
            if (need > have * 0.9)
                throw new BackendUnavailableException(
                    $"the CPU backend keeps every weight as float32: {model.Spec.Name} needs about {ByteSize.Format(need)} of host memory, and this machine has "
                    + $"{ByteSize.Format(have)}. Use a smaller model on the CPU, or a GPU");
            return new OpenedBackend(new CpuModel(model, weights), null, null);
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
