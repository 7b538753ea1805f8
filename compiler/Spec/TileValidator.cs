using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Common;

namespace GraphCompiler.Spec
{
    /// <summary>
    /// Static limits on tiles, checked before anything is compiled: MMA shape divisibility, shared memory per block and
    /// an estimate of registers per thread for the architecture, and divisibility of the model's dimensions.
    /// </summary>
    internal static class TileValidator
    {
        public static bool Validate(ArchTiles tiles, ModelShape model, QuantizationSpec quantization, KvCacheSpec kv, SpecDiagnosticSink sink)
        {
            var arch = tiles.Arch;
            bool ok = true;
            string origin = tiles.FromSpec ? "" : $" (default tiles for {arch.Name}; set 'tiles.{arch.Name}' to choose others)";

            void Fail(string id, TileFamily family, string key, string message)
            {
                ok = false;
                string path = $"tiles.{arch.Name}.{family.SpecName()}.{key}";
                sink.Error(id, $"{arch.Name} {family.SpecName()}: {message}{origin}", tiles.FromSpec ? sink.Map.Get(path) : sink.Map.Get("tiles"));
            }

            void CheckWarps(TileFamily family, int warps)
            {
                if (warps * 32 > arch.MaxThreadsPerBlock)
                    Fail(SpecDiagnosticIds.OutOfRange, family, "warps", $"{warps} warps is {warps * 32} threads; a block has at most {arch.MaxThreadsPerBlock}");
            }

            void CheckSharedMemory(TileFamily family, int bytes) => CheckSharedMemoryAt(family, bytes, "");
            void CheckSharedMemoryAt(TileFamily family, int bytes, string at)
            {
                if (bytes > arch.SharedMemoryPerBlockOptIn)
                    Fail(SpecDiagnosticIds.TileSharedMemory, family, "stages",
                        $"needs {bytes} bytes of shared memory per block{at}; {arch.Name} ({arch.Example}) allows {arch.SharedMemoryPerBlockOptIn}. Lower stages or the block sizes");
            }

            void CheckRegisters(TileFamily family, string key, int registers)
            {
                if (registers > arch.RegistersPerThreadMax)
                    Fail(SpecDiagnosticIds.TileRegisters, family, key,
                        $"needs about {registers} registers per thread (accumulators and fragments); a thread has {arch.RegistersPerThreadMax}. Use more warps or smaller blocks");
            }

            int d = model.HeadDim;
            var p = tiles.PrefillAttention;
            CheckWarps(TileFamily.PrefillAttention, p.Warps);
            if (p.Wgmma && !arch.HasWgmma)
                Fail(SpecDiagnosticIds.TileMmaShape, TileFamily.PrefillAttention, "mma",
                    $"wgmma is Hopper's (sm_90a); {arch.Name} has mma.sync only: use 'mma: mma_sync' or leave 'mma' out");
            else if (p.Mma == AttentionMma.Wgmma && (p.Warps % 4 != 0 || p.BlockM != 16 * p.Warps))
                Fail(SpecDiagnosticIds.TileMmaShape, TileFamily.PrefillAttention, "block_m",
                    $"wgmma tiles give each warpgroup (4 warps) 64 query rows: block_m {p.BlockM} must be 16 × warps with warps a multiple of 4 (e.g. block_m: 128, warps: 8)");
            else if (p.WarpSpecialized && (p.Warps % 4 != 0 || p.Warps < 8 || p.BlockM != 16 * (p.Warps - PrefillAttentionTiles.ProducerWarps)))
                Fail(SpecDiagnosticIds.TileMmaShape, TileFamily.PrefillAttention, "block_m",
                    $"wgmma_ws tiles have one loading warpgroup and give each other warpgroup (4 warps) 64 query rows: block_m {p.BlockM} must be 16 × (warps − 4) with warps a multiple of 4, at least 8 (e.g. block_m: 128, warps: 12)");
            else if (!p.Wgmma && p.BlockM % (16 * p.Warps) != 0)
                Fail(SpecDiagnosticIds.TileMmaShape, TileFamily.PrefillAttention, "block_m",
                    $"block_m {p.BlockM} must be a multiple of 16 × warps = {16 * p.Warps}: warps split the query rows and each owns whole 16-row MMA tiles");
            if (p.QInRegisters && !p.Wgmma)
                Fail(SpecDiagnosticIds.TileMmaShape, TileFamily.PrefillAttention, "q_operand", arch.HasWgmma
                    ? "q_operand: registers is wgmma's choice (mma.sync reads Q through ldmatrix every tile); use 'mma: wgmma' or 'mma: wgmma_ws', or leave 'q_operand' out"
                    : $"q_operand: registers is wgmma's choice (sm_90a); {arch.Name} has mma.sync only: leave 'q_operand' out");
            if (p.BlockN % 16 != 0)
                Fail(SpecDiagnosticIds.TileMmaShape, TileFamily.PrefillAttention, "block_n", $"block_n {p.BlockN} must be a multiple of 16 (the MMA's k for P·V)");
            CheckSharedMemory(TileFamily.PrefillAttention, p.SharedMemoryBytes(d, kv.DType.SizeInBytes()));
            int prefillRegisters = p.RegistersPerThread(d);
            CheckRegisters(TileFamily.PrefillAttention, "block_n", prefillRegisters);
            if (p.WarpSpecialized)
            {
                if (prefillRegisters > p.ConsumerRegisters)
                    Fail(SpecDiagnosticIds.TileRegisters, TileFamily.PrefillAttention, "block_n",
                        $"a computing thread needs about {prefillRegisters} registers; with {p.Warps} warps it gets {p.ConsumerRegisters} (the loading warpgroup keeps {PrefillAttentionTiles.ProducerRegisters}). Use fewer warps or a smaller block_n");
            }
            else if (p.Warps * 32 * prefillRegisters > GpuArch.RegistersPerSm)
                Fail(SpecDiagnosticIds.TileRegisters, TileFamily.PrefillAttention, "warps",
                    $"{p.Warps} warps of about {prefillRegisters} registers need {p.Warps * 32 * prefillRegisters}; an SM has {GpuArch.RegistersPerSm}. Use fewer warps or a smaller block_n");

            void ValidateDecode(TileFamily family, DecodeAttentionTiles q)
            {
                CheckWarps(family, q.Warps);
                if (q.BlockNRule(kv.BlockSize) is { } broken) Fail(broken.Id, family, "block_n", broken.Message);
                if (q.Splits > Kernels.Attention.DecodeAttentionFamily.MaxSplits(arch))
                    Fail(SpecDiagnosticIds.OutOfRange, family, "splits",
                        $"splits {q.Splits}: on {arch.Name} a (sequence, KV head)'s splits merge in one thread-block cluster, at most {arch.ClusterCtasMax} CTAs; use at most {arch.ClusterCtasMax}, or 0 to let the runtime choose");
                CheckSharedMemoryAt(family, q.SharedMemoryBytes(d, new DecodeQueries(model.QueryHeadsPerKvHead), kv.DType.SizeInBytes(), Kernels.Attention.DecodeAttentionFamily.MergeClusterCtas(arch), DecodeQueries.MaxStepTokens),
                    $" at a step of {DecodeQueries.MaxStepTokens} tokens a sequence (speculative verification)");
                CheckRegisters(family, "warps", q.RegistersPerThread(d, new DecodeQueries(model.QueryHeadsPerKvHead)));
            }
            ValidateDecode(TileFamily.DecodeAttention, tiles.DecodeAttention);
            if (tiles.DecodeAttentionWide is { } wide) ValidateDecode(TileFamily.DecodeAttentionWide, wide);

            foreach (var family in TileFamilies.All.Where(f => f.IsGemm()))
                ValidateGemm(family, tiles.Gemm(family), model, quantization, Fail, CheckWarps, CheckSharedMemory, CheckRegisters);

            int threads = tiles.Elementwise.Threads;
            if (threads % 32 != 0 || threads > arch.MaxThreadsPerBlock)
                Fail(SpecDiagnosticIds.TileMmaShape, TileFamily.Elementwise, "threads", $"threads {threads} must be a multiple of 32, at most {arch.MaxThreadsPerBlock}");
            return ok;
        }

