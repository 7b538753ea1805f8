using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using GraphCompiler.Runtime.Cuda;
using GraphCompiler.Kernels;

namespace GraphCompiler.Runtime.Nvrtc
{
    /// <summary>NVRTC could not be loaded; the message says where it looked and how to point at it.</summary>
    public sealed class NvrtcUnavailableException : Exception
    {
        public NvrtcUnavailableException(string message, Exception? inner = null) : base(message, inner) { }
    }

    /// <summary>An NVRTC call failed: carries the nvrtcResult name and the call.</summary>
    public sealed class NvrtcException : Exception
    {
        public NvrtcException(string call, int result, string hint)
            : base($"{call} failed with {NvrtcCompiler.ResultName(result)} ({result}): {hint}")
        {
            Call = call;
            Result = result;
        }

        public string Call { get; }
        public int Result { get; }
    }

    /// <summary>A compiled kernel, or the compiler's log and the emitted lines it complained about.</summary>
    public sealed record KernelCompilation(string Name, string Arch, byte[]? Cubin, string Log, IReadOnlyList<string> OffendingLines)
    {
        public bool Succeeded => Cubin != null;
    }

    /// <summary>Compiles emitted kernels to CUBIN with NVRTC for an exact architecture; needs no GPU.</summary>
    public static class NvrtcCompiler
    {
        private static readonly Regex LogLocation = new Regex(@"\((\d+)\): (error|warning)", RegexOptions.CultureInvariant);

        static NvrtcCompiler() => NativeLibraries.Register();

        /// <summary>NVRTC's version as tuning keys name it ("13.0").</summary>
        public static string VersionText => $"{Version.Major}.{Version.Minor}";

        /// <summary>NVRTC's version, or a message saying why it is unavailable.</summary>
        public static (int Major, int Minor) Version
        {
            get
            {
                try
                {
                    Check(NvrtcNative.nvrtcVersion(out int major, out int minor), "nvrtcVersion", "");
                    return (major, minor);
                }
                catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
                {
                    throw new NvrtcUnavailableException(
                        "NVRTC (libnvrtc.so) was not found. Tried: " + string.Join(", ", NativeLibraries.NvrtcCandidates().Take(6)) + ", …. "
                        + $"Install the CUDA toolkit's NVRTC, or run tests/setup/install-nvrtc.sh and set {NativeLibraries.NvrtcEnvironmentVariable} to the libnvrtc.so.12 it prints.", e);
                }
            }
        }

        public static bool IsAvailable
        {
            get
            {
                try
                {
                    _ = Version;
                    return true;
                }
                catch (NvrtcUnavailableException)
                {
                    return false;
                }
            }
        }

        /// <summary>The real architectures this NVRTC can generate code for, as compute capabilities (80, 89, 90, …).</summary>
        public static IReadOnlyList<int> SupportedArchs()
        {
            Check(NvrtcNative.nvrtcGetNumSupportedArchs(out int count), "nvrtcGetNumSupportedArchs", "");
            var archs = new int[count];
            Check(NvrtcNative.nvrtcGetSupportedArchs(archs), "nvrtcGetSupportedArchs", "");
            return archs;
        }

