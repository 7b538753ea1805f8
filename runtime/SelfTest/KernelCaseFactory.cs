using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Graph;
using GraphCompiler.Runtime.Reference;
using GraphCompiler.Spec;

namespace GraphCompiler.Runtime.SelfTest
{
    /// <summary>
    /// Fresh random cases for each elementwise kernel, at the spec's shapes and at small odd row counts (1, 7, 77, 1000),
    /// each with its CPU reference. Inputs are never zeros: normal activations, weights near 1, every FP8 code but NaN.
    /// </summary>
    public sealed partial class KernelCaseFactory
    {
        private readonly Random _random;
        private readonly ModelSpec _spec;
        private readonly ActivationCodec _codec;
        private readonly ArchTiles _tiles;
        private readonly int _multiprocessors;

        /// <param name="arch">The GPU's tile architecture and SM count decide GEMM split-K as the runtime would (default: an H100).</param>
        public KernelCaseFactory(ModelSpec spec, int seed, GpuArch? arch = null, int multiprocessors = 132)
        {
            _spec = spec;
            _random = new Random(seed);
            _codec = ActivationCodec.For(spec.Model.DType);
            _tiles = spec.Tiles.For(arch ?? GpuArch.Sm90);
            _multiprocessors = multiprocessors;
            Seed = seed;
        }

        /// <summary>The cases a GPU's kernels are tested and timed on: its tile architecture, SM count and cluster capacity.</summary>
        public static KernelCaseFactory ForGpu(ModelSpec spec, int seed, Compilation.GpuKernels gpu)
        {
            var info = gpu.Device.Info;
            return new KernelCaseFactory(spec, seed, info.TileArch, info.MultiprocessorCount)
            {
                ClustersAtOnce = source => gpu.ClustersAtOnce(source, info.TileArch.ClusterCtasMax),
                ResidentCtasPerSm = gpu.ResidentCtasPerSm,
            };
        }

        public int Seed { get; }

        /// <summary>On a GPU, the clusters of each size a decode-attention kernel's launch holds at once (<see
        /// cref="Compilation.GpuKernels.ClustersAtOnce"/>), so the cases take the splits the runtime would; null off the GPU.</summary>
        public Func<Kernels.KernelSource, Func<int, int, int>>? ClustersAtOnce { get; init; }

        /// <summary>On a GPU, the CTAs of a kernel an SM holds at once (<see cref="Compilation.GpuKernels.ResidentCtasPerSm"/>),
        /// so persistent launches take the CTAs the runtime would; null off the GPU (the tiles' estimate instead).</summary>
        public Func<Kernels.KernelSource, int>? ResidentCtasPerSm { get; init; }

        private readonly Dictionary<(string Kernel, PrefillAttentionTiles Tiles), int> _residentCtasPerSm = new Dictionary<(string Kernel, PrefillAttentionTiles Tiles), int>();

        private readonly Dictionary<Kernels.KernelSource, Func<int, int, int>> _clustersAtOnce = new Dictionary<Kernels.KernelSource, Func<int, int, int>>();

        /// <summary>Row counts per case: 1, 7, 77, 1000, and the spec's decode (max_num_seqs) and prefill (max_num_batched_tokens) steps.</summary>
        public IReadOnlyList<int> RowCounts =>
            new[] { 1, 7, 77, 1000, _spec.Limits.MaxNumSeqs, _spec.Limits.MaxNumBatchedTokens }.Distinct().OrderBy(x => x).ToList();

        public IEnumerable<KernelTestCase> For(FusedKernel kernel) => kernel switch
        {
            EmbeddingGatherKernel k => RowCounts.Select(t => Embedding(k, t)),
            RmsNormKernel k when k.GatherRows => new[] { 1, 7, _spec.Limits.MaxNumSeqs }.Distinct().Select(s => RmsNorm(k, 2 * s + 3, s)),
            RmsNormKernel k => RowCounts.Select(t => RmsNorm(k, t, t)),
            RopeKernel k => RowCounts.Select(t => Rope(k, t)),
            SwiGluKernel k => RowCounts.Select(t => SwiGlu(k, t)),
            WeightDequantKernel k => new[] { Dequant(k) },
            GemmKernel k => Gemm(k),
            DecodeAttentionKernel k => DecodeAttention(k),
            PrefillAttentionKernel k when !k.WriteFp8 => PrefillAttention(k),
            SamplingKernel k => Sampling(k),
            _ => Array.Empty<KernelTestCase>(),
        };

