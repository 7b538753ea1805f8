using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Graph;
using GraphCompiler.Kernels.Attention;
using GraphCompiler.Planning;
using GraphCompiler.Runtime.Reference;
using GraphCompiler.Runtime.SelfTest;
using GraphCompiler.Spec;

namespace GraphCompiler.Tests.Runtime
{
    /// <summary>The prefill-attention selftest cases and their CPU reference, checked on the CPU before a GPU runs them.</summary>
    public class PrefillAttentionCaseTests
    {
        private static (PrefillAttentionKernel Kernel, KernelCaseFactory Factory, int BlockM) Setup(string spec, int seed)
        {
            var model = TestSpecs.Compile(spec);
            return (model.Plan.Kernels.OfType<PrefillAttentionKernel>().Single(), new KernelCaseFactory(model.Spec, seed),
                model.Spec.Tiles.For(GpuArch.Sm90).PrefillAttention.BlockM);
        }

        private static int[] NewTokens(KernelTestCase c)
        {
            var cu = (int[])c.Arrays["cu_seqlens"];
            return Enumerable.Range(0, cu.Length - 1).Select(s => cu[s + 1] - cu[s]).ToArray();
        }

        [Theory]
        [InlineData("small-llama")]
        [InlineData("small-llama-fp8kv")]
        public void Every_case_has_one_tile_job_per_query_tile_a_zeroed_sync_and_positions_after_its_prefix(string spec)
        {
            var (k, factory, blockM) = Setup(spec, 1);
            var cases = factory.For(k).ToList();
            Assert.Equal(new[] { "S=1 new 1 prefix 0", "S=1 new 7 prefix 0", "S=1 new 77 prefix 0", "S=1 new 128 prefix 0", "S=1 new 1000 prefix 0",
                "S=1 new 1024 prefix 0", "S=5 new 1..200 prefix 0..300", "S=5 new 1..200 prefix 0..300 on 3 CTAs",
                "S=1 new 1000 prefix 0, q k v σ 4" }, cases.Select(c => c.Label));
            bool fp8 = k.KvDType is DType.F8E4M3 or DType.F8E5M2;
            foreach (var c in cases)
            {
                var news = NewTokens(c);
                int tokens = news.Sum(), qBlocks = news.Sum(n => (n + blockM - 1) / blockM);
                Assert.Equal(qBlocks, ((int[])c.Arrays["tile_jobs"]).Length);
                Assert.Equal(qBlocks, c.Scalars["q_blocks"]);
                // A persistent CTA a job: the small model's jobs (4 heads, at most 9 tiles) are fewer than the SMs; the last
                // case runs its 24 jobs on three.
                Assert.Equal(c.Label.EndsWith(" on 3 CTAs") ? 3 : qBlocks * k.Heads, c.Grid["prefill_ctas"]);
                Assert.Equal(new int[PrefillAttentionFamily.SyncInts], (int[])c.Arrays["sync"]);
                Assert.Equal((long)tokens * (k.Heads + 2 * k.KvHeads) * k.HeadDim, c.Arrays["qkv"].Length);
                Assert.Equal(fp8 ? typeof(byte[]) : typeof(ushort[]), c.Arrays["kv_pool"].GetType());
                // Each sequence's rows continue its cached prefix: positions context − new .. context − 1.
                var contexts = (int[])c.Arrays["context_lens"];
                var expected = news.SelectMany((n, s) => Enumerable.Range(contexts[s] - n, n));
                Assert.Equal(expected, (int[])c.Arrays["positions"]);
            }
        }

