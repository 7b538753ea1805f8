using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Graph;
using GraphCompiler.Kernels.Gemm;
using GraphCompiler.Runtime.Cpu;
using GraphCompiler.Runtime.Reference;
using GraphCompiler.Runtime.Weights;
using GraphCompiler.Spec;

namespace GraphCompiler.Runtime.SelfTest
{
    public sealed partial class KernelCaseFactory
    {
        /// <summary>Rows whose outputs the reference computes once M passes this; the rest are the GPU's alone.</summary>
        private const int FullyCheckedRows = 64;

        /// <summary>GEMM row counts, the steps each kernel runs: few-row decode kernels 1, 3 and their block_m (or max_num_seqs
        /// if fewer); their batch twins one row more and max_num_seqs; prefill kernels 77, 256 and max_num_batched_tokens.</summary>
        public IReadOnlyList<int> GemmRowCounts(GemmKernel k) => (k.Tiles.IsDecodeBatch()
                ? new[] { _tiles.Gemm(k.Tiles.FewRow()).BlockM + 1, _spec.Limits.MaxNumSeqs }
                : k.Tiles.IsDecodeGemm()
                ? new[] { 1, 3, Math.Min(_tiles.Gemm(k.Tiles).BlockM, _spec.Limits.MaxNumSeqs) }
                : new[] { 77, 256, _spec.Limits.MaxNumBatchedTokens }).Distinct().OrderBy(x => x).ToList();

        /// <summary>Fresh random weights in the scheme's checkpoint form, repacked once and shared by the kernel's row counts.</summary>
        private IEnumerable<KernelTestCase> Gemm(GemmKernel k) => Gemm(k, GemmRowCounts(k));

        /// <param name="tiles">The tiles the kernel was emitted with, where not the spec's (a tuning candidate).</param>
        /// <summary>Keep each GEMM's random weights for later calls (a tuner times many tile candidates on the same weights).</summary>
        public bool ReuseGemmWeights { get; set; }

        private readonly Dictionary<string, GemmTestWeights> _gemmWeights = new Dictionary<string, GemmTestWeights>();

        public IEnumerable<KernelTestCase> Gemm(GemmKernel k, IEnumerable<int> rowCounts, ArchTiles? tiles = null)
        {
            if (!ReuseGemmWeights || !_gemmWeights.TryGetValue(k.Name, out var weights))
            {
                weights = GemmWeights(k);
                if (ReuseGemmWeights) _gemmWeights[k.Name] = weights;
            }
            foreach (int m in rowCounts) yield return GemmCase(k, weights, m, tiles ?? _tiles);
        }

        /// <summary>The device arrays, and W [N, K] in float exactly as the kernel dequantizes it, in checkpoint column order.</summary>
        private sealed record GemmTestWeights(GemmDeviceWeights Device, float[] Reference, float[]? ChannelScale);

