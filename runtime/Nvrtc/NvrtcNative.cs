using System;
using System.Runtime.InteropServices;
using GraphCompiler.Runtime.Cuda;

namespace GraphCompiler.Runtime.Nvrtc
{
    /// <summary>The NVRTC entry points the runtime uses (nvrtc.h), bound through <see cref="NativeLibraries"/>.</summary>
    internal static partial class NvrtcNative
    {
        [LibraryImport(NativeLibraries.NvrtcName)]
        internal static partial int nvrtcVersion(out int major, out int minor);

        [LibraryImport(NativeLibraries.NvrtcName)]
        internal static partial IntPtr nvrtcGetErrorString(int result);

        [LibraryImport(NativeLibraries.NvrtcName, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int nvrtcCreateProgram(out IntPtr program, string source, string name, int numHeaders, IntPtr headers, IntPtr includeNames);

        [LibraryImport(NativeLibraries.NvrtcName)]
        internal static partial int nvrtcCompileProgram(IntPtr program, int numOptions, IntPtr[] options);

        [LibraryImport(NativeLibraries.NvrtcName)]
        internal static partial int nvrtcGetProgramLogSize(IntPtr program, out nuint size);

        [LibraryImport(NativeLibraries.NvrtcName)]
        internal static partial int nvrtcGetProgramLog(IntPtr program, byte[] log);

        [LibraryImport(NativeLibraries.NvrtcName)]
        internal static partial int nvrtcGetCUBINSize(IntPtr program, out nuint size);

        [LibraryImport(NativeLibraries.NvrtcName)]
        internal static partial int nvrtcGetCUBIN(IntPtr program, byte[] cubin);

        [LibraryImport(NativeLibraries.NvrtcName)]
        internal static partial int nvrtcDestroyProgram(ref IntPtr program);

        [LibraryImport(NativeLibraries.NvrtcName)]
        internal static partial int nvrtcGetNumSupportedArchs(out int count);

        [LibraryImport(NativeLibraries.NvrtcName)]
        internal static partial int nvrtcGetSupportedArchs(int[] archs);
    }
}