        [Fact]
        public void Only_the_wide_score_case_moves_a_rows_softmax_reference_after_its_first_tile()
        {
            // The kernel's softmax keeps a row's reference max until a tile's max passes it by more than kLazyRescale
            // (FlashTile.LazyRescale exp2 units), and rescales O only then: the σ 4 case must take that path in many rows, or the selftest never
            // checks it; the σ 1 case of the same prompt (rows' scores within a few units) almost never does.
            var (k, factory, _) = Setup("small-llama", 5);
            int blockN = TestSpecs.Compile("small-llama").Spec.Tiles.For(GpuArch.Sm90).PrefillAttention.BlockN;
            var cases = factory.For(k).ToList();
            double Moving(KernelTestCase c)
            {
                int d = k.HeadDim, stride = (k.Heads + 2 * k.KvHeads) * d, tokens = ((int[])c.Arrays["positions"]).Length;
                var qkv = (ushort[])((ushort[])c.Arrays["qkv"]).Clone();
                ElementwiseReference.Rope(new RopeKernel(k.Name, k.Heads, k.KvHeads, d, k.Theta, k.Activation, stride), qkv, (int[])c.Arrays["positions"], tokens);
                var x = qkv.Select(b => (double)BitConverter.UInt16BitsToHalf(b)).ToArray();
                double scale = 1.0 / Math.Sqrt(d) / Math.Log(2);
                int rows = 0, moving = 0;
                for (int h = 0; h < k.Heads; h++)
                    for (int i = blockN; i < tokens; i++)   // rows with keys past their first tile (prefix 0: position = row)
                    {
                        double reference = double.NegativeInfinity, tileMax = double.NegativeInfinity;
                        bool moved = false;
                        for (int j = 0; j <= i; j++)
                        {
                            double score = 0;
                            for (int e = 0; e < d; e++) score += x[i * stride + h * d + e] * x[j * stride + (k.Heads + h / (k.Heads / k.KvHeads)) * d + e];
                            tileMax = Math.Max(tileMax, score * scale);
                            if ((j + 1) % blockN != 0 && j != i) continue;
                            if (j < blockN) reference = tileMax;
                            else if (tileMax - reference > FlashTile.LazyRescale) (reference, moved) = (tileMax, true);
                            tileMax = double.NegativeInfinity;
                        }
                        rows++;
                        moving += moved ? 1 : 0;
                    }
                return (double)moving / rows;
            }
            Assert.InRange(Moving(cases.Single(c => c.Label == "S=1 new 1000 prefix 0, q k v σ 4")), 0.2, 1.0);
            Assert.InRange(Moving(cases.Single(c => c.Label == "S=1 new 1000 prefix 0")), 0.0, 0.01);
        }

        [Fact]
        public void A_long_prompt_launches_as_many_persistent_ctas_as_the_sms_hold()
        {
            // llama2-70b's sm_90 tiles (wgmma_ws 128 × 64, 12 warps) hold one CTA an SM: 16 tiles × 64 heads share 132 CTAs.
            var (k, factory, _) = Setup("llama2-70b", 3);
            var chunk = Assert.Single(factory.For(k), c => c.Label == "S=1 new 2048 prefix 2048");
            Assert.Equal(16, chunk.Scalars["q_blocks"]);
            Assert.Equal(132, chunk.Grid["prefill_ctas"]);
        }

        [Fact]
        public void The_last_full_chunk_of_the_longest_prompt_is_a_case_where_max_seq_len_leaves_room_for_it()
        {
            var (k, factory, _) = Setup("llama2-70b", 3);
            var chunk = Assert.Single(factory.For(k), c => c.Label == "S=1 new 2048 prefix 2048");   // max_num_batched_tokens 2048, max_seq_len 4096
            Assert.Equal(new[] { 4096 }, (int[])chunk.Arrays["context_lens"]);
            Assert.Equal(Enumerable.Range(2048, 2048), (int[])chunk.Arrays["positions"]);
            // small-llama's max_seq_len is one step: no later chunk (the theory above lists its cases).
        }

        [Fact]
        public void A_single_prompts_flops_are_2_S2_d_heads_plus_its_diagonal()
        {
            var (k, factory, _) = Setup("small-llama", 2);
            var c = factory.PrefillAttentionUniform(k, 1, 4096, 0);   // past max_seq_len: benchmark points are not capped
            Assert.Equal("S=1 new 4096 prefix 0", c.Label);
            double s = 4096, perPair = 2.0 * k.HeadDim * k.Heads;
            Assert.Equal(perPair * s * s + perPair * s, c.Flops);
            // A prefix adds new·prefix pairs: two prompts of 10 after 5 cached tokens.
            Assert.Equal(2 * (2 * perPair * (10 * 5 + 55)), factory.PrefillAttentionUniform(k, 2, 10, 5).Flops);
        }