        /// <summary>Compiles one emitted kernel for <paramref name="arch"/> (sm_80, sm_89, sm_90, sm_90a; sm_90 is taken as sm_90a
        /// for a kernel that needs it) with line info.</summary>
        /// <param name="ptxasInfo">ptxas's resource lines in the log too (registers, stack frame, spill stores and loads).</param>
        public static KernelCompilation Compile(KernelSource kernel, string arch, bool ptxasInfo = false)
        {
            if (kernel.Source is null) throw new ArgumentException($"{kernel.Name} has no source: {kernel.PendingReason}", nameof(kernel));
            arch = kernel.TargetFor(arch);
            _ = Version;
            string fileName = kernel.FileName;
            Check(NvrtcNative.nvrtcCreateProgram(out IntPtr program, kernel.Source, fileName, 0, IntPtr.Zero, IntPtr.Zero),
                "nvrtcCreateProgram", "the source could not be registered with NVRTC");
            var options = ptxasInfo ? Options(arch).Append("--ptxas-options=-v").ToArray() : Options(arch);
            var optionPointers = options.Select(o => Marshal.StringToCoTaskMemUTF8(o)).ToArray();
            try
            {
                int result = NvrtcNative.nvrtcCompileProgram(program, options.Length, optionPointers);
                string log = ProgramLog(program);
                if (result == 6 /* NVRTC_ERROR_COMPILATION */)
                    return new KernelCompilation(kernel.Name, arch, null, log, OffendingLines(kernel.Source, log));
                Check(result, "nvrtcCompileProgram", result == 5 ? $"NVRTC {Version.Major}.{Version.Minor} does not accept the options {string.Join(" ", options)} (is {arch} supported by this NVRTC?)" : log);
                Check(NvrtcNative.nvrtcGetCUBINSize(program, out nuint size), "nvrtcGetCUBINSize", "");
                var cubin = new byte[(int)size];
                Check(NvrtcNative.nvrtcGetCUBIN(program, cubin), "nvrtcGetCUBIN", "");
                return new KernelCompilation(kernel.Name, arch, cubin, log, Array.Empty<string>());
            }
            finally
            {
                foreach (var p in optionPointers) Marshal.FreeCoTaskMem(p);
                NvrtcNative.nvrtcDestroyProgram(ref program);
            }
        }

        /// <summary>The NVRTC options for an architecture: exact machine code (CUBIN), C++17, line info for profilers.</summary>
        public static string[] Options(string arch) => new[] { "--gpu-architecture=" + arch, "-std=c++17", "-lineinfo", "--fmad=true" };

        private static string ProgramLog(IntPtr program)
        {
            Check(NvrtcNative.nvrtcGetProgramLogSize(program, out nuint size), "nvrtcGetProgramLogSize", "");
            if (size <= 1) return "";
            var buffer = new byte[(int)size];
            Check(NvrtcNative.nvrtcGetProgramLog(program, buffer), "nvrtcGetProgramLog", "");
            return Encoding.UTF8.GetString(buffer, 0, buffer.Length - 1).Trim();
        }

        /// <summary>For each line the log blames, that emitted line with its number, so errors read without opening a file.</summary>
        internal static IReadOnlyList<string> OffendingLines(string source, string log)
        {
            var lines = source.Split('\n');
            var result = new List<string>();
            foreach (Match m in LogLocation.Matches(log))
            {
                int n = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
                if (n >= 1 && n <= lines.Length)
                {
                    string text = $"{n,5} | {lines[n - 1].TrimEnd()}";
                    if (!result.Contains(text)) result.Add(text);
                }
            }
            return result;
        }

        private static void Check(int result, string call, string hint)
        {
            if (result != 0) throw new NvrtcException(call, result, hint.Length > 0 ? hint : "see NVRTC's documentation for this result");
        }

        public static string ResultName(int result) => result switch
        {
            0 => "NVRTC_SUCCESS",
            1 => "NVRTC_ERROR_OUT_OF_MEMORY",
            2 => "NVRTC_ERROR_PROGRAM_CREATION_FAILURE",
            3 => "NVRTC_ERROR_INVALID_INPUT",
            4 => "NVRTC_ERROR_INVALID_PROGRAM",
            5 => "NVRTC_ERROR_INVALID_OPTION",
            6 => "NVRTC_ERROR_COMPILATION",
            7 => "NVRTC_ERROR_BUILTIN_OPERATION_FAILURE",
            8 => "NVRTC_ERROR_NO_NAME_EXPRESSIONS_AFTER_COMPILATION",
            9 => "NVRTC_ERROR_NO_LOWERED_NAMES_BEFORE_COMPILATION",
            10 => "NVRTC_ERROR_NAME_EXPRESSION_NOT_VALID",
            11 => "NVRTC_ERROR_INTERNAL_ERROR",
            12 => "NVRTC_ERROR_TIME_FILE_WRITE_FAILED",
            _ => "NVRTC_ERROR_" + result.ToString(CultureInfo.InvariantCulture),
        };
    }
}
