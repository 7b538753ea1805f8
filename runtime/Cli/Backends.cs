using System;
using GraphCompiler.Common;
using GraphCompiler.Compilation;
using GraphCompiler.Runtime.Compilation;
using GraphCompiler.Runtime.Cpu;
using GraphCompiler.Runtime.Cuda;
using GraphCompiler.Runtime.Execution;
using GraphCompiler.Runtime.Memory;
using Spectre.Console;

namespace GraphCompiler.Runtime.Cli
{
    /// <summary>A backend and the GPU it holds, released together.</summary>
    internal sealed class OpenedBackend : IDisposable
    {
        public OpenedBackend(IDecoderBackend backend, CudaDevice? device, DeviceAllocator? allocator)
        {
            Backend = backend;
            Device = device;
            Allocator = allocator;
        }

        public IDecoderBackend Backend { get; }
        public CudaDevice? Device { get; }
        public DeviceAllocator? Allocator { get; }

        public void Dispose()
        {
            Backend.Dispose();
            Device?.Dispose();
        }
    }

    /// <summary>
    /// --backend auto|gpu|cpu: auto takes the GPU when there is one that can run the spec (saying why not otherwise) and the
    /// CPU backend else; gpu insists; cpu never opens the driver.
    /// </summary>
    internal static class Backends
    {
        public const string Auto = "auto", Gpu = "gpu", Cpu = "cpu";

        public static void Check(string kind)
        {
            if (kind is not (Auto or Gpu or Cpu))
                throw new CliException(ExitCodes.Usage, $"--backend '{kind}' is not one of auto, gpu, cpu");
        }

        public static OpenedBackend Open(string kind, CompiledModel model, CheckpointTensors weights, GpuModelOptions gpuOptions, IAnsiConsole console)
        {
            Check(kind);
            if (kind != Cpu)
            {
                CudaDevice? device = null;
                try
                {
                    device = CudaDevice.Open();
                    var allocator = GpuCommands.BudgetAllocator(model.Spec.Limits, device.Info.TotalMemoryBytes);
                    var kernels = new GpuKernels(device, KernelCache.Default(), GpuCommands.Target(device));
                    var gpu = GpuModel.Load(model, weights, kernels, allocator, gpuOptions);
                    return new OpenedBackend(gpu, device, allocator);
                }
                catch (Exception e) when (e is GpuUnavailableException or NotSupportedException or KernelCompileException or DllNotFoundException or MemoryBudgetException)
                {
                    // No GPU, or one that cannot run this spec: auto says why and takes the CPU, gpu stops.
                    device?.Dispose();
                    if (kind == Gpu) throw new CliException(ExitCodes.Failure, "--backend gpu: " + e.Message);
                    console.MarkupLine($"[grey]not on the GPU: {Markup.Escape(e.Message)}[/]");
                }
            }
            long need = CpuWeights.EstimateHostBytes(model), have = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
            if (need > have * 0.9)
                throw new CliException(ExitCodes.Failure,
                    $"the CPU backend keeps every weight as float32: {model.Spec.Name} needs about {ByteSize.Format(need)} of host memory, and this machine has "
                    + $"{ByteSize.Format(have)}. Use a smaller model on the CPU, or a GPU");
            return new OpenedBackend(new CpuModel(model, weights), null, null);
        }
    }
}
