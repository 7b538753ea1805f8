using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using GraphCompiler.Common;
using GraphCompiler.Runtime.Cuda;
using GraphCompiler.Runtime.Reference;

namespace GraphCompiler.Runtime.TensorParallel
{
    /// <summary>One size of <see cref="AllReduceCheck"/>: whether every rank holds the exact sum, eagerly and replayed from a
    /// captured graph, and the time per all-reduce with its algorithm and bus bandwidth (nccl-tests' algbw and busbw:
    /// bytes / time, and that × 2(n − 1)/n, what each GPU's links carry).</summary>
    public sealed record AllReduceResult(long Bytes, int Ranks, int Mismatches, int GraphMismatches, double EagerMicroseconds, double GraphMicroseconds)
    {
        public double AlgorithmBytesPerSecond => Bytes / (GraphMicroseconds * 1e-6);
        public double BusBytesPerSecond => AlgorithmBytesPerSecond * 2.0 * (Ranks - 1) / Ranks;
    }

    /// <summary>
    /// Checks and times the tensor-parallel exchange with NCCL over this host's first n GPUs, as the decode step uses it:
    /// a communicator a GPU, a thread a rank, an in-place sum of fp16 buffers on each rank's stream, eagerly and captured
    /// into a CUDA graph. Each rank's values are small integers, so the sum is exact in fp16 and every rank must hold it bit
    /// for bit.
    /// </summary>
    public static class AllReduceCheck
    {
        private const int Repetitions = 20;

        public static IReadOnlyList<AllReduceResult> Run(int gpus, IReadOnlyList<long> sizes)
        {
            var devices = new List<CudaDevice>();
            try
            {
                for (int d = 0; d < gpus; d++) devices.Add(CudaDevice.Open(d));
                using var comms = NcclCommunicator.InitAll(Enumerable.Range(0, gpus).ToList());
                return sizes.Select(bytes => Size(devices, comms, bytes)).ToList();
            }
            finally
            {
                foreach (var d in devices) d.Dispose();
            }
        }

        private static AllReduceResult Size(List<CudaDevice> devices, NcclGroup group, long bytes)
        {
            int n = devices.Count, count = checked((int)(bytes / 2));
            var act = ActivationCodec.F16;
            ushort Value(int rank, int i) => act.Store((i * 7 + rank * 13) % 17 - 8);
            var expected = Enumerable.Range(0, count).Select(i => act.Store(Enumerable.Range(0, n).Sum(r => act.Load(Value(r, i))))).ToArray();
            var mismatches = new int[n];
            var graphMismatches = new int[n];
            var eager = new double[n];
            var graphed = new double[n];
            var comms = group.Ranks;
            OnEachRank(devices, group, r =>
            {
                using var stream = new CudaStream();
                using var buffer = DeviceBuffer.Allocate(bytes);
                var values = Enumerable.Range(0, count).Select(i => Value(r, i)).ToArray();
                int Check()
                {
                    var back = buffer.Download<ushort>(stream);
                    return back.Zip(expected).Count(p => p.First != p.Second);
                }
                buffer.Upload<ushort>(values, stream);
                comms[r].Sum(buffer.Address, count, DType.F16, stream);
                stream.Synchronize();
                mismatches[r] = Check();

                using var graph = stream.Capture(() => comms[r].Sum(buffer.Address, count, DType.F16, stream));
                buffer.Upload<ushort>(values, stream);
                graph.Launch(stream);
                stream.Synchronize();
                graphMismatches[r] = Check();

                // Timed on zeros: repeated in-place sums of the values would overflow.
                buffer.Fill(0, stream);
                eager[r] = Time(stream, () => comms[r].Sum(buffer.Address, count, DType.F16, stream));
                graphed[r] = Time(stream, () => graph.Launch(stream));
            });
            return new AllReduceResult(bytes, n, mismatches.Sum(), graphMismatches.Sum(), eager.Max(), graphed.Max());
        }

        private static double Time(CudaStream stream, Action run)
        {
            for (int i = 0; i < 3; i++) run();
            stream.Synchronize();
            using var timer = new CudaTimer();
            timer.Start(stream);
            for (int i = 0; i < Repetitions; i++) run();
            timer.Stop(stream);
            return timer.ElapsedMilliseconds() * 1000.0 / Repetitions;
        }

        /// <summary>Runs <paramref name="work"/> for every rank at once, a thread each with its GPU current; a failed rank aborts
        /// the communicators so the others stop waiting for it; rethrows the first failure.</summary>
        private static void OnEachRank(List<CudaDevice> devices, NcclGroup group, Action<int> work)
        {
            var errors = new Exception?[devices.Count];
            Exception? first = null;
            var threads = devices.Select((d, r) => new Thread(() =>
            {
                try
                {
                    d.MakeCurrent();
                    work(r);
                }
                catch (Exception e)
                {
                    errors[r] = e;
                    Interlocked.CompareExchange(ref first, e, null);
                    group.Abort();
                }
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            if (first != null) throw new InvalidOperationException($"rank {Array.IndexOf(errors, first)}: {first.Message}", first);
        }
    }
}
