using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Compilation;
using GraphCompiler.Graph;
using GraphCompiler.Runtime.Compilation;
using GraphCompiler.Runtime.Cuda;
using GraphCompiler.Runtime.SelfTest;
using GraphCompiler.Kernels.Gemm;
using GraphCompiler.Spec;

namespace GraphCompiler.Runtime.Bench
{
    /// <summary>One kernel's timing: the median over many launches, and what it moved against the measured copy bandwidth.</summary>
    /// <remarks>GEMMs and attention add their rate (<see cref="Teraflops"/>) and, in a sweep, the check against the CPU reference run
    /// just before. <see cref="LocalBytes"/> is local memory per thread: register spills, or a stack frame (sincosf's reduction keeps one).</remarks>
    public sealed record KernelTiming(string Kernel, KernelFamily Family, string Case, int Rows, double MedianMicroseconds, double MinMicroseconds,
        long Bytes, double GigabytesPerSecond, double RooflineFraction, int Registers, int LocalBytes, double? Teraflops = null, SelfTestResult? Check = null);

    /// <summary>
    /// Times kernels with CUDA events around CUDA-graph replays (<see cref="TimeCase"/>): warm-up, then the median of many,
    /// cycling through enough copies of the inputs that the working set exceeds twice the L2 cache (so the numbers are
    /// DRAM's, not the cache's).
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
            var times = Time(stream, _ => b.CopyFrom(a, stream));
            return 2.0 * bytes / (Median(times) * 1e-3);
        }

        /// <summary>
        /// Every emitted kernel at the prefill row count (max_num_batched_tokens) and the decode one (max_num_seqs); prefill
        /// attention as one prompt of max_num_batched_tokens tokens.
        /// </summary>
        public IEnumerable<KernelTiming> Run(CompiledModel model, KernelCaseFactory cases, double copyBandwidth, CudaStream stream)
        {
            var rowCounts = new[] { model.Spec.Limits.MaxNumSeqs, model.Spec.Limits.MaxNumBatchedTokens };
            foreach (var source in _kernels.Emitted(model))
            {
                using var kernel = _kernels.Load(source);
                var descriptor = model.Kernel(source.Name);
                var chosen = descriptor is PrefillAttentionKernel { WriteFp8: false } prefill
                    ? new[] { cases.PrefillAttentionUniform(prefill, 1, model.Spec.Limits.MaxNumBatchedTokens, 0) }
                    : cases.For(descriptor).Where(c => descriptor is WeightDequantKernel or GemmKernel or DecodeAttentionKernel || rowCounts.Any(r => c.Label.EndsWith("=" + r, StringComparison.Ordinal)));
                foreach (var testCase in chosen)
                    yield return Timing(kernel, testCase, copyBandwidth, stream, null);
            }
        }

        /// <summary>
        /// The GEMM shape sweep: each weight scheme the spec uses (fp16/bf16, FP8, INT4) at each K×N and row count, on the
        /// tiles the GPU backend would use for that many rows (<see cref="FamilyFor"/>); every case is checked against the CPU
        /// reference (sampled rows) before it is timed.
        /// </summary>
        public IEnumerable<KernelTiming> RunGemmSweep(CompiledModel model, IReadOnlyList<(int K, int N)> shapes, IReadOnlyList<int> rowCounts,
            KernelCaseFactory cases, ArchTiles tiles, double copyBandwidth, CudaStream stream)
        {
            var runner = new SelfTestRunner(_kernels);
            var schemes = model.Plan.Kernels.OfType<GemmKernel>().Select(g => g.Scheme).Distinct().ToList();
            foreach (var scheme in schemes)
                foreach (var (k, n) in shapes)
                    foreach (var group in rowCounts.GroupBy(m => FamilyFor(scheme.Method, m, model.Spec.Limits.MaxNumSeqs, tiles)))
                    {
                        var family = group.Key;
                        var t = tiles.Gemm(family);
                        string name = $"gemm_{scheme.Tag()}_k{k}_n{n}_{family.Phase()}{(family.IsDecodeBatch() ? "_batch" : "")}_t{t.BlockM}x{t.BlockN}x{t.BlockK}w{t.Warps}s{t.Stages}";
                        var descriptor = new GemmKernel(name, k, n, scheme, model.Spec.Model.DType, family, GemmEpilogue.Store, n, model.Spec.Model.DType);
                        var source = GemmFamily.Plan(descriptor, tiles);
                        if (!source.IsEmitted) continue;
                        using var kernel = _kernels.Load(source);
                        foreach (var testCase in cases.Gemm(descriptor, group, tiles))
                            yield return Timing(kernel, testCase, copyBandwidth, stream,
                                runner.RunCase(kernel, testCase, model.Spec.Model.DType, stream, viaGraph: false));
                    }
        }

        /// <summary>The family a step of <paramref name="rows"/> rows runs a scheme's GEMM on, as the GPU backend chooses it:
        /// few-row decode tiles up to their block_m, their batch twin up to max_num_seqs, the prefill tiles above.</summary>
        private static TileFamily FamilyFor(QuantMethod method, int rows, int maxNumSeqs, ArchTiles tiles) =>
            rows <= maxNumSeqs ? TileFamilies.GemmFamily(method, prefill: false).ForRows(tiles, rows) : TileFamilies.GemmFamily(method, prefill: true);

        /// <summary>
        /// The model's decode attention at (batch, context) points, every sequence at that context, on the kernel a decode
        /// step of that batch launches (the plan's or its wide twin): checked against the CPU reference, then timed; bytes
        /// are the KV actually read plus the qkv rows and outputs.
        /// </summary>
        public IEnumerable<KernelTiming> RunDecodeAttentionSweep(CompiledModel model, IReadOnlyList<(int Batch, int Context)> points,
            KernelCaseFactory cases, double copyBandwidth, CudaStream stream) =>
            CheckedSweep(model, KernelFamily.DecodeAttention, points, (k, p) => cases.DecodeAttentionUniform((DecodeAttentionKernel)k, p.Batch, p.Size), copyBandwidth, stream,
                (k, p) => cases.LaunchedFor((DecodeAttentionKernel)k, p.Batch));

        /// <summary>
        /// Each prefill-attention kernel of the model at (batch, tokens) points, every sequence a whole prompt of that many
        /// tokens (no prefix): checked against the CPU reference (sampled rows), then timed; TFLOP/s counts the causal half.
        /// </summary>
        public IEnumerable<KernelTiming> RunPrefillAttentionSweep(CompiledModel model, IReadOnlyList<(int Batch, int Tokens)> points,
            KernelCaseFactory cases, double copyBandwidth, CudaStream stream) =>
            CheckedSweep(model, KernelFamily.PrefillAttention, points, (k, p) => cases.PrefillAttentionUniform((PrefillAttentionKernel)k, p.Batch, p.Size, 0), copyBandwidth, stream);

        /// <summary>Each emitted kernel of a family at each point it serves (every point, where <paramref name="serves"/> is
        /// null), its case checked against the CPU reference, then timed.</summary>
        private IEnumerable<KernelTiming> CheckedSweep(CompiledModel model, KernelFamily family, IReadOnlyList<(int Batch, int Size)> points,
            Func<FusedKernel, (int Batch, int Size), KernelTestCase> caseAt, double copyBandwidth, CudaStream stream,
            Func<FusedKernel, (int Batch, int Size), bool>? serves = null)
        {
            var runner = new SelfTestRunner(_kernels);
            foreach (var source in _kernels.Emitted(model).Where(s => s.Family == family))
            {
                var descriptor = model.Kernel(source.Name);
                var served = points.Where(p => serves?.Invoke(descriptor, p) ?? true).ToList();
                if (served.Count == 0) continue;
                using var kernel = _kernels.Load(source);
                foreach (var point in served)
                {
                    var testCase = caseAt(descriptor, point);
                    yield return Timing(kernel, testCase, copyBandwidth, stream, runner.RunCase(kernel, testCase, model.Spec.Model.DType, stream, viaGraph: false));
                }
            }
        }

        private KernelTiming Timing(CudaKernel kernel, KernelTestCase testCase, double copyBandwidth, CudaStream stream, SelfTestResult? check)
        {
            var resources = kernel.Resources();
            var times = TimeCase(kernel, testCase, stream);
            double median = Median(times);
            long bytes = testCase.MinimumBytes;
            double gbps = bytes / (median * 1e-3) / 1e9;
            int rows = testCase.Grid.TryGetValue("T", out long t) ? (int)t : testCase.Grid.TryGetValue("M", out long m) ? (int)m : 0;
            return new KernelTiming(kernel.Source.Name, kernel.Source.Family, testCase.Label, rows, median * 1000, times.Min() * 1000, bytes, gbps,
                gbps * 1e9 / copyBandwidth, resources.Registers, resources.LocalBytes, testCase.Flops / (median * 1e-3) / 1e12, check);
        }

        /// <summary>Device time a graph replay should last at least, so the host's one launch of it stays ahead of the device.</summary>
        public const double ReplayMicroseconds = 200;

        /// <summary>The most launches one replay holds.</summary>
        public const int MaxLaunchesPerReplay = 64;

        /// <summary>
        /// Milliseconds of one launch of a case, <see cref="Repetitions"/> times: launches cycling through copies of the
        /// inputs (rotated past L2) captured into a CUDA graph, its replays queued back to back and each timed, divided by
        /// the launches it holds. Host launch overhead stays out, as it does from a decode step (a graph too); launches timed
        /// one by one first say how many a replay needs to last <see cref="ReplayMicroseconds"/>.
        /// </summary>
        public List<double> TimeCase(CudaKernel kernel, KernelTestCase testCase, CudaStream stream)
        {
            long setBytes = Math.Max(1, testCase.Arrays.Values.Sum(a => (long)Buffer.ByteLength(a)));
            int copies = (int)Math.Clamp(2L * _kernels.Device.Info.L2CacheBytes / setBytes + 1, 1, 16);
            var sets = new List<Dictionary<string, DeviceBuffer>>();
            try
            {
                for (int i = 0; i < copies; i++)
                    sets.Add(testCase.Arrays.ToDictionary(p => p.Key, p => HostArrays.Upload(p.Value, stream)));
                var arguments = sets.Select(set =>
                {
                    var a = set.ToDictionary(p => p.Key, p => (object)p.Value);
                    foreach (var (name, value) in testCase.Scalars) a[name] = value;
                    return a;
                }).ToList();
                void Launch(int i) => kernel.Launch(stream, arguments[i % arguments.Count], testCase.Grid);
                double alone = Median(Time(stream, Launch, WarmUp)) * 1000;
                int launches = (int)Math.Clamp(Math.Ceiling(ReplayMicroseconds / Math.Max(alone, 1e-3)), 1, MaxLaunchesPerReplay);
                using var graph = stream.Capture(() =>
                {
                    for (int i = 0; i < launches; i++) Launch(i);
                });
                return Time(stream, _ => graph.Launch(stream)).Select(ms => ms / launches).ToList();
            }
            finally
            {
                foreach (var set in sets)
                    foreach (var b in set.Values) b.Dispose();
            }
        }

        /// <summary>Milliseconds of each of <paramref name="repetitions"/> runs queued back to back after <see cref="WarmUp"/> untimed ones.</summary>
        private static List<double> Time(CudaStream stream, Action<int> work, int repetitions = Repetitions)
        {
            for (int i = 0; i < WarmUp; i++) work(i);
            stream.Synchronize();
            using var timeline = new CudaTimeline(repetitions);
            return timeline.Time(stream, work);
        }

        public static double Median(List<double> values)
        {
            var sorted = values.OrderBy(v => v).ToList();
            return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
        }
    }
}
