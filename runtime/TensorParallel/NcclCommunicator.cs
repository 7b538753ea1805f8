using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GraphCompiler.Common;
using GraphCompiler.Runtime.Cuda;

namespace GraphCompiler.Runtime.TensorParallel
{
    /// <summary>
    /// One rank of an NCCL communicator over GPUs of this host, made together for all of them by one process
    /// (ncclCommInitAll), each then driven by its own thread. The all-reduce is queued on the rank's stream and can be
    /// captured into its decode graph. NVLink multicast (NVLS) is switched off unless the environment sets it, since the
    /// machines this runs on must keep it off.
    /// </summary>
    public sealed class NcclCommunicator : IDeviceAllReduce, IDisposable
    {
        private IntPtr _comm;

        private NcclCommunicator(IntPtr comm, int rank, int ranks)
        {
            _comm = comm;
            Rank = rank;
            Ranks = ranks;
        }

        public int Rank { get; }
        public int Ranks { get; }
        public bool Capturable => true;

        /// <summary>NCCL's version as "2.27.3"; throws <see cref="DllNotFoundException"/> with where it looked when there is no libnccl.</summary>
        public static string Version()
        {
            NativeLibraries.Register();
            try
            {
                NcclException.Check(NcclNative.ncclGetVersion(out int v), "ncclGetVersion");
                return $"{v / 10000}.{v / 100 % 100}.{v % 100}";
            }
            catch (DllNotFoundException e)
            {
                throw new DllNotFoundException("NCCL was not found (libnccl.so.2; tried " + string.Join(", ", NativeLibraries.NcclCandidates().Take(4))
                    + $", …). Set {NativeLibraries.NcclEnvironmentVariable} to a libnccl.so.2 (PyTorch's wheel has one in site-packages/nvidia/nccl/lib), "
                    + "or stage the exchange through host memory (--tp-staged)", e);
            }
        }

        /// <summary>One communicator a GPU, rank r on <paramref name="devices"/>[r] (CUDA ordinals, each once).</summary>
        public static unsafe NcclGroup InitAll(IReadOnlyList<int> devices)
        {
            Version();
            if (devices.Distinct().Count() != devices.Count)
                throw new ArgumentException($"NCCL ranks need a GPU each, and devices {string.Join(", ", devices)} repeat one; stage the exchange through host memory to share GPUs", nameof(devices));
            if (Environment.GetEnvironmentVariable("NCCL_NVLS_ENABLE") is null) NcclNative.setenv("NCCL_NVLS_ENABLE", "0", 0);
            var comms = new IntPtr[devices.Count];
            var ordinals = devices.ToArray();
            fixed (IntPtr* c = comms)
            fixed (int* d = ordinals)
                NcclException.Check(NcclNative.ncclCommInitAll(c, ordinals.Length, d), "ncclCommInitAll");
            return new NcclGroup(comms.Select((comm, r) => new NcclCommunicator(comm, r, comms.Length)).ToArray());
        }

        public void Sum(DeviceAddress buffer, long elements, DType dtype, CudaStream stream)
        {
            int type = dtype switch
            {
                DType.F16 => NcclNative.Float16,
                DType.BF16 => NcclNative.BFloat16,
                DType.F32 => NcclNative.Float32,
                _ => throw new NotSupportedException($"the all-reduce sums fp16, bf16 or fp32, not {dtype}"),
            };
            var comm = Volatile.Read(ref _comm);
            if (comm == IntPtr.Zero) throw new InvalidOperationException($"rank {Rank}'s NCCL communicator was aborted (another rank failed) or disposed");
            NcclException.Check(NcclNative.ncclAllReduce(buffer.Value, buffer.Value, (nuint)elements, type, NcclNative.Sum, comm, stream.Handle), "ncclAllReduce", comm);
        }

        /// <summary>Ends every pending operation of the communicator (another rank failed): ranks waiting on it fail instead of
        /// hanging. NCCL returns only once the CUDA graphs that captured it are destroyed (<see cref="NcclGroup.Abort"/> runs it apart).</summary>
        internal void Abort()
        {
            var comm = Interlocked.Exchange(ref _comm, IntPtr.Zero);
            if (comm != IntPtr.Zero) NcclNative.ncclCommAbort(comm);
        }

        public void Dispose()
        {
            var comm = Interlocked.Exchange(ref _comm, IntPtr.Zero);
            if (comm != IntPtr.Zero) NcclNative.ncclCommDestroy(comm);
        }
    }

    /// <summary>
    /// The communicators of one split. A failed rank aborts them all, once, on a thread of its own: the abort flags the
    /// pending operations at once (the other ranks' kernels exit and their steps fail) but returns only after the decode
    /// graphs that captured the communicators are destroyed, which their owners do after the step has unwound.
    /// <see cref="Dispose"/> (after those owners) waits for that, or destroys the communicators.
    /// </summary>
    public sealed class NcclGroup : IDisposable
    {
        private int _aborting;
        private Task? _aborted;

        internal NcclGroup(NcclCommunicator[] ranks) => Ranks = ranks;

        public IReadOnlyList<NcclCommunicator> Ranks { get; }

        public void Abort()
        {
            if (Interlocked.Exchange(ref _aborting, 1) == 0) _aborted = Task.Run(() => { foreach (var c in Ranks) c.Abort(); });
        }

        public void Dispose()
        {
            _aborted?.Wait();
            foreach (var c in Ranks) c.Dispose();
        }
    }
}
