using System;
using System.Globalization;
using System.Linq;
using System.Text;
using GraphCompiler.Spec;

namespace GraphCompiler.Runtime.Cuda
{
    /// <summary>What the runtime needs to know about a GPU.</summary>
    public sealed record CudaDeviceInfo(
        int Ordinal, string Name, int ComputeCapability, int MultiprocessorCount, int SharedMemoryPerBlockOptIn,
        int L2CacheBytes, long TotalMemoryBytes, int MaxThreadsPerBlock, int DriverVersion)
    {
        public string Arch => "sm_" + ComputeCapability.ToString(CultureInfo.InvariantCulture);

        /// <summary>Whose tiles this GPU uses: its own architecture's, else those of the newest known one below it.</summary>
        public GpuArch TileArch =>
            GpuArch.ForComputeCapability(ComputeCapability) ?? GpuArch.All.LastOrDefault(a => a.ComputeCapability <= ComputeCapability) ?? GpuArch.Sm80;

        public override string ToString() =>
            $"{Name} ({Arch}, {MultiprocessorCount} SMs, {TotalMemoryBytes / (1L << 30)} GiB, L2 {L2CacheBytes >> 20} MiB, driver {DriverVersion / 1000}.{DriverVersion % 1000 / 10})";
    }

    /// <summary>
    /// A GPU with its primary context made current on the calling thread. Opening it is where "no driver" and "no GPU"
    /// become a plain <see cref="GpuUnavailableException"/>.
    /// </summary>
    public sealed unsafe class CudaDevice : IDisposable
    {
        private bool _disposed;

        private CudaDevice(int handle, IntPtr context, CudaDeviceInfo info)
        {
            Handle = handle;
            Context = context;
            Info = info;
        }

        public int Handle { get; }
        public IntPtr Context { get; }
        public CudaDeviceInfo Info { get; }

        /// <summary>GPUs the driver sees (call after <see cref="Open"/> has found the driver).</summary>
        public static int Count()
        {
            CudaException.Check(CudaNative.cuDeviceGetCount(out int count), "cuDeviceGetCount");
            return count;
        }

        public static CudaDevice Open(int ordinal = 0)
        {
            NativeLibraries.Register();
            int count;
            try
            {
                CudaException.Check(CudaNative.cuInit(0), "cuInit");
                CudaException.Check(CudaNative.cuDeviceGetCount(out count), "cuDeviceGetCount");
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                throw new GpuUnavailableException(
                    "no NVIDIA driver: libcuda.so.1 was not found, so there is no GPU to use on this machine "
                    + $"(set {NativeLibraries.CudaDriverEnvironmentVariable} if the driver is installed somewhere unusual). The CPU backend needs no GPU.", e);
            }
            catch (CudaException e) when (e.Result == 100)
            {
                throw new GpuUnavailableException("the NVIDIA driver is installed but sees no GPU (CUDA_ERROR_NO_DEVICE). The CPU backend needs no GPU.", e);
            }
            if (count == 0) throw new GpuUnavailableException("the NVIDIA driver sees no GPU. The CPU backend needs no GPU.");
            if (ordinal < 0 || ordinal >= count)
                throw new GpuUnavailableException($"GPU {ordinal} does not exist: the driver sees {count} GPU(s), numbered 0-{count - 1}");

            CudaException.Check(CudaNative.cuDeviceGet(out int device, ordinal), "cuDeviceGet");
            CudaException.Check(CudaNative.cuDevicePrimaryCtxRetain(out IntPtr context, device), "cuDevicePrimaryCtxRetain");
            CudaException.Check(CudaNative.cuCtxSetCurrent(context), "cuCtxSetCurrent");
            return new CudaDevice(device, context, Query(ordinal, device));
        }

        private static CudaDeviceInfo Query(int ordinal, int device)
        {
            var name = new byte[256];
            fixed (byte* p = name) CudaException.Check(CudaNative.cuDeviceGetName(p, name.Length, device), "cuDeviceGetName");
            int Attribute(int attribute)
            {
                CudaException.Check(CudaNative.cuDeviceGetAttribute(out int value, attribute, device), "cuDeviceGetAttribute");
                return value;
            }
            CudaException.Check(CudaNative.cuDeviceTotalMem_v2(out nuint total, device), "cuDeviceTotalMem_v2");
            CudaException.Check(CudaNative.cuDriverGetVersion(out int driver), "cuDriverGetVersion");
            return new CudaDeviceInfo(ordinal, Encoding.UTF8.GetString(name).TrimEnd('\0'),
                Attribute(CudaNative.AttributeComputeCapabilityMajor) * 10 + Attribute(CudaNative.AttributeComputeCapabilityMinor),
                Attribute(CudaNative.AttributeMultiprocessorCount), Attribute(CudaNative.AttributeMaxSharedMemoryPerBlockOptin),
                Attribute(CudaNative.AttributeL2CacheSize), (long)total, Attribute(CudaNative.AttributeMaxThreadsPerBlock), driver);
        }

        /// <summary>Free and total device memory as the driver reports them now.</summary>
        public (long Free, long Total) MemoryInfo()
        {
            CudaException.Check(CudaNative.cuMemGetInfo_v2(out nuint free, out nuint total), "cuMemGetInfo_v2");
            return ((long)free, (long)total);
        }

        /// <summary>Makes the context current on the calling thread: a model stepped from several threads (one at a time) calls it first.</summary>
        public void MakeCurrent() => CudaException.Check(CudaNative.cuCtxSetCurrent(Context), "cuCtxSetCurrent");

        public void Synchronize() => CudaException.Check(CudaNative.cuCtxSynchronize(), "cuCtxSynchronize");

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            CudaNative.cuDevicePrimaryCtxRelease_v2(Handle);
        }
    }
}
