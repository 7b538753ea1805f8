using System;
using System.Linq;

namespace GraphCompiler.Spec
{
    /// <summary>
    /// The per-architecture limits that tile validation and code generation depend on. Shared memory is the opt-in
    /// maximum per block (what a kernel gets after raising its dynamic shared-memory attribute).
    /// </summary>
    public sealed record GpuArch(
        string Name,
        int ComputeCapability,
        string Example,
        int SharedMemoryPerBlockOptIn,
        int RegistersPerThreadMax,
        int MaxThreadsPerBlock,
        bool HasFp8Conversions,
        bool HasFp8Mma,
        bool HasWgmma,
        int ClusterCtasMax)
    {
        public static readonly GpuArch Sm80 = new GpuArch("sm_80", 80, "A100", 166_912, 255, 1024, false, false, false, 1);
        public static readonly GpuArch Sm86 = new GpuArch("sm_86", 86, "RTX 3090, A10", 101_376, 255, 1024, false, false, false, 1);
        public static readonly GpuArch Sm89 = new GpuArch("sm_89", 89, "RTX 4090, L4, L40S", 101_376, 255, 1024, true, true, false, 1);
        public static readonly GpuArch Sm90 = new GpuArch("sm_90", 90, "H100, H200", 232_448, 255, 1024, true, true, true, 16);

        /// <summary>Whether CTAs can form thread-block clusters that share their shared memory (sm_90+); ClusterCtasMax is
        /// the largest cluster a launch may ask for: 16 on H100 / H200 with the non-portable size allowed (8 is portable).</summary>
        public bool HasClusters => ClusterCtasMax > 1;

        public static readonly GpuArch[] All = { Sm80, Sm86, Sm89, Sm90 };

        /// <summary>32-bit registers of an SM (every architecture here): a block's threads share them.</summary>
        public const int RegistersPerSm = 65536;

        /// <summary>Threads an SM holds at once.</summary>
        public int MaxThreadsPerSm => ComputeCapability is 86 or 89 ? 1536 : 2048;

        /// <summary>
        /// CTAs of <paramref name="threads"/> threads an SM holds at once: its shared memory (the driver reserves 1 KiB a
        /// CTA), its 64K registers (allocated in eights per thread) and its threads.
        /// </summary>
        public int ResidentCtas(int threads, int registersPerThread, int sharedMemoryBytes)
        {
            const int systemReservedPerBlock = 1024;
            int bySharedMemory = (SharedMemoryPerBlockOptIn + systemReservedPerBlock) / (sharedMemoryBytes + systemReservedPerBlock);
            int byRegisters = RegistersPerSm / ((registersPerThread + 7) / 8 * 8 * threads);
            return Math.Max(1, Math.Min(Math.Min(bySharedMemory, byRegisters), MaxThreadsPerSm / threads));
        }

        public static string ValidNames => string.Join(", ", All.Select(a => a.Name));

        public static GpuArch? Find(string name) =>
            All.FirstOrDefault(a => string.Equals(a.Name, name, StringComparison.OrdinalIgnoreCase));

        /// <summary>The architecture whose tiles a device of compute capability <paramref name="cc"/> uses: the newest one not newer than it.</summary>
        public static GpuArch? ForComputeCapability(int cc) =>
            All.Where(a => a.ComputeCapability <= cc && a.ComputeCapability / 10 == cc / 10).OrderBy(a => a.ComputeCapability).LastOrDefault();
    }
}
