using System;
using System.Collections.Generic;
using System.Globalization;
using GraphCompiler.Common;
using GraphCompiler.Graph;

namespace GraphCompiler.Kernels
{
    /// <summary>
    /// One grid dimension as a function of the step: ceil(Symbol / Divisor) × Factor. Symbols: "1", "T" (tokens of the
    /// step), "S" (sequences), "M" (a GEMM's rows: the rows of its input buffer, T or S), "prefill_ctas" (prefill
    /// attention's persistent CTAs), "splits" (flash-decoding splits) and "gemm_ctas" (a GEMM's stream-K CTAs); the runtime supplies their
    /// values per launch.
    /// </summary>
    public sealed record GridExtent(string Symbol, int Divisor, int Factor)
    {
        public static GridExtent One => new GridExtent("1", 1, 1);
        public static GridExtent Of(string symbol) => new GridExtent(symbol, 1, 1);
        public static GridExtent Constant(int value) => new GridExtent("1", 1, value);

        public long Evaluate(IReadOnlyDictionary<string, long> symbols)
        {
            long value = Symbol == "1" ? 1 : symbols.TryGetValue(Symbol, out var v) ? v
                : throw new ArgumentException($"the launch needs a value for '{Symbol}'", nameof(symbols));
            return (value + Divisor - 1) / Divisor * Factor;
        }

        public override string ToString()
        {
            string s = Symbol == "1" ? "" : Divisor == 1 ? Symbol : $"ceil({Symbol}/{Divisor.ToString(CultureInfo.InvariantCulture)})";
            if (s.Length == 0) return Factor.ToString(CultureInfo.InvariantCulture);
            return Factor == 1 ? s : s + "×" + Factor.ToString(CultureInfo.InvariantCulture);
        }
    }

    /// <summary>Grid, block and dynamic shared memory of a kernel's launches.</summary>
    public sealed record LaunchShape(GridExtent X, GridExtent Y, GridExtent Z, int BlockThreads, int SharedMemoryBytes)
    {
        public string GridText => $"({X}, {Y}, {Z})";

        /// <summary>The launch groups its CTAs into thread-block clusters of (1, 1, Z): all of a (x, y) pair's z CTAs, which
        /// then read each other's shared memory (sm_90+; at Z = 1 a plain launch).</summary>
        public bool ClusterSpansZ { get; init; }

        /// <summary>The grid is as many CTAs as the GPU holds at once, each taking a fixed share of the work (prefill
        /// attention): the runtime asks the driver how many fit, and sets the kernel's shared-memory carveout so they do.</summary>
        public bool Persistent { get; init; }

        /// <summary>Dynamic shared memory that grows with a scalar parameter of the kernel: <see cref="SharedMemoryBytes"/> at 1, or null.</summary>
        public SharedMemoryGrowth? Growth { get; init; }

        /// <summary>The dynamic shared memory a launch takes whose <see cref="SharedMemoryGrowth.Parameter"/> is <paramref name="units"/>.</summary>
        public int SharedMemoryFor(int units) =>
            Growth is { } g ? SharedMemoryBytes + (Math.Max(1, units) - 1) * g.BytesPerUnit : SharedMemoryBytes;

        /// <summary>The most dynamic shared memory any launch takes (what the kernel opts in to).</summary>
        public int MaxSharedMemoryBytes => SharedMemoryBytes + (Growth is { } g ? (g.MaxUnits - 1) * g.BytesPerUnit : 0);
    }

    /// <summary><paramref name="BytesPerUnit"/> more dynamic shared memory for each unit of the kernel's int parameter
    /// <paramref name="Parameter"/> above 1, up to <paramref name="MaxUnits"/> (decode attention's step_tokens: a step of one
    /// token a sequence keeps the occupancy it had).</summary>
    public sealed record SharedMemoryGrowth(string Parameter, int BytesPerUnit, int MaxUnits);

    /// <summary>A kernel argument: its name, C type, and what the runtime binds to it.</summary>
    public sealed record KernelParameter(string Name, string CType, string Binds);

    /// <summary>
    /// An emitted kernel for one architecture: its CUDA C source (null while its emitter is still to come, with the
    /// reason), its entry point's parameters and its launch shape.
    /// </summary>
    public sealed record KernelSource(
        string Name,
        KernelFamily Family,
        string Summary,
        string Arch,
        string? Source,
        EquatableArray<KernelParameter> Parameters,
        LaunchShape Launch,
        string? PendingReason)
    {
        public bool IsEmitted => Source != null;
        public string FileName => Name + ".cu";

        /// <summary>The kernel uses instructions of its architecture's "a" target only (wgmma: sm_90a), which runs on that
        /// exact architecture and no other.</summary>
        public bool ArchSpecific { get; init; }

        /// <summary>The NVRTC target for a GPU target <paramref name="arch"/>: sm_90 becomes sm_90a for an arch-specific kernel.</summary>
        public string TargetFor(string arch) => ArchSpecific && !arch.EndsWith("a", StringComparison.Ordinal) ? arch + "a" : arch;
    }
}