        private GemmTestWeights GemmWeights(GemmKernel k)
        {
            var s = k.Scheme;
            int kk = k.K, n = k.N;
            bool interleave = k.Epilogue == GemmEpilogue.SwiGlu;
            var w = new float[(long)n * kk];
            double sigma = 1.0 / Math.Sqrt(kk);
            switch (s.Method)
            {
                case QuantMethod.Int4:
                    {
                        int g = s.GroupSizeFor(kk), groups = kk / g;
                        var codes = new int[kk, n];
                        var zeros = new int[groups, n];
                        var scales = new ushort[groups, n];
                        for (int r = 0; r < kk; r++)
                            for (int c = 0; c < n; c++) codes[r, c] = _random.Next(16);
                        for (int gi = 0; gi < groups; gi++)
                            for (int c = 0; c < n; c++)
                            {
                                zeros[gi, c] = s.Symmetric ? 8 : _random.Next(16);
                                scales[gi, c] = Fp16.FromFloat((float)(sigma / 4 * (0.5 + _random.NextDouble())));
                            }
                        // Act-order: rows belong to groups by a random permutation, as GPTQ's desc_act leaves them.
                        var order = s.DescAct ? Enumerable.Range(0, kk).OrderBy(_ => _random.Next()).ToArray() : Enumerable.Range(0, kk).ToArray();
                        var gIdx = new int[kk];
                        for (int i = 0; i < kk; i++) gIdx[order[i]] = i / g;
                        var device = GemmWeightPacker.PackInt4(new Int4Unpacked(codes, zeros, scales), gIdx, g, s.Symmetric, s.DescAct, k.Activation, kk, n, interleave);
                        // The kernel's dequantization: (q − z) exactly, times the scale in the activation dtype, rounded once.
                        System.Threading.Tasks.Parallel.For(0, n, c =>
                        {
                            for (int r = 0; r < kk; r++)
                                w[(long)c * kk + r] = _codec.Round((codes[r, c] - zeros[gIdx[r], c]) * _codec.Round(Fp16.ToFloat(scales[gIdx[r], c])));
                        });
                        return new GemmTestWeights(device, w, null);
                    }
                case QuantMethod.Fp8E4M3:
                    {
                        var codes = Fp8Codes((long)n * kk);
                        var channel = Scales(n, (float)(sigma / 64), (float)(sigma / 16));
                        for (long i = 0; i < codes.Length; i++) w[i] = Fp8E4M3.ToFloat(codes[i]);
                        var device = GemmWeightPacker.PackFp8(codes, channel, kk, n, interleave);
                        return new GemmTestWeights(device, w, channel);
                    }
                default:
                    {
                        var bits = Activations((long)n * kk, sigma);
                        for (long i = 0; i < bits.Length; i++) w[i] = _codec.Load(bits[i]);
                        var device = GemmWeightPacker.PackDense(bits, kk, n, interleave);
                        return new GemmTestWeights(device, w, null);
                    }
            }
        }

