using System;
using System.Runtime.InteropServices;

namespace GraphCompiler.Runtime.Cuda
{
    /// <summary>
    /// The CUDA driver API entry points the runtime uses, and only those (cuda.h; the _v2 entry points where the driver
    /// has them). Every result goes through <see cref="CudaException.Check"/>.
    /// </summary>
    internal static unsafe partial class CudaNative
    {
        private const string Lib = NativeLibraries.CudaDriverName;

        [LibraryImport(Lib)] internal static partial int cuInit(uint flags);
        [LibraryImport(Lib)] internal static partial int cuDriverGetVersion(out int version);
        [LibraryImport(Lib)] internal static partial int cuGetErrorName(int result, out IntPtr name);
        [LibraryImport(Lib)] internal static partial int cuGetErrorString(int result, out IntPtr text);

        [LibraryImport(Lib)] internal static partial int cuDeviceGetCount(out int count);
        [LibraryImport(Lib)] internal static partial int cuDeviceGet(out int device, int ordinal);
        [LibraryImport(Lib)] internal static partial int cuDeviceGetName(byte* name, int length, int device);
        [LibraryImport(Lib)] internal static partial int cuDeviceGetAttribute(out int value, int attribute, int device);
        [LibraryImport(Lib)] internal static partial int cuDeviceTotalMem_v2(out nuint bytes, int device);

        [LibraryImport(Lib)] internal static partial int cuDevicePrimaryCtxRetain(out IntPtr context, int device);
        [LibraryImport(Lib)] internal static partial int cuDevicePrimaryCtxRelease_v2(int device);
        [LibraryImport(Lib)] internal static partial int cuCtxSetCurrent(IntPtr context);
        [LibraryImport(Lib)] internal static partial int cuCtxSynchronize();
        [LibraryImport(Lib)] internal static partial int cuMemGetInfo_v2(out nuint free, out nuint total);

        [LibraryImport(Lib)] internal static partial int cuMemAlloc_v2(out ulong pointer, nuint bytes);
        [LibraryImport(Lib)] internal static partial int cuMemFree_v2(ulong pointer);
        [LibraryImport(Lib)] internal static partial int cuMemAllocHost_v2(out IntPtr pointer, nuint bytes);
        [LibraryImport(Lib)] internal static partial int cuMemFreeHost(IntPtr pointer);
        [LibraryImport(Lib)] internal static partial int cuMemcpyHtoDAsync_v2(ulong destination, void* source, nuint bytes, IntPtr stream);
        [LibraryImport(Lib)] internal static partial int cuMemcpyDtoHAsync_v2(void* destination, ulong source, nuint bytes, IntPtr stream);
        [LibraryImport(Lib)] internal static partial int cuMemcpyDtoDAsync_v2(ulong destination, ulong source, nuint bytes, IntPtr stream);
        [LibraryImport(Lib)] internal static partial int cuMemsetD8Async(ulong destination, byte value, nuint count, IntPtr stream);
        [LibraryImport(Lib)] internal static partial int cuMemsetD16Async(ulong destination, ushort value, nuint count, IntPtr stream);
        [LibraryImport(Lib)] internal static partial int cuMemsetD32Async(ulong destination, uint value, nuint count, IntPtr stream);

        [LibraryImport(Lib)] internal static partial int cuStreamCreate(out IntPtr stream, uint flags);
        [LibraryImport(Lib)] internal static partial int cuStreamDestroy_v2(IntPtr stream);
        [LibraryImport(Lib)] internal static partial int cuStreamSynchronize(IntPtr stream);
        [LibraryImport(Lib)] internal static partial int cuEventCreate(out IntPtr e, uint flags);
        [LibraryImport(Lib)] internal static partial int cuEventRecord(IntPtr e, IntPtr stream);
        [LibraryImport(Lib)] internal static partial int cuEventSynchronize(IntPtr e);
        [LibraryImport(Lib)] internal static partial int cuEventElapsedTime(out float milliseconds, IntPtr start, IntPtr end);
        [LibraryImport(Lib)] internal static partial int cuEventDestroy_v2(IntPtr e);

