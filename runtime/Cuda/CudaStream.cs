using System;
using System.Collections.Generic;

namespace GraphCompiler.Runtime.Cuda
{
    /// <summary>A CUDA stream; also where CUDA graphs are captured and replayed.</summary>
    public sealed class CudaStream : IDisposable
    {
        private IntPtr _handle;

        public CudaStream()
        {
            CudaException.Check(CudaNative.cuStreamCreate(out _handle, 1 /* CU_STREAM_NON_BLOCKING */), "cuStreamCreate");
        }

        public IntPtr Handle => _handle;

        public void Synchronize() => CudaException.Check(CudaNative.cuStreamSynchronize(_handle), "cuStreamSynchronize");

        /// <summary>Records every launch <paramref name="work"/> issues on this stream into a graph instead of running it.</summary>
        public CudaGraph Capture(Action work)
        {
            CudaException.Check(CudaNative.cuStreamBeginCapture_v2(_handle, CudaNative.CaptureModeThreadLocal), "cuStreamBeginCapture_v2");
            IntPtr graph = IntPtr.Zero;
            try
            {
                work();
            }
            finally
            {
                CudaException.Check(CudaNative.cuStreamEndCapture(_handle, out graph), "cuStreamEndCapture");
            }
            return new CudaGraph(graph);
        }

        public void Dispose()
        {
            if (_handle == IntPtr.Zero) return;
            CudaNative.cuStreamDestroy_v2(_handle);
            _handle = IntPtr.Zero;
        }
    }

    /// <summary>A captured and instantiated CUDA graph: one launch replays every captured kernel (the decode step).</summary>
    public sealed class CudaGraph : IDisposable
    {
        private IntPtr _graph;
        private IntPtr _exec;

        internal CudaGraph(IntPtr graph)
        {
            _graph = graph;
            CudaException.Check(CudaNative.cuGraphInstantiateWithFlags(out _exec, graph, 0), "cuGraphInstantiateWithFlags");
        }

        public void Launch(CudaStream stream) => CudaException.Check(CudaNative.cuGraphLaunch(_exec, stream.Handle), "cuGraphLaunch");

        public void Dispose()
        {
            if (_exec != IntPtr.Zero) CudaNative.cuGraphExecDestroy(_exec);
            if (_graph != IntPtr.Zero) CudaNative.cuGraphDestroy(_graph);
            _exec = _graph = IntPtr.Zero;
        }
    }

    /// <summary>A point in a stream's work: record it, then wait on the host until the stream has passed it.</summary>
    public sealed class CudaEvent : IDisposable
    {
        private IntPtr _event;

        public CudaEvent() => CudaException.Check(CudaNative.cuEventCreate(out _event, 2 /* CU_EVENT_DISABLE_TIMING */), "cuEventCreate");

        public void Record(CudaStream stream) => CudaException.Check(CudaNative.cuEventRecord(_event, stream.Handle), "cuEventRecord");

        public void Synchronize() => CudaException.Check(CudaNative.cuEventSynchronize(_event), "cuEventSynchronize");

        public void Dispose()
        {
            if (_event == IntPtr.Zero) return;
            CudaNative.cuEventDestroy_v2(_event);
            _event = IntPtr.Zero;
        }
    }

    /// <summary>
    /// Events recorded between pieces of work queued back to back on a stream: the device time of each piece, with no host
    /// wait (and so no idle device) between them.
    /// </summary>
    public sealed class CudaTimeline : IDisposable
    {
        private readonly IntPtr[] _marks;

        /// <param name="pieces">Pieces of work to time: one more mark than that.</param>
        public CudaTimeline(int pieces)
        {
            _marks = new IntPtr[pieces + 1];
            for (int i = 0; i < _marks.Length; i++) CudaException.Check(CudaNative.cuEventCreate(out _marks[i], 0), "cuEventCreate");
        }

        /// <summary>Queues each piece between two marks; then waits for the last and returns each piece's milliseconds.</summary>
        public List<double> Time(CudaStream stream, Action<int> piece)
        {
            CudaException.Check(CudaNative.cuEventRecord(_marks[0], stream.Handle), "cuEventRecord");
            for (int i = 1; i < _marks.Length; i++)
            {
                piece(i - 1);
                CudaException.Check(CudaNative.cuEventRecord(_marks[i], stream.Handle), "cuEventRecord");
            }
            CudaException.Check(CudaNative.cuEventSynchronize(_marks[^1]), "cuEventSynchronize");
            var result = new List<double>(_marks.Length - 1);
            for (int i = 1; i < _marks.Length; i++)
            {
                CudaException.Check(CudaNative.cuEventElapsedTime(out float ms, _marks[i - 1], _marks[i]), "cuEventElapsedTime");
                result.Add(ms);
            }
            return result;
        }

        public void Dispose()
        {
            for (int i = 0; i < _marks.Length; i++)
                if (_marks[i] != IntPtr.Zero) CudaNative.cuEventDestroy_v2(_marks[i]);
            Array.Clear(_marks);
        }
    }

    /// <summary>A pair of events around work on a stream: elapsed device time without synchronising the host in between.</summary>
    public sealed class CudaTimer : IDisposable
    {
        private IntPtr _start, _end;

        public CudaTimer()
        {
            CudaException.Check(CudaNative.cuEventCreate(out _start, 0), "cuEventCreate");
            CudaException.Check(CudaNative.cuEventCreate(out _end, 0), "cuEventCreate");
        }

        public void Start(CudaStream stream) => CudaException.Check(CudaNative.cuEventRecord(_start, stream.Handle), "cuEventRecord");
        public void Stop(CudaStream stream) => CudaException.Check(CudaNative.cuEventRecord(_end, stream.Handle), "cuEventRecord");

        public float ElapsedMilliseconds()
        {
            CudaException.Check(CudaNative.cuEventSynchronize(_end), "cuEventSynchronize");
            CudaException.Check(CudaNative.cuEventElapsedTime(out float ms, _start, _end), "cuEventElapsedTime");
            return ms;
        }

        public void Dispose()
        {
            if (_start != IntPtr.Zero) CudaNative.cuEventDestroy_v2(_start);
            if (_end != IntPtr.Zero) CudaNative.cuEventDestroy_v2(_end);
            _start = _end = IntPtr.Zero;
        }
    }
}