        private static void ValidateGemm(TileFamily family, GemmTiles t, ModelShape model, QuantizationSpec quantization,
            Action<string, TileFamily, string, string> fail, Action<TileFamily, int> checkWarps,
            Action<TileFamily, int> checkSharedMemory, Action<TileFamily, string, int> checkRegisters)
        {
            checkWarps(family, t.Warps);
            foreach (var (key, value) in new[] { ("block_m", t.BlockM), ("block_n", t.BlockN), ("block_k", t.BlockK) })
                if (value % 16 != 0)
                    fail(SpecDiagnosticIds.TileMmaShape, family, key, $"{key} {value} must be a multiple of 16 (mma.sync m16n8k16 with ldmatrix x4)");
            if (t.BlockM % 16 == 0 && t.BlockK % 16 == 0 && t.BlockN % 16 == 0 && t.BlockN % 64 != 0)
                fail(SpecDiagnosticIds.TileMmaShape, family, "block_n", $"block_n {t.BlockN} must be a multiple of 64: a warp owns whole 64-column weight tiles");
            else if (t.BlockM % 16 == 0 && t.BlockK % 16 == 0 && t.BlockN % 16 == 0 && t.Warps > 0 && Kernels.Gemm.GemmPartition.TryOf(t, out var partition) is null)
                fail(SpecDiagnosticIds.TileMmaShape, family, "warps", partition!);

            var schemes = TileDefaults.LinearSchemes(model, quantization)
                .Where(x => family.Runs(x.Scheme.Method))
                .ToList();

            int minGroup = int.MaxValue;
            foreach (var (module, scheme) in schemes)
            {
                int k = model.LinearShape(module).K;
                if (k % t.BlockK != 0)
                    fail(SpecDiagnosticIds.TileDoesNotDivideShape, family, "block_k",
                        $"block_k {t.BlockK} does not divide K = {k} of {module.SpecName()}; use a block_k that divides every K of this family");
                else if (t.SplitK > 0 && k % (t.BlockK * t.SplitK) != 0)
                    fail(SpecDiagnosticIds.TileDoesNotDivideShape, family, "split_k",
                        $"split_k {t.SplitK} × block_k {t.BlockK} does not divide K = {k} of {module.SpecName()}; each split must take whole K steps");
                if (scheme.Method == QuantMethod.Int4)
                {
                    int g = scheme.GroupSizeFor(k);
                    minGroup = Math.Min(minGroup, g);
                    if (t.BlockK % g != 0 && g % t.BlockK != 0)
                        fail(SpecDiagnosticIds.TileDoesNotDivideShape, family, "block_k",
                            $"block_k {t.BlockK} and group_size {g} of {module.SpecName()} must divide one another, so each K step sees whole scale groups");
                }
            }
            checkSharedMemory(family, t.SharedMemoryBytes(family, minGroup == int.MaxValue ? 128 : minGroup));
            checkRegisters(family, "block_n", t.RegistersPerThread());
        }
    }
}