        [LibraryImport(Lib)] internal static partial int cuModuleLoadData(out IntPtr module, void* image);
        [LibraryImport(Lib)] internal static partial int cuModuleUnload(IntPtr module);
        [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int cuModuleGetFunction(out IntPtr function, IntPtr module, string name);
        [LibraryImport(Lib)] internal static partial int cuFuncSetAttribute(IntPtr function, int attribute, int value);
        [LibraryImport(Lib)] internal static partial int cuFuncGetAttribute(out int value, int attribute, IntPtr function);
        [LibraryImport(Lib)]
        internal static partial int cuLaunchKernel(IntPtr function, uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY, uint blockZ,
            uint sharedMemoryBytes, IntPtr stream, void** parameters, void** extra);

        [LibraryImport(Lib)] internal static partial int cuOccupancyMaxActiveBlocksPerMultiprocessor(out int blocks, IntPtr function, int blockSize, nuint dynamicSharedMemoryBytes);
        [LibraryImport(Lib)] internal static partial int cuOccupancyMaxActiveClusters(out int clusters, IntPtr function, LaunchConfig* config);
        [LibraryImport(Lib)] internal static partial int cuLaunchKernelEx(LaunchConfig* config, IntPtr function, void** parameters, void** extra);

        [LibraryImport(Lib)] internal static partial int cuStreamBeginCapture_v2(IntPtr stream, int mode);
        [LibraryImport(Lib)] internal static partial int cuStreamEndCapture(IntPtr stream, out IntPtr graph);
        [LibraryImport(Lib)] internal static partial int cuGraphInstantiateWithFlags(out IntPtr graphExec, IntPtr graph, ulong flags);
        [LibraryImport(Lib)] internal static partial int cuGraphLaunch(IntPtr graphExec, IntPtr stream);
        [LibraryImport(Lib)] internal static partial int cuGraphExecDestroy(IntPtr graphExec);
        [LibraryImport(Lib)] internal static partial int cuGraphDestroy(IntPtr graph);

        // CUdevice_attribute values used by CudaDevice.
        internal const int AttributeMaxThreadsPerBlock = 1;
        internal const int AttributeClockRate = 13;
        internal const int AttributeMultiprocessorCount = 16;
        internal const int AttributeMemoryClockRate = 36;
        internal const int AttributeGlobalMemoryBusWidth = 37;
        internal const int AttributeL2CacheSize = 38;
        internal const int AttributeComputeCapabilityMajor = 75;
        internal const int AttributeComputeCapabilityMinor = 76;
        internal const int AttributeMaxSharedMemoryPerBlockOptin = 97;

        // CUfunction_attribute values.
        internal const int FunctionSharedSizeBytes = 1;
        internal const int FunctionLocalSizeBytes = 3;
        internal const int FunctionNumRegisters = 4;
        internal const int FunctionMaxDynamicSharedSizeBytes = 8;
        internal const int FunctionNonPortableClusterSizeAllowed = 14;
        internal const int FunctionPreferredSharedMemoryCarveout = 9;
        internal const int SharedMemoryCarveoutMax = 100;   // percent of the unified L1 / shared memory

        // CUlaunchAttributeID values, and CUclusterSchedulingPolicy's load balancing.
        internal const int LaunchAttributeClusterDimension = 4;
        internal const int LaunchAttributeClusterSchedulingPolicy = 5;
        internal const int ClusterSchedulingLoadBalancing = 2;

        /// <summary>CUlaunchConfig: grid, block, dynamic shared memory, stream and the launch attributes.</summary>
        [StructLayout(LayoutKind.Explicit, Size = 56)]
        internal struct LaunchConfig
        {
            [FieldOffset(0)] public uint GridX;
            [FieldOffset(4)] public uint GridY;
            [FieldOffset(8)] public uint GridZ;
            [FieldOffset(12)] public uint BlockX;
            [FieldOffset(16)] public uint BlockY;
            [FieldOffset(20)] public uint BlockZ;
            [FieldOffset(24)] public uint SharedMemoryBytes;
            [FieldOffset(32)] public IntPtr Stream;
            [FieldOffset(40)] public LaunchAttribute* Attributes;
            [FieldOffset(48)] public uint AttributeCount;
        }

        /// <summary>CUlaunchAttribute: an id, then its value in a 64-byte union (the cluster's dimensions, or a scheduling policy).</summary>
        [StructLayout(LayoutKind.Explicit, Size = 72)]
        internal struct LaunchAttribute
        {
            [FieldOffset(0)] public int Id;
            [FieldOffset(8)] public uint ClusterX;
            [FieldOffset(12)] public uint ClusterY;
            [FieldOffset(16)] public uint ClusterZ;
            [FieldOffset(8)] public int SchedulingPolicy;
        }

        internal const int CaptureModeThreadLocal = 1;
    }
}
