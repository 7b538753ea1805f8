using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Compilation;
using GraphCompiler.Kernels;
using GraphCompiler.Runtime.Cuda;

namespace GraphCompiler.Runtime.Compilation
{
    /// <summary>A kernel failed to compile for the GPU at hand: NVRTC's log, with the kernel and target.</summary>
    public sealed class KernelCompileException : Exception
    {
        public KernelCompileException(string kernel, string target, string log)
            : base($"{kernel} does not compile for {target}: {log}") { }
    }

    /// <summary>
    /// A compiled model's kernels on one GPU: emitted with the tiles of the GPU's architecture, compiled for its exact
    /// target through the CUBIN cache, and loaded.
    /// </summary>
    public sealed class GpuKernels
    {
        /// <summary>The device's kernels through the default kernel cache, compiled for its exact architecture.</summary>
        public static GpuKernels For(CudaDevice device) => new GpuKernels(device, KernelCache.Default(), TargetFor(device.Info));

        /// <summary>The NVRTC target for a GPU: its exact architecture (sm_90 on Hopper; a wgmma kernel raises it to sm_90a, <see cref="KernelSource.TargetFor"/>).</summary>
        public static string TargetFor(CudaDeviceInfo gpu) => gpu.Arch;

        public GpuKernels(CudaDevice device, KernelCache cache, string target)
        {
            Device = device;
            Cache = cache;
            Target = target;
        }

        public CudaDevice Device { get; }
        public KernelCache Cache { get; }
        public string Target { get; }

        public IEnumerable<KernelSource> Emitted(CompiledModel model) => model.KernelsFor(Device.Info.TileArch).Where(k => k.IsEmitted);

        public CudaKernel Load(KernelSource source)
        {
            var (compiled, _) = Cache.GetOrCompile(source, Target);
            if (!compiled.Succeeded) throw new KernelCompileException(source.Name, Target, compiled.Log);
            return new CudaKernel(source, compiled.Cubin!);
        }

        /// <summary>CTAs of a kernel an SM holds at once (<see cref="CudaKernel.ResidentCtasPerSm"/>), asked of the loaded kernel.</summary>
        public int ResidentCtasPerSm(KernelSource source)
        {
            using var kernel = Load(source);
            return kernel.ResidentCtasPerSm;
        }

        /// <summary>For a <see cref="LaunchShape.ClusterSpansZ"/> kernel, the clusters of each size up to
        /// <paramref name="largest"/> CTAs this GPU holds at once at each of its shared-memory growth's units
        /// (<see cref="CudaKernel.ClustersAtOnce"/>), asked of the loaded kernel once.</summary>
        public Func<int, int, int> ClustersAtOnce(KernelSource source, int largest)
        {
            using var kernel = Load(source);
            int units = source.Launch.Growth?.MaxUnits ?? 1;
            var clusters = Enumerable.Range(1, units)
                .Select(u => Enumerable.Range(0, largest + 1).Select(n => n < 1 ? 0 : kernel.ClustersAtOnce(n, u)).ToArray()).ToArray();
            return (n, u) => clusters[Math.Clamp(u, 1, units) - 1][n];
        }
    }
}