        [Fact]
        public void A_large_step_checks_sampled_output_rows_and_every_written_cache_row_and_nothing_else_changes()
        {
            var (k, factory, blockM) = Setup("small-llama", 3);
            var c = factory.PrefillAttentionUniform(k, 2, 700, 0);
            var output = c.Outputs.Single(o => o.Parameter == "out");
            var rows = output.CheckedRows!;
            Assert.InRange(rows.Length, 80, 96);
            Assert.Equal(rows.OrderBy(r => r).Distinct(), rows);
            Assert.Contains(0, rows);
            Assert.Contains(699, rows);
            Assert.Contains(700, rows);
            Assert.Contains(1399, rows);
            Assert.Contains(rows, r => (r % 700 % blockM == 0 || r % 700 % blockM == blockM - 1) && r % 700 is not 0 and not 699);   // a tile boundary inside a prompt
            var pool = c.Outputs.Where(o => o.Parameter == "kv_pool").ToList();
            var written = pool.Single(o => o.Kind == OutputKind.KvCache);
            var untouched = pool.Single(o => o.Kind == OutputKind.Exact);
            Assert.Equal(DType.F16, written.Element);
            Assert.Equal(1400 * 2 * k.KvHeads, written.CheckedRows!.Length);
            Assert.Equal(Enumerable.Range(0, c.Arrays["kv_pool"].Length / k.HeadDim), written.CheckedRows.Concat(untouched.CheckedRows!).OrderBy(r => r));
        }

        /// <summary>
        /// The reference against a naive float64 computation of its definition (RoPE, the cache write, causal softmax
        /// attention over the prefix and the new tokens) on the chunked-prefill batch, every row checked. The reference
        /// rounds roped q and k to fp16 (and, FP8, k and v to codes); measured relative L2 differences: output 3.9e-4 and
        /// written cache 2.4e-4 with an fp16 cache, 3.9e-3 and 4.1e-3 with e4m3 (an fp16-rounded k now and then lands on
        /// the other side of a code boundary than the exact one).
        /// </summary>
        [Theory]
        [InlineData("small-llama", 1e-3, 1e-3)]
        [InlineData("small-llama-fp8kv", 1e-2, 1e-2)]
        public void The_reference_agrees_with_a_naive_float64_attention_over_the_prefix_and_the_new_tokens(string spec, double outTolerance, double poolTolerance)
        {
            var (k, factory, _) = Setup(spec, 4);
            var c = factory.For(k).Last(c => c.Label.StartsWith("S=5 "));
            var expected = c.Arrays.ToDictionary(p => p.Key, p => (Array)p.Value.Clone());
            c.Reference(expected);

            var naive = Naive(k, c);
            var act = ActivationCodec.For(k.Activation);
            var outBits = (ushort[])expected["out"];
            Assert.Equal(outBits.Length, naive.Out.Length);
            Assert.InRange(RelativeL2(outBits.Select(b => (double)act.Load(b)).ToArray(), naive.Out), 0, outTolerance);
            var poolRows = c.Outputs.Single(o => o.Kind == OutputKind.KvCache).CheckedRows!;
            Func<long, double> element = expected["kv_pool"] switch
            {
                byte[] codes => i => Fp8E4M3.ToFloat(codes[i]),
                var bits => i => act.Load(((ushort[])bits)[i]),
            };
            var written = poolRows.SelectMany(r => Enumerable.Range(r * k.HeadDim, k.HeadDim)).ToArray();
            Assert.InRange(RelativeL2(written.Select(i => element(i)).ToArray(), written.Select(i => naive.Pool[i]).ToArray()), 0, poolTolerance);
        }

