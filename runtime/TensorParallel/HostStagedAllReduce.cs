using System;
using GraphCompiler.Common;
using GraphCompiler.Runtime.Cuda;
using GraphCompiler.Runtime.Reference;

namespace GraphCompiler.Runtime.TensorParallel
{
    /// <summary>
    /// A GPU rank's all-reduce through host memory (<see cref="HostAllReduce"/>): wait for the stream, copy the buffer
    /// down, sum with the other ranks' threads, copy it back. It needs no NCCL and lets ranks share a GPU, so a split can
    /// be checked on one GPU; it waits on the host twice a layer, so it is for checking, not for speed (and a decode step
    /// with it runs launch by launch, not as a CUDA graph).
    /// </summary>
    public sealed class HostStagedAllReduce : IDeviceAllReduce, IDisposable
    {
        private readonly HostAllReduce _group;
        private PinnedHostBuffer _pinned = new PinnedHostBuffer(1);
        private ushort[] _values = Array.Empty<ushort>();

        public HostStagedAllReduce(HostAllReduce group, int rank)
        {
            _group = group;
            Rank = rank;
        }

        public int Rank { get; }
        public int Ranks => _group.Ranks;
        public bool Capturable => false;

        public void Sum(DeviceAddress buffer, long elements, DType dtype, CudaStream stream)
        {
            if (dtype is not (DType.F16 or DType.BF16)) throw new NotSupportedException($"the staged all-reduce sums fp16 or bf16 activations, not {dtype}");
            int count = checked((int)elements);
            if (_pinned.Bytes < 2L * count)
            {
                _pinned.Dispose();
                _pinned = new PinnedHostBuffer(2L * count);
                _values = new ushort[count];
            }
            _pinned.Download(buffer, 0, 2L * count, stream);
            stream.Synchronize();
            _pinned.Slice<ushort>(0, count).CopyTo(_values);
            _group.Sum(Rank, _values, count, ActivationCodec.For(dtype));
            _values.AsSpan(0, count).CopyTo(_pinned.Slice<ushort>(0, count));
            _pinned.Upload(0, buffer, 2L * count, stream);
            stream.Synchronize();   // the pinned buffer is reused by the next call
        }

        public void Dispose() => _pinned.Dispose();
    }
}
