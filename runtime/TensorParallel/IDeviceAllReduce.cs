using GraphCompiler.Common;
using GraphCompiler.Runtime.Cuda;

namespace GraphCompiler.Runtime.TensorParallel
{
    /// <summary>One GPU rank's side of the tensor-parallel exchange: sums a device buffer over the ranks, in place, queued
    /// on the rank's stream (every rank makes the same calls in the same order).</summary>
    public interface IDeviceAllReduce
    {
        int Rank { get; }
        int Ranks { get; }

        /// <summary>Whether <see cref="Sum"/> can be captured into a CUDA graph (it queues device work only, no host wait).</summary>
        bool Capturable { get; }

        void Sum(DeviceAddress buffer, long elements, DType dtype, CudaStream stream);
    }
}