        private ushort[] Activations(long n, double sigma, double mean = 0)
        {
            var a = new ushort[n];
            for (long i = 0; i < n; i++) a[i] = _codec.Store((float)(mean + sigma * Normal()));
            return a;
        }

        private double Normal()
        {
            double u = 1.0 - _random.NextDouble(), v = _random.NextDouble();
            return Math.Sqrt(-2.0 * Math.Log(u)) * Math.Cos(2 * Math.PI * v);
        }

        /// <summary>Random finite codes: e4m3 all but NaN (0x7F, 0xFF), e5m2 all but infinities and NaNs (exponent 0x7C set).</summary>
        private byte[] Fp8Codes(long n, DType format = DType.F8E4M3)
        {
            int excluded = format == DType.F8E5M2 ? 0x7C : 0x7F;
            var a = new byte[n];
            for (long i = 0; i < n; i++)
            {
                byte b;
                do b = (byte)_random.Next(256); while ((b & excluded) == excluded);
                a[i] = b;
            }
            return a;
        }

        private float[] Scales(int n, float low, float high) =>
            Enumerable.Range(0, n).Select(_ => low + (float)_random.NextDouble() * (high - low)).ToArray();

        private KernelTestCase Embedding(EmbeddingGatherKernel k, int tokens)
        {
            var c = new KernelTestCase($"T={tokens}");
            var ids = Enumerable.Range(0, tokens).Select(_ => _random.Next(k.Vocab)).ToArray();
            if (tokens >= 7) ids[tokens / 2] = k.Vocab + 3;   // an out-of-range id must raise the flag and write zeros
            c.Input("token_ids", ids);
            bool fp8 = k.Table.Method == QuantMethod.Fp8E4M3;
            if (fp8)
            {
                c.Input("table", Fp8Codes((long)k.Vocab * k.Hidden));
                c.Input("table_scale", Scales(k.Table.WeightScale == ScaleGranularity.PerChannel ? k.Vocab : 1, 0.001f, 0.01f));
            }
            else c.Input("table", Activations((long)k.Vocab * k.Hidden, 1.0));
            c.Output("residual", new ushort[(long)tokens * k.Hidden], OutputKind.Activation);
            c.InOut("error_flag", new int[1], OutputKind.Exact);
            c.Scalars["tokens"] = tokens;
            c.Grid["T"] = tokens;
            c.BytesTouched = tokens * (4L + (long)k.Hidden * ((fp8 ? 1 : 2) + 2));   // ids, the gathered rows, the output rows
            c.Reference = a => ((int[])a["error_flag"])[0] = ElementwiseReference.EmbeddingGather(k, ids,
                fp8 ? null : (ushort[])a["table"], fp8 ? (byte[])a["table"] : null, fp8 ? (float[])a["table_scale"] : null,
                (ushort[])a["residual"], tokens);
            return c;
        }

        private KernelTestCase RmsNorm(RmsNormKernel k, int tokens, int rows)
        {
            var c = new KernelTestCase(k.GatherRows ? $"T={tokens} S={rows}" : $"T={tokens}");
            c.InOut("residual", Activations((long)tokens * k.Hidden, 1.0), OutputKind.Activation);
            if (k.AddResidual) c.Input("delta", Activations((long)tokens * k.Hidden, 0.5));
            int[]? rowIndex = null;
            if (k.GatherRows)
            {
                rowIndex = Enumerable.Range(0, tokens).OrderBy(_ => _random.Next()).Take(rows).ToArray();
                c.Input("rows", rowIndex);
            }
            c.Input("weight", Activations(k.Hidden, 0.1, 1.0));
            if (k.WriteDense) c.Output("out", new ushort[(long)rows * k.Hidden], OutputKind.Activation);
            if (k.WriteFp8)
            {
                c.Output("out_fp8", new byte[(long)rows * k.Hidden], OutputKind.Fp8PerRow, "out_scale", k.Hidden);
                c.Arrays["out_scale"] = new float[rows];
                c.WriteOnly.Add("out_scale");
            }
            c.Scalars["num_rows"] = rows;
            if (k.GatherRows)   // only the listed rows are read (and, with the residual add, written back)
                c.BytesTouched = rows * (4L + (long)k.Hidden * ((k.AddResidual ? 6 : 2) + (k.WriteDense ? 2 : 0) + (k.WriteFp8 ? 1 : 0))) + 2L * k.Hidden;
            c.Grid["T"] = rows;
            c.Grid["S"] = rows;
            c.Reference = a => ElementwiseReference.RmsNorm(k, (ushort[])a["residual"], k.AddResidual ? (ushort[])a["delta"] : null, rowIndex,
                (ushort[])a["weight"], k.WriteDense ? (ushort[])a["out"] : null, k.WriteFp8 ? (byte[])a["out_fp8"] : null,
                k.WriteFp8 ? (float[])a["out_scale"] : null, rows);
            return c;
        }