        private KernelTestCase GemmCase(GemmKernel k, GemmTestWeights weights, int m, ArchTiles tiles)
        {
            var t = tiles.Gemm(k.Tiles);
            int resident = GemmPartition.ResidentCtasPerSm(t, GemmEmitter.SharedMemoryBytes(k, t), tiles.Arch);
            long ctas = GemmPartition.Ctas(t, k.K, k.N, m, _multiprocessors, resident);
            long outputTiles = GemmPartition.Tiles(t, k.N, m);
            var c = new KernelTestCase($"M={m} ({ctas} CTAs, {outputTiles} tiles)");
            // W8A8: dynamic inputs are e4m3 codes with a scale per row (as the producer's epilogue writes them); static ones
            // are activations the kernel quantizes with the checkpoint's input_scale.
            var scaling = k.Scheme.Method == QuantMethod.Fp8E4M3 ? k.Scheme.ActivationScale : ActivationScaling.None;
            var x = scaling == ActivationScaling.Dynamic ? Array.Empty<ushort>() : Activations((long)m * k.K, 1.0);
            var xCodes = scaling == ActivationScaling.Dynamic ? Fp8Codes((long)m * k.K) : null;
            var xScale = scaling == ActivationScaling.Dynamic ? Scales(m, 0.001f, 0.01f) : scaling == ActivationScaling.Static ? Scales(1, 0.01f, 0.02f) : null;
            if (xCodes != null) c.Input("x", xCodes).Input("x_scale", xScale!);
            else c.Input("x", x);
            if (scaling == ActivationScaling.Static) c.Input("input_scale", xScale!);
            c.Input("weight", weights.Device.Weight);
            if (weights.Device.Scales != null) c.Input("scales", weights.Device.Scales);
            if (weights.Device.Zeros != null) c.Input("zeros", weights.Device.Zeros);
            if (weights.Device.Perm != null) c.Input("perm", weights.Device.Perm);
            if (weights.Device.WeightScale != null) c.Input("weight_scale", weights.Device.WeightScale);

            // Rows the reference checks: all of a small step, else the first, the last and random ones in between.
            int[] rows = m <= FullyCheckedRows ? Enumerable.Range(0, m).ToArray()
                : new[] { 0, m - 1 }.Concat(Enumerable.Range(1, m - 2).OrderBy(_ => _random.Next()).Take(FullyCheckedRows - 2)).OrderBy(r => r).ToArray();
            int width = k.OutputStride;
            string output = k.Epilogue == GemmEpilogue.AddResidual ? "residual" : "out";
            if (k.Epilogue == GemmEpilogue.AddResidual)
                c.InOut("residual", Activations((long)m * width, 1.0), OutputKind.Activation, rows, width);
            else if (k.Output == Common.DType.F32)
                c.Output("out", new float[(long)m * width], OutputKind.FloatSum, rows, width);
            else
                c.Output("out", new ushort[(long)m * width], OutputKind.Activation, rows, width);
            c.Input("partials", new float[GemmPartition.PartialFloats(t, ctas)]);
            c.InOut("tile_counters", new int[outputTiles], OutputKind.Exact);   // every arrival counter back at zero
            c.Scalars["rows"] = m;
            c.Grid["M"] = m;
            c.Grid["gemm_ctas"] = ctas;
            c.BytesTouched = weights.Device.Bytes + (xCodes != null ? 1L : 2L) * m * k.K + (long)m * width * (k.Output == Common.DType.F32 ? 4 : 2) * (k.Epilogue == GemmEpilogue.AddResidual ? 2 : 1);
            c.Flops = 2.0 * m * k.K * k.N;

            c.Reference = a =>
            {
                var xs = new float[(long)rows.Length * k.K];
                for (int i = 0; i < rows.Length; i++)
                    for (int j = 0; j < k.K; j++)
                    {
                        long at = (long)rows[i] * k.K + j;
                        xs[(long)i * k.K + j] = scaling switch
                        {
                            ActivationScaling.Dynamic => Fp8E4M3.ToFloat(xCodes![at]) * xScale![rows[i]],
                            ActivationScaling.Static => Fp8E4M3.ToFloat(Fp8E4M3.FromFloat(_codec.Load(x[at]) / xScale![0])) * xScale[0],
                            _ => _codec.Load(x[at]),
                        };
                    }
                var y = new float[(long)rows.Length * k.N];
                CpuGemm.Multiply(xs, rows.Length, k.K, weights.Reference, k.N, y);
                if (weights.ChannelScale != null)
                    for (long i = 0; i < y.Length; i++) y[i] *= weights.ChannelScale[i % k.N];
                for (int i = 0; i < rows.Length; i++)
                {
                    long dst = (long)rows[i] * width, src = (long)i * k.N;
                    switch (k.Epilogue)
                    {
                        case GemmEpilogue.AddResidual:
                            {
                                var residual = (ushort[])a["residual"];
                                for (int j = 0; j < k.N; j++) residual[dst + j] = _codec.Store(_codec.Load(residual[dst + j]) + _codec.Round(y[src + j]));
                                break;
                            }
                        case GemmEpilogue.SwiGlu:
                            {
                                var gateUp = new ushort[k.N];
                                for (int j = 0; j < k.N; j++) gateUp[j] = _codec.Store(y[src + j]);
                                var rowOut = new ushort[k.N / 2];
                                ElementwiseReference.SwiGlu(new SwiGluKernel(k.Name, k.N / 2, k.Activation, false), gateUp, rowOut, null, null, 1);
                                Array.Copy(rowOut, 0, (ushort[])a["out"], dst, k.N / 2);
                                break;
                            }
                        default:
                            if (a["out"] is float[] logits) Array.Copy(y, src, logits, dst, k.N);
                            else
                            {
                                var o = (ushort[])a["out"];
                                for (int j = 0; j < k.N; j++) o[dst + j] = _codec.Store(y[src + j]);
                            }
                            break;
                    }
                }
            };
            return c;
        }
    }
}
