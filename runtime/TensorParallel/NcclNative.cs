using System;
using System.Runtime.InteropServices;
using GraphCompiler.Runtime.Cuda;

namespace GraphCompiler.Runtime.TensorParallel
{
    /// <summary>The NCCL entry points the runtime uses, and only those (nccl.h, 2.13 or later); results through <see cref="NcclException.Check"/>.</summary>
    internal static unsafe partial class NcclNative
    {
        private const string Lib = NativeLibraries.NcclName;

        internal const int Success = 0, InProgress = 7;
        internal const int Float16 = 6, Float32 = 7, BFloat16 = 9;
        internal const int Sum = 0;

        [LibraryImport(Lib)] internal static partial int ncclGetVersion(out int version);
        [LibraryImport(Lib)] internal static partial int ncclCommInitAll(IntPtr* comms, int count, int* devices);
        [LibraryImport(Lib)] internal static partial int ncclCommDestroy(IntPtr comm);
        [LibraryImport(Lib)] internal static partial int ncclCommAbort(IntPtr comm);
        [LibraryImport(Lib)] internal static partial int ncclCommGetAsyncError(IntPtr comm, out int asyncError);
        [LibraryImport(Lib)] internal static partial int ncclAllReduce(ulong send, ulong receive, nuint count, int dtype, int op, IntPtr comm, IntPtr stream);
        [LibraryImport(Lib)] internal static partial int ncclGroupStart();
        [LibraryImport(Lib)] internal static partial int ncclGroupEnd();
        [LibraryImport(Lib)] internal static partial IntPtr ncclGetErrorString(int result);
        [LibraryImport(Lib)] internal static partial IntPtr ncclGetLastError(IntPtr comm);

        [LibraryImport("libc.so.6", StringMarshalling = StringMarshalling.Utf8)] internal static partial int setenv(string name, string value, int overwrite);
    }

    public sealed class NcclException : Exception
    {
        public NcclException(string call, int result, string message) : base(message)
        {
            Call = call;
            Result = result;
        }

        public string Call { get; }
        public int Result { get; }

        internal static void Check(int result, string call, IntPtr comm = default)
        {
            if (result == NcclNative.Success) return;
            string text = Marshal.PtrToStringUTF8(NcclNative.ncclGetErrorString(result)) ?? "no description";
            string? last = Marshal.PtrToStringUTF8(NcclNative.ncclGetLastError(comm));
            throw new NcclException(call, result, $"{call} failed with NCCL result {result} ({text})" + (string.IsNullOrEmpty(last) ? "" : $": {last}")
                + ". Run with NCCL_DEBUG=WARN for NCCL's own account");
        }
    }
}