        /// <summary>Every output row, and the pool's elements as written (FP8: decoded codes, unscaled), in double.</summary>
        private static (double[] Out, Dictionary<long, double> Pool) Naive(PrefillAttentionKernel k, KernelTestCase c)
        {
            int d = k.HeadDim, stride = (k.Heads + 2 * k.KvHeads) * d, maxBlocks = c.Scalars["max_blocks"];
            var act = ActivationCodec.For(k.Activation);
            var qkv = (ushort[])c.Arrays["qkv"];
            var cu = (int[])c.Arrays["cu_seqlens"];
            var contexts = (int[])c.Arrays["context_lens"];
            var tables = (int[])c.Arrays["block_tables"];
            var layout = new KvCacheLayout(1, k.KvHeads, d, k.BlockSize, k.KvDType);
            bool fp8 = k.KvDType == DType.F8E4M3;
            var scales = fp8 ? (float[])c.Arrays["kv_scale"] : new[] { 1f, 1f };
            long At(int s, int pos, int v, int g) => layout.Offset(tables[s * maxBlocks + pos / k.BlockSize], v == 1, g, pos % k.BlockSize, 0) / layout.ElementBytes;
            double Cached(int s, int pos, int v, int g, int i)
            {
                long at = At(s, pos, v, g) + i;
                return fp8 ? Fp8E4M3.ToFloat(((byte[])c.Arrays["kv_pool"])[at]) * (double)scales[v] : act.Load(((ushort[])c.Arrays["kv_pool"])[at]);
            }
            double Rope(long head, int pos, int i)
            {
                int half = d / 2, j = i % half;
                double angle = pos * Math.Pow(k.Theta, -2.0 * j / d), x1 = act.Load(qkv[head + j]), x2 = act.Load(qkv[head + j + half]);
                return i < half ? x1 * Math.Cos(angle) - x2 * Math.Sin(angle) : x2 * Math.Cos(angle) + x1 * Math.Sin(angle);
            }

            var result = new double[cu[^1] * k.Heads * d];
            var pool = new Dictionary<long, double>();
            for (int s = 0; s < contexts.Length; s++)
            {
                int news = cu[s + 1] - cu[s], prefix = contexts[s] - news;
                // keys[g][pos][i], values likewise: the prefix from the pool, the new tokens roped (k) and as given (v).
                var kv = new double[2, k.KvHeads, contexts[s], d];
                for (int g = 0; g < k.KvHeads; g++)
                    for (int pos = 0; pos < contexts[s]; pos++)
                        for (int v = 0; v < 2; v++)
                            for (int i = 0; i < d; i++)
                            {
                                if (pos < prefix) { kv[v, g, pos, i] = Cached(s, pos, v, g, i); continue; }
                                long head = (long)(cu[s] + pos - prefix) * stride + (k.Heads + v * k.KvHeads + g) * d;
                                double x = v == 0 ? Rope(head, pos, i) : act.Load(qkv[head + i]);
                                if (fp8) x = Fp8E4M3.ToFloat(Fp8E4M3.FromFloat((float)(x / scales[v]))) * (double)scales[v];
                                kv[v, g, pos, i] = x;
                                pool[At(s, pos, v, g) + i] = fp8 ? x / scales[v] : x;
                            }
                for (int r = 0; r < news; r++)
                    for (int h = 0; h < k.Heads; h++)
                    {
                        int g = h / (k.Heads / k.KvHeads), count = prefix + r + 1;
                        long head = (long)(cu[s] + r) * stride + h * d;
                        var q = Enumerable.Range(0, d).Select(i => Rope(head, prefix + r, i)).ToArray();
                        var score = new double[count];
                        for (int pos = 0; pos < count; pos++)
                            score[pos] = Enumerable.Range(0, d).Sum(i => q[i] * kv[0, g, pos, i]) / Math.Sqrt(d);
                        double max = score.Max(), sum = score.Sum(x => Math.Exp(x - max));
                        for (int i = 0; i < d; i++)
                            result[((long)(cu[s] + r) * k.Heads + h) * d + i] = Enumerable.Range(0, count).Sum(pos => Math.Exp(score[pos] - max) * kv[1, g, pos, i]) / sum;
                    }
            }
            return (result, pool);
        }

        private static double RelativeL2(double[] actual, double[] expected) =>
            Math.Sqrt(actual.Zip(expected, (a, e) => (a - e) * (a - e)).Sum() / expected.Sum(e => e * e));

        [Fact]
        public void A_cache_comparison_tolerates_a_one_ulp_key_but_not_a_missing_write_or_a_stray_one()
        {
            var reference = Enumerable.Range(0, 16).Select(i => Fp16.FromFloat(1 + i / 8f)).ToArray();
            var written = new KernelOutput("pool", OutputKind.KvCache, RowWidth: 4, CheckedRows: new[] { 1, 2 }, Element: DType.F16);
            var untouched = new KernelOutput("pool", OutputKind.Exact, RowWidth: 4, CheckedRows: new[] { 0, 3 });
            Comparison Compare(KernelOutput o, ushort[] gpu) => OutputComparison.Compare(o, DType.BF16, _ => gpu, _ => reference);

            var oneUlp = (ushort[])reference.Clone();
            oneUlp[5]++;
            Assert.True(Compare(written, oneUlp).Passed);
            Assert.Equal(2e-3, Compare(written, oneUlp).Tolerance);   // the cache's dtype decides, not the activation's
            var missing = (ushort[])reference.Clone();
            missing[9] = Fp16.FromFloat(-1);
            Assert.False(Compare(written, missing).Passed);
            var stray = (ushort[])reference.Clone();
            stray[13]++;
            Assert.True(Compare(written, stray).Passed);
            Assert.False(Compare(untouched, stray).Passed);
        }
    }
}
