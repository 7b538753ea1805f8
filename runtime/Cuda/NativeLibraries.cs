using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;
using System.Runtime.InteropServices;

namespace GraphCompiler.Runtime.Cuda
{
    /// <summary>
    /// Finds the CUDA libraries the runtime binds (NVRTC, the driver, NCCL): first the path in the library's environment variable, then the
    /// versioned sonames (newest first), then the usual CUDA folders. Registered once as the assembly's DllImport resolver.
    /// </summary>
    public static class NativeLibraries
    {
        public const string NvrtcName = "nvrtc";
        public const string CudaDriverName = "cuda";
        public const string NvrtcEnvironmentVariable = "GRAPHC_NVRTC_PATH";
        public const string CudaDriverEnvironmentVariable = "GRAPHC_CUDA_DRIVER_PATH";
        public const string NcclName = "nccl";
        public const string NcclEnvironmentVariable = "GRAPHC_NCCL_PATH";

        private static readonly string[] NvrtcSonames = { "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so" };
        private static readonly string[] DriverSonames = { "libcuda.so.1", "libcuda.so" };
        private static readonly string[] NcclSonames = { "libnccl.so.2", "libnccl.so" };

        private static int _registered;

        public static void Register()
        {
            if (System.Threading.Interlocked.Exchange(ref _registered, 1) == 0)
                NativeLibrary.SetDllImportResolver(typeof(NativeLibraries).Assembly, Resolve);
        }

        private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) => name switch
        {
            NvrtcName => Load(NvrtcEnvironmentVariable, NvrtcSonames),
            CudaDriverName => Load(CudaDriverEnvironmentVariable, DriverSonames),
            NcclName => Load(NcclEnvironmentVariable, NcclSonames),
            _ => IntPtr.Zero,
        };

        /// <summary>The candidates tried for a library, in order, as shown in "not found" messages.</summary>
        public static IReadOnlyList<string> Candidates(string environmentVariable, IReadOnlyList<string> sonames, Func<string, string?> getEnvironment)
        {
            var result = new List<string>();
            string? overridePath = getEnvironment(environmentVariable);
            if (!string.IsNullOrEmpty(overridePath)) result.Add(overridePath!);
            result.AddRange(sonames);
            var folders = new List<string>();
            foreach (var root in new[] { getEnvironment("CUDA_HOME"), getEnvironment("CUDA_PATH"), "/usr/local/cuda" })
                if (!string.IsNullOrEmpty(root))
                {
                    folders.Add(Path.Combine(root!, "lib64"));
                    folders.Add(Path.Combine(root!, "targets", "x86_64-linux", "lib"));
                }
            folders.Add("/usr/lib/x86_64-linux-gnu");
            folders.Add("/usr/lib64");
            foreach (var folder in folders)
                foreach (var soname in sonames)
                    result.Add(Path.Combine(folder, soname));
            return result;
        }

        public static IReadOnlyList<string> NvrtcCandidates() => Candidates(NvrtcEnvironmentVariable, NvrtcSonames, Environment.GetEnvironmentVariable);
        public static IReadOnlyList<string> DriverCandidates() => Candidates(CudaDriverEnvironmentVariable, DriverSonames, Environment.GetEnvironmentVariable);
        public static IReadOnlyList<string> NcclCandidates() => Candidates(NcclEnvironmentVariable, NcclSonames, Environment.GetEnvironmentVariable);

        private static IntPtr Load(string environmentVariable, string[] sonames)
        {
            foreach (var candidate in Candidates(environmentVariable, sonames, Environment.GetEnvironmentVariable))
                if (NativeLibrary.TryLoad(candidate, out var handle))
                {
                    if (environmentVariable == NvrtcEnvironmentVariable) LoadBuiltinsBeside(candidate);
                    return handle;
                }
            return IntPtr.Zero;
        }

        /// <summary>
        /// NVRTC opens libnvrtc-builtins.so.X.Y by name at compile time; loading the copy beside a libnvrtc found by path
        /// (an unpacked package, not on the loader's path) lets that lookup find it already loaded.
        /// </summary>
        private static void LoadBuiltinsBeside(string nvrtcPath)
        {
            string? folder = Path.GetDirectoryName(nvrtcPath);
            if (string.IsNullOrEmpty(folder) || !Directory.Exists(folder)) return;
            foreach (var builtins in Directory.GetFiles(folder, "libnvrtc-builtins.so.*"))
                NativeLibrary.TryLoad(builtins, out _);
        }
    }
}