        private KernelTestCase Rope(RopeKernel k, int tokens)
        {
            var c = new KernelTestCase($"T={tokens}");
            var positions = Enumerable.Range(0, tokens).Select(_ => _random.Next(_spec.Limits.MaxSeqLen)).ToArray();
            c.InOut("qkv", Activations((long)tokens * k.RowStride, 1.0), OutputKind.Activation);
            c.Input("positions", positions);
            c.Scalars["tokens"] = tokens;
            c.Grid["T"] = tokens;
            c.Reference = a => ElementwiseReference.Rope(k, (ushort[])a["qkv"], positions, tokens);
            return c;
        }

        private KernelTestCase SwiGlu(SwiGluKernel k, int tokens)
        {
            var c = new KernelTestCase($"T={tokens}");
            c.Input("gate_up", Activations((long)tokens * 2 * k.Intermediate, 2.0));
            if (k.WriteFp8)
            {
                c.Output("out_fp8", new byte[(long)tokens * k.Intermediate], OutputKind.Fp8PerRow, "out_scale", k.Intermediate);
                c.Arrays["out_scale"] = new float[tokens];
                c.WriteOnly.Add("out_scale");
            }
            else c.Output("out", new ushort[(long)tokens * k.Intermediate], OutputKind.Activation);
            c.Scalars["tokens"] = tokens;
            c.Grid["T"] = tokens;
            c.Reference = a => ElementwiseReference.SwiGlu(k, (ushort[])a["gate_up"], k.WriteFp8 ? null : (ushort[])a["out"],
                k.WriteFp8 ? (byte[])a["out_fp8"] : null, k.WriteFp8 ? (float[])a["out_scale"] : null, tokens);
            return c;
        }

        private KernelTestCase Dequant(WeightDequantKernel k)
        {
            var s = k.Scheme;
            var c = new KernelTestCase($"K={k.K} N={k.N}");
            c.Output("out", new ushort[(long)k.K * k.N], OutputKind.Activation);
            if (s.Method == QuantMethod.Fp8E4M3)
            {
                c.Input("weight", Fp8Codes((long)k.K * k.N));
                c.Input("weight_scale", Scales(s.WeightScale == ScaleGranularity.PerChannel ? k.N : 1, 0.001f, 0.01f));
                c.Reference = a => ElementwiseReference.DequantFp8(k, (byte[])a["weight"], (float[])a["weight_scale"], (ushort[])a["out"]);
                return c;
            }
            int g = s.GroupSizeFor(k.K), groups = k.K / g;
            var words = (long)k.K * k.N / 8;
            var qweight = new uint[words];
            for (long i = 0; i < words; i++) qweight[i] = (uint)_random.Next() ^ ((uint)_random.Next() << 16);
            var qzeros = new uint[(long)groups * k.N / 8];
            for (long i = 0; i < qzeros.Length; i++) qzeros[i] = (uint)_random.Next() ^ ((uint)_random.Next() << 16);
            var scales = Enumerable.Range(0, groups * k.N).Select(_ => Fp16.FromFloat(0.001f + 0.02f * (float)_random.NextDouble())).ToArray();
            c.Input("qweight", qweight).Input("qzeros", qzeros).Input("scales", scales);
            if (s.Format == Int4Format.Gptq)
            {
                // Act-order: each input row belongs to a group given by a permutation; otherwise row k is in group k / g.
                var order = s.DescAct ? Enumerable.Range(0, k.K).OrderBy(_ => _random.Next()).ToArray() : Enumerable.Range(0, k.K).ToArray();
                var gIdx = order.Select(r => r / g).ToArray();
                c.Input("g_idx", gIdx);
                c.Reference = a => ElementwiseReference.DequantGptq(k, qweight, qzeros, scales, gIdx, (ushort[])a["out"]);
            }
            else c.Reference = a => ElementwiseReference.DequantAwq(k, qweight, qzeros, scales, (ushort[])a["out"]);
            return c;
        }
    }
}
