using System;
using System.Runtime.InteropServices;

namespace GraphCompiler.Runtime.Cuda
{
    /// <summary>A CUDA driver call failed: the CUresult's name, the call, and what the user can do about it.</summary>
    public sealed class CudaException : Exception
    {
        public CudaException(string call, int result, string name, string description)
            : base($"{call} failed with {name} ({result}): {description}. {Hint(result)}")
        {
            Call = call;
            Result = result;
            ResultName = name;
        }

        public string Call { get; }
        public int Result { get; }
        public string ResultName { get; }

        internal static void Check(int result, string call)
        {
            if (result == 0) return;
            string name = "CUDA_ERROR_" + result, description = "no description from the driver";
            try
            {
                if (CudaNative.cuGetErrorName(result, out IntPtr n) == 0 && n != IntPtr.Zero) name = Marshal.PtrToStringUTF8(n) ?? name;
                if (CudaNative.cuGetErrorString(result, out IntPtr d) == 0 && d != IntPtr.Zero) description = Marshal.PtrToStringUTF8(d) ?? description;
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
            }
            throw new CudaException(call, result, name, description);
        }

        private static string Hint(int result) => result switch
        {
            2 => "The GPU is out of memory: lower limits.max_num_batched_tokens or max_num_seqs, or the memory budget.",
            3 or 4 => "The CUDA driver is not initialised or is shutting down.",
            35 => "The installed NVIDIA driver is older than this CUDA feature needs: update the driver.",
            100 => "No CUDA-capable GPU is visible: check nvidia-smi and CUDA_VISIBLE_DEVICES.",
            200 or 209 or 218 or 222 => "The compiled kernel does not match this GPU or driver: clear the kernel cache (GRAPHC_CACHE_DIR) and recompile for this architecture.",
            700 or 719 => "A kernel faulted; the context is unusable. Run graphc selftest to find which kernel.",
            701 => "The launch asks for more registers or shared memory than the GPU has: choose smaller tiles.",
            _ => "",
        };
    }

    /// <summary>No driver or no GPU: said plainly, so commands that need a GPU can explain and the CPU backend can take over.</summary>
    public sealed class GpuUnavailableException : Exception
    {
        public GpuUnavailableException(string message, Exception? inner = null) : base(message, inner) { }
    }
}
