using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Compilation;
using GraphCompiler.Graph;
using GraphCompiler.Runtime.Compilation;
using GraphCompiler.Runtime.Cuda;
using GraphCompiler.Runtime.SelfTest;

namespace GraphCompiler.Runtime.Bench
{
    /// <summary>One kernel's timing: the median over many launches, and what it moved against the measured copy bandwidth.</summary>
    public sealed record KernelTiming(string Kernel, KernelFamily Family, string Case, int Rows, double MedianMicroseconds, double MinMicroseconds,
        long Bytes, double GigabytesPerSecond, double RooflineFraction, int Registers, int SpillBytes);

    /// <summary>
    /// Times kernels with CUDA events: warm-up, then the median of many launches, cycling through enough copies of the
    /// inputs that the working set exceeds twice the L2 cache (so the numbers are DRAM's, not the cache's).
    /// </summary>
    public sealed class KernelBench
    {
        public const int WarmUp = 5;
        public const int Repetitions = 50;

        private readonly GpuKernels _kernels;

        public KernelBench(GpuKernels kernels) => _kernels = kernels;

        /// <summary>Device-to-device copy bandwidth, counting bytes read and written: the memory roofline.</summary>
        public double CopyBandwidth(CudaStream stream, long bytes = 1L << 30)
        {
            using var a = DeviceBuffer.Allocate(bytes);
            using var b = DeviceBuffer.Allocate(bytes);
            a.Fill(0x3C, stream);
            var times = Time(stream, () => b.CopyFrom(a, stream));
            return 2.0 * bytes / (Median(times) * 1e-3);
        }

        /// <summary>Every emitted kernel at the prefill row count (max_num_batched_tokens) and the decode one (max_num_seqs).</summary>
        public IEnumerable<KernelTiming> Run(CompiledModel model, KernelCaseFactory cases, double copyBandwidth, CudaStream stream)
        {
            var rowCounts = new[] { model.Spec.Limits.MaxNumSeqs, model.Spec.Limits.MaxNumBatchedTokens };
            foreach (var source in _kernels.Emitted(model))
            {
                using var kernel = _kernels.Load(source);
                var resources = kernel.Resources();
                var descriptor = model.Kernel(source.Name);
                var chosen = cases.For(descriptor).Where(c => descriptor is WeightDequantKernel || rowCounts.Any(r => c.Label.EndsWith("=" + r, StringComparison.Ordinal)));
                foreach (var testCase in chosen)
                {
                    var times = TimeCase(kernel, testCase, stream);
                    double median = Median(times);
                    long bytes = testCase.MinimumBytes;
                    double gbps = bytes / (median * 1e-3) / 1e9;
                    int rows = testCase.Grid.TryGetValue("T", out long t) ? (int)t : 0;
                    yield return new KernelTiming(source.Name, source.Family, testCase.Label, rows, median * 1000, times.Min() * 1000, bytes, gbps,
                        gbps * 1e9 / copyBandwidth, resources.Registers, resources.LocalBytes);
                }
            }
        }

        private List<double> TimeCase(CudaKernel kernel, KernelTestCase testCase, CudaStream stream)
        {
            long setBytes = Math.Max(1, testCase.Arrays.Values.Sum(a => (long)Buffer.ByteLength(a)));
            int copies = (int)Math.Clamp(2L * _kernels.Device.Info.L2CacheBytes / setBytes + 1, 1, 16);
            var sets = new List<Dictionary<string, DeviceBuffer>>();
            try
            {
                for (int i = 0; i < copies; i++)
                    sets.Add(testCase.Arrays.ToDictionary(p => p.Key, p => HostArrays.Upload(p.Value, stream)));
                int next = 0;
                return Time(stream, () =>
                {
                    var set = sets[next++ % sets.Count];
                    var arguments = set.ToDictionary(p => p.Key, p => (object)p.Value);
                    foreach (var (name, value) in testCase.Scalars) arguments[name] = value;
                    kernel.Launch(stream, arguments, testCase.Grid);
                });
            }
            finally
            {
                foreach (var set in sets)
                    foreach (var b in set.Values) b.Dispose();
            }
        }

        /// <summary>Milliseconds of each of <see cref="Repetitions"/> runs after <see cref="WarmUp"/> untimed ones.</summary>
        private static List<double> Time(CudaStream stream, Action work)
        {
            for (int i = 0; i < WarmUp; i++) work();
            stream.Synchronize();
            var result = new List<double>(Repetitions);
            using var timer = new CudaTimer();
            for (int i = 0; i < Repetitions; i++)
            {
                timer.Start(stream);
                work();
                timer.Stop(stream);
                result.Add(timer.ElapsedMilliseconds());
            }
            return result;
        }

        private static double Median(List<double> values)
        {
            var sorted = values.OrderBy(v => v).ToList();
            return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
        }
    }
}
