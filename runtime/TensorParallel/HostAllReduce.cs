using System;
using System.Threading;
using GraphCompiler.Runtime.Reference;

namespace GraphCompiler.Runtime.TensorParallel
{
    /// <summary>
    /// The all-reduce of ranks that are threads of this process, over activation-dtype buffers in host memory (the CPU
    /// backend's ranks, and GPU ranks whose exchange is staged through the host). Every rank calls <see cref="Sum"/> with
    /// its buffer; each sums its own stretch of elements across all ranks in rank order, in float32, rounds once, and
    /// writes the result into every rank's buffer, so all ranks end with the same bits. One call at a time per rank; a
    /// failed rank <see cref="Abort"/>s the group so the others stop waiting instead of hanging.
    /// </summary>
    public sealed class HostAllReduce : IDisposable
    {
        private readonly Barrier _barrier;
        private readonly ushort[][] _parts;
        private readonly CancellationTokenSource _abort = new CancellationTokenSource();

        public HostAllReduce(int ranks)
        {
            if (ranks < 1) throw new ArgumentOutOfRangeException(nameof(ranks), ranks, "at least one rank");
            Ranks = ranks;
            _barrier = new Barrier(ranks);
            _parts = new ushort[ranks][];
        }

        public int Ranks { get; }

        /// <summary>Replaces the first <paramref name="count"/> elements of <paramref name="data"/> with their sum over the ranks.</summary>
        public void Sum(int rank, ushort[] data, int count, ActivationCodec act)
        {
            if (rank < 0 || rank >= Ranks) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"ranks are 0 .. {Ranks - 1}");
            if (count > data.Length) throw new ArgumentOutOfRangeException(nameof(count), count, $"the buffer holds {data.Length}");
            _parts[rank] = data;
            _barrier.SignalAndWait(_abort.Token);
            int begin = (int)((long)count * rank / Ranks), end = (int)((long)count * (rank + 1) / Ranks);
            for (int i = begin; i < end; i++)
            {
                float sum = 0;
                for (int r = 0; r < Ranks; r++) sum += act.Load(_parts[r][i]);
                ushort bits = act.Store(sum);
                for (int r = 0; r < Ranks; r++) _parts[r][i] = bits;
            }
            _barrier.SignalAndWait(_abort.Token);   // nobody reads its buffer before every stretch is written
        }

        /// <summary>Wakes every rank waiting in <see cref="Sum"/> with an <see cref="OperationCanceledException"/>; the group is unusable after.</summary>
        public void Abort() => _abort.Cancel();

        public void Dispose()
        {
            _barrier.Dispose();
            _abort.Dispose();
        }
    }
}
