using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using GraphCompiler.Kernels;

namespace GraphCompiler.Runtime.Cuda
{
    /// <summary>A loaded CUBIN and its kernel entry point, ready to launch with the kernel's declared parameters.</summary>
    public sealed unsafe class CudaKernel : IDisposable
    {
        private IntPtr _module;

        public CudaKernel(KernelSource source, byte[] cubin)
        {
            Source = source;
            fixed (byte* image = cubin) CudaException.Check(CudaNative.cuModuleLoadData(out _module, image), $"cuModuleLoadData({source.Name})");
            CudaException.Check(CudaNative.cuModuleGetFunction(out IntPtr function, _module, source.Name), $"cuModuleGetFunction({source.Name})");
            Function = function;
            // Past 48 KiB of dynamic and static shared memory together a kernel must opt in; opting in below costs nothing,
            // so every kernel with dynamic shared memory does (48 KiB dynamic plus a few static bytes failed to launch).
            if (source.Launch.MaxSharedMemoryBytes > 0)
                CudaException.Check(CudaNative.cuFuncSetAttribute(function, CudaNative.FunctionMaxDynamicSharedSizeBytes, source.Launch.MaxSharedMemoryBytes),
                    $"cuFuncSetAttribute({source.Name}, max dynamic shared memory {source.Launch.MaxSharedMemoryBytes})");
            // A persistent launch sizes its grid by the occupancy query: the most shared memory an SM can give, so the launch
            // holds the CTAs the query counted (a CTA that waits for a slot starts its whole share of the work late).
            if (source.Launch.Persistent)
                CudaException.Check(CudaNative.cuFuncSetAttribute(function, CudaNative.FunctionPreferredSharedMemoryCarveout, CudaNative.SharedMemoryCarveoutMax),
                    $"cuFuncSetAttribute({source.Name}, preferred shared memory carveout)");
            // Clusters of more than 8 CTAs (16 on H100 / H200) are non-portable: a kernel must opt in.
            if (source.Launch.ClusterSpansZ)
                CudaException.Check(CudaNative.cuFuncSetAttribute(function, CudaNative.FunctionNonPortableClusterSizeAllowed, 1),
                    $"cuFuncSetAttribute({source.Name}, non-portable cluster size allowed)");
        }

        private readonly Dictionary<(int Ctas, int GrowthUnits), int> _clustersAtOnce = new Dictionary<(int Ctas, int GrowthUnits), int>();

        public KernelSource Source { get; }
        public IntPtr Function { get; }

        /// <summary>Registers per thread and local (spill) bytes, from the loaded function.</summary>
        public (int Registers, int LocalBytes, int StaticSharedBytes) Resources()
        {
            CudaException.Check(CudaNative.cuFuncGetAttribute(out int registers, CudaNative.FunctionNumRegisters, Function), "cuFuncGetAttribute");
            CudaException.Check(CudaNative.cuFuncGetAttribute(out int local, CudaNative.FunctionLocalSizeBytes, Function), "cuFuncGetAttribute");
            CudaException.Check(CudaNative.cuFuncGetAttribute(out int shared, CudaNative.FunctionSharedSizeBytes, Function), "cuFuncGetAttribute");
            return (registers, local, shared);
        }

        /// <summary>
        /// Launches with arguments bound by parameter name: a <see cref="DeviceBuffer"/> or <see cref="DeviceAddress"/> for
        /// pointers, an int for scalars.
        /// A missing or extra name is an error, so a harness cannot silently pass arguments in the wrong order.
        /// </summary>
        public void Launch(CudaStream stream, IReadOnlyDictionary<string, object> arguments, IReadOnlyDictionary<string, long> gridSymbols)
        {
            var parameters = Source.Parameters;
            var extra = arguments.Keys.Except(parameters.Select(p => p.Name)).ToList();
            if (extra.Count > 0) throw new ArgumentException($"{Source.Name} has no parameter(s) {string.Join(", ", extra)}");
            var values = stackalloc ulong[parameters.Count];
            var pointers = stackalloc void*[parameters.Count];
            for (int i = 0; i < parameters.Count; i++)
            {
                var p = parameters[i];
                if (!arguments.TryGetValue(p.Name, out var value))
                    throw new ArgumentException($"{Source.Name} needs '{p.Name}' ({p.CType}: {p.Binds})");
                bool pointer = p.CType.EndsWith("*", StringComparison.Ordinal) || p.CType.Contains("* __restrict__");
                values[i] = value switch
                {
                    DeviceBuffer b when pointer => b.Pointer,
                    DeviceAddress a when pointer => a.Value,
                    int n when !p.CType.Contains('*') => (ulong)(uint)n,
                    _ => throw new ArgumentException($"{Source.Name}: '{p.Name}' is {p.CType}, not a {value.GetType().Name}"),
                };
                pointers[i] = &values[i];
            }
            var l = Source.Launch;
            uint X(GridExtent e) => checked((uint)e.Evaluate(gridSymbols));
            uint gridZ = X(l.Z), shared = (uint)l.SharedMemoryFor(l.Growth is { } g && arguments[g.Parameter] is int units ? units : 1);
            if (l.ClusterSpansZ && gridZ > 1)
            {
                var attributes = stackalloc CudaNative.LaunchAttribute[ClusterAttributeCount];
                var config = ClusterLaunch(X(l.X), X(l.Y), gridZ, shared, stream.Handle, attributes);
                CudaException.Check(CudaNative.cuLaunchKernelEx(&config, Function, pointers, null), $"cuLaunchKernelEx({Source.Name}, clusters of (1, 1, {gridZ}))");
                return;
            }
            CudaException.Check(CudaNative.cuLaunchKernel(Function, X(l.X), X(l.Y), gridZ, (uint)l.BlockThreads, 1, 1,
                shared, stream.Handle, pointers, null), $"cuLaunchKernel({Source.Name})");
        }

        /// <summary>CTAs of this kernel an SM holds at once at its launches' shared memory, from the driver's occupancy query
        /// (its registers as compiled, not an estimate); asked once.</summary>
        public int ResidentCtasPerSm
        {
            get
            {
                if (_residentCtasPerSm is { } known) return known;
                CudaException.Check(CudaNative.cuOccupancyMaxActiveBlocksPerMultiprocessor(out int ctas, Function, Source.Launch.BlockThreads,
                    (nuint)Source.Launch.SharedMemoryBytes), $"cuOccupancyMaxActiveBlocksPerMultiprocessor({Source.Name})");
                return (_residentCtasPerSm = ctas).Value;
            }
        }

        private int? _residentCtasPerSm;

        /// <summary>Clusters of <paramref name="clusterCtas"/> CTAs along z (a <see cref="LaunchShape.ClusterSpansZ"/>
        /// launch whose growth parameter is <paramref name="growthUnits"/>, 1 being no growth: <see cref="LaunchShape.SharedMemoryFor"/>)
        /// the GPU holds at once, from the driver's occupancy query (the kernel's registers, shared memory and the SMs of each
        /// GPC); asked once a size.</summary>
        public int ClustersAtOnce(int clusterCtas, int growthUnits)
        {
            if (_clustersAtOnce.TryGetValue((clusterCtas, growthUnits), out int known)) return known;
            var attributes = stackalloc CudaNative.LaunchAttribute[ClusterAttributeCount];
            var config = ClusterLaunch(1, 1, checked((uint)clusterCtas), (uint)Source.Launch.SharedMemoryFor(growthUnits), IntPtr.Zero, attributes);
            CudaException.Check(CudaNative.cuOccupancyMaxActiveClusters(out int clusters, Function, &config),
                $"cuOccupancyMaxActiveClusters({Source.Name}, clusters of (1, 1, {clusterCtas}), {growthUnits} {Source.Launch.Growth?.Parameter ?? "units"})");
            return _clustersAtOnce[(clusterCtas, growthUnits)] = clusters;
        }

        private const int ClusterAttributeCount = 2;

        /// <summary>A launch in clusters of (1, 1, <paramref name="gridZ"/>), placed load-balanced: decode attention's 128
        /// clusters of 5 (llama2-70b, FP8, 16 sequences) fit 132 at a time that way and 124 without, and the second wave
        /// took 38 µs instead of 27 (H200).</summary>
        private CudaNative.LaunchConfig ClusterLaunch(uint gridX, uint gridY, uint gridZ, uint sharedBytes, IntPtr stream, CudaNative.LaunchAttribute* attributes)
        {
            attributes[0] = new CudaNative.LaunchAttribute { Id = CudaNative.LaunchAttributeClusterDimension, ClusterX = 1, ClusterY = 1, ClusterZ = gridZ };
            attributes[1] = new CudaNative.LaunchAttribute { Id = CudaNative.LaunchAttributeClusterSchedulingPolicy, SchedulingPolicy = CudaNative.ClusterSchedulingLoadBalancing };
            return new CudaNative.LaunchConfig
            {
                GridX = gridX, GridY = gridY, GridZ = gridZ, BlockX = (uint)Source.Launch.BlockThreads, BlockY = 1, BlockZ = 1,
                SharedMemoryBytes = sharedBytes, Stream = stream, Attributes = attributes, AttributeCount = ClusterAttributeCount,
            };
        }

        public void Dispose()
        {
            if (_module == IntPtr.Zero) return;
            CudaNative.cuModuleUnload(_module);
            _module = IntPtr.Zero;
        }
    }
}
