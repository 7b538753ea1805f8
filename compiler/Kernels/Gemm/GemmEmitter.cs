using System;
using System.Globalization;
using GraphCompiler.Common;
using GraphCompiler.Graph;
using GraphCompiler.Spec;

namespace GraphCompiler.Kernels.Gemm
{
    /// <summary>
    /// y[M, N] = x[M, K] · W[N, K]ᵀ on tensor cores, for weights in <see cref="WeightFragments"/> order: dense fp16/bf16,
    /// INT4 (GPTQ or AWQ repacked, group-wise scales, symmetric or with zeros, act-order through a row permutation) and
    /// FP8 e4m3 with fp16/bf16 activations (W8A16) or FP8 activations (W8A8: per-token codes and scales from the producer,
    /// or a static input_scale applied as the tile loads; both widened exactly and multiplied on fp16/bf16 tensor cores,
    /// the scales on the fp32 sums). One kernel shape for decode and prefill, stream-K: the launch has one
    /// CTA per resident slot and each takes an equal run of the (block_m × block_n output tile × block_k step) units, so
    /// every SM streams weights to the end whatever the shape; a tile split between CTAs is finished by the last to
    /// arrive, which adds the fp32 partials in CTA order (results do not depend on scheduling); a stages-deep cp.async pipeline
    /// brings activations (ldmatrix-read, rows padded by 16 bytes so the eight row reads hit distinct banks), weight
    /// fragments (under L2's evict-first policy in decode tiles) and group scales into shared memory; each warp
    /// dequantizes its fragments in registers and issues mma.sync m16n8k16 with fp32 accumulators. Epilogues: store
    /// (activation dtype, or fp32 logits), residual add, SwiGLU over interleaved gate/up columns, FP8 per-channel weight
    /// scale.
    /// </summary>
    public static class GemmEmitter
    {
        /// <summary>Why a GEMM cannot be emitted yet, or null.</summary>
        public static string? Unsupported(GemmKernel k)
        {
            if (k.N % 2 != 0 || k.K % WeightFragments.TileK != 0)
                return $"K = {k.K} must be a multiple of 16 and N = {k.N} even for the fragment-ordered weight layout";
            if (k.Epilogue == GemmEpilogue.SwiGlu && k.N / 2 % (WeightFragments.TileN / 2) != 0)
                return $"the SwiGLU epilogue interleaves 32 gate and 32 up columns per tile; intermediate {k.N / 2} is not a multiple of 32";
            return null;
        }

        public static int WeightBits(QuantScheme scheme) => scheme.Method switch
        {
            QuantMethod.Int4 => 4,
            QuantMethod.Fp8E4M3 => 8,
            _ => 16,
        };

        public static KernelSource Emit(GemmKernel k, ArchTiles tiles, LaunchShape launch)
        {
            var t = tiles.Gemm(k.Tiles);
            int resident = GemmPartition.ResidentCtasPerSm(t, launch.SharedMemoryBytes, tiles.Arch);
            var p = GemmPartition.Of(t);
            var s = k.Scheme;
            bool int4 = s.Method == QuantMethod.Int4, fp8 = s.Method == QuantMethod.Fp8E4M3;
            bool zeros = int4 && !s.Symmetric, actOrder = int4 && s.DescAct;
            int bits = WeightBits(s);
            string tileKey = "tiles." + tiles.Arch.Name + "." + k.Tiles.SpecName();
            var activationScale = fp8 ? s.ActivationScale : ActivationScaling.None;
            // A decode step reads each weight once (one row tile, or the few a batch twin's CTAs read at about the same time),
            // so the decode tiles copy weights under L2's evict-first policy, as decode attention copies its cache; prefill
            // tiles read a weight tile once a row tile, and keep plain copies.
            bool readOnce = k.Tiles.IsDecodeGemm();
            var b = new CudaSourceBuilder(k.Name, k.Summary, k.Activation, PreludeFeatures.TensorCore | PreludeFeatures.CrossCta
                    | (int4 ? PreludeFeatures.Int4 : PreludeFeatures.None) | (activationScale == ActivationScaling.Static ? PreludeFeatures.Fp8 : PreludeFeatures.None)
                    | (readOnce ? PreludeFeatures.ReadOnce : PreludeFeatures.None))
                .Constant("kK", k.K, "input features")
                .Constant("kN", k.N, "output features" + (k.Epilogue == GemmEpilogue.SwiGlu ? " (gate and up, interleaved per 64-column tile)" : ""))
                .Constant("kOutStride", k.OutputStride, "elements per output row")
                .Constant("kBlockM", t.BlockM, tileKey + ".block_m")
                .Constant("kBlockN", t.BlockN, tileKey + ".block_n")
                .Constant("kBlockK", t.BlockK, tileKey + ".block_k")
                .Constant("kStages", t.Stages, tileKey + ".stages")
                .Constant("kThreads", t.Warps * 32, tileKey + ".warps × 32")
                .Constant("kMinBlocks", resident, "CTAs per SM the launch counts on (shared memory, 128 registers a thread)")
                .Constant("kWarpsN", p.WarpsN, "warps along N (GemmPartition)")
                .Constant("kWarpsM", p.WarpsM, "warps along M")
                .Constant("kWarpsK", p.WarpsK, "warps splitting each K step")
                .Constant("kNTilesPerWarp", p.NTilesPerWarp, "64-column weight tiles per warp")
                .Constant("kMFrags", p.MFragsPerWarp, "16-row MMA tiles per warp")
                .Constant("kKTilesPerWarp", p.KTilesPerWarp, "16-deep MMA steps per warp per K step")
                .Constant("kTileBytes", WeightFragments.TileBytes(bits), $"one 16×64 weight tile at {bits} bits")
                .Constant("kWeightTilesN", WeightFragments.PaddedN(k.N) / WeightFragments.TileN, "64-column weight tiles (the last zero-padded)")
                .Constant("kWeightTilesK", k.K / WeightFragments.TileK, "16-row weight tiles")
                .Constant("kAStride", t.BlockK + 8, "activation row in shared memory, padded by 16 bytes");
            if (int4)
            {
                int g = s.GroupSizeFor(k.K);
                b.Constant("kGroupSize", g, s.GroupSize == -1 ? "one group per output channel" : "quantization group_size")
                 .Constant("kGroupRows", Math.Max(1, t.BlockK / g), "scale rows per K step");
            }
            b.Constant("kAStageBytes", t.BlockM * (t.BlockK + 8) * 2, "activations per stage")
             .Constant("kBStageBytes", t.BlockN / WeightFragments.TileN * (t.BlockK / WeightFragments.TileK) * WeightFragments.TileBytes(bits), "weight tiles per stage")
             .Constant("kGroupStageBytes", int4 ? Math.Max(1, t.BlockK / s.GroupSizeFor(k.K)) * t.BlockN * 2 * (zeros ? 2 : 1) : 0, "scale (and zero) rows per stage")
             .Raw("constexpr int kStageBytes = kAStageBytes + kBStageBytes + kGroupStageBytes;\n\n");

            b.Raw(FragmentLoader(k, bits, zeros));

            if (activationScale == ActivationScaling.Dynamic)
                b.Parameter("const gc_e4m3* __restrict__", "x", "input rows [M, K] as e4m3 codes")
                 .Parameter("const float* __restrict__", "x_scale", "input row scales [M] fp32");
            else
                b.Parameter("const gc_act* __restrict__", "x", "input rows [M, K]");
            if (activationScale == ActivationScaling.Static)
                b.Parameter("const float* __restrict__", "input_scale", "the checkpoint's static activation scale [1] fp32");
            b
             .Parameter("const gc_u32* __restrict__", "weight", $"weight, fragment-ordered [{WeightFragments.PaddedN(k.N) / 64} × {k.K / 16} tiles of {WeightFragments.TileBytes(bits)} bytes]");
            if (int4)
            {
                b.Parameter("const gc_act* __restrict__", "scales", "group scales [K/g, N padded to 64], columns in fragment order");
                if (zeros) b.Parameter("const gc_act* __restrict__", "zeros", "group zero points as −(magic + z) [K/g, N padded to 64], fragment order");
                if (actOrder) b.Parameter("const int* __restrict__", "perm", "act-order: the source input row of each device row [K]");
            }
            if (fp8) b.Parameter("const float* __restrict__", "weight_scale", "per output channel [N] fp32");
            string outType = k.Output == DType.F32 ? "float" : "gc_act";
            b.Parameter(outType + "* __restrict__", k.Epilogue == GemmEpilogue.AddResidual ? "residual" : "out",
                    k.Epilogue switch
                    {
                        GemmEpilogue.AddResidual => "residual [M, stride] (read and written)",
                        GemmEpilogue.SwiGlu => "silu(gate) · up [M, N/2]",
                        _ => "output [M, stride], at the launch's column offset",
                    })
             .Parameter("float* __restrict__", "partials", "stream-K fp32 partial tiles [CTAs × 2, block_m × block_n]")
             .Parameter("int* __restrict__", "tile_counters", "stream-K arrivals per output tile, zero between launches")
             .Parameter("int", "rows", "M");

            string body = Body(k, t, actOrder, fp8, activationScale, readOnce);
            string source = b.Finish("kThreads", body, "kMinBlocks");
            return new KernelSource(k.Name, k.Family, k.Summary, tiles.Arch.Name, source, b.Parameters.ToEquatableArray(), launch, null);
        }

        /// <summary>Shared memory of one launch: the pipeline, or the K-split warps' sums if larger.</summary>
        public static int SharedMemoryBytes(GemmKernel k, GemmTiles t)
        {
            var s = k.Scheme;
            int bits = WeightBits(s);
            int group = s.Method == QuantMethod.Int4 ? Math.Max(1, t.BlockK / s.GroupSizeFor(k.K)) * t.BlockN * 2 * (s.Symmetric ? 1 : 2) : 0;
            int stage = t.BlockM * (t.BlockK + 8) * 2 + t.BlockN * t.BlockK * bits / 8 + group;
            return Math.Max(t.Stages * stage, GemmPartition.Of(t).ReductionBytes(t));
        }

        /// <summary>The scheme's fragment loader: one lane's 16 B-registers of one weight tile row, in the activation dtype.</summary>
        private static string FragmentLoader(GemmKernel k, int bits, bool zeros)
        {
            var s = k.Scheme;
            var (magicBits, magic) = CudaDialect.Int4Magic(k.Activation);
            string Hex2(int half) => CudaDialect.Paired((ushort)half);
            const string head = @"// ---- Fragments: lane's B registers (b[2s + r]: subtile s, rows 8r..8r+7) of weight tile `tile`, 16-row slice `kt` ----
__device__ __forceinline__ void load_b_fragments(const unsigned char* stage_b, const unsigned char* stage_groups, int tile, int kt,
                                                 int lane, gc_u32 b[16]) {
    const uint4* frag = reinterpret_cast<const uint4*>(stage_b + (tile * (kBlockK / 16) + kt) * kTileBytes) + lane;
";
            switch (bits)
            {
                case 16:
                    return head + @"    // Already fp16/bf16 pairs: four 16-byte vectors, 512 bytes apart.
#pragma unroll
    for (int v = 0; v < 4; ++v) {
        const uint4 q = frag[v * 32];
        b[4 * v] = q.x; b[4 * v + 1] = q.y; b[4 * v + 2] = q.z; b[4 * v + 3] = q.w;
    }
}

";
                case 8:
                    return Fp8Widening.E4m3x2(k.Activation) + head + @"    // Two 16-byte vectors, 512 bytes apart; each 32-bit word holds subtile 4v + w: rows 0-1 then 8-9 of its column.
#pragma unroll
    for (int v = 0; v < 2; ++v) {
        const uint4 q = frag[v * 32];
        const gc_u32 words[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
        for (int w = 0; w < 4; ++w) {
            b[2 * (4 * v + w)] = widen_e4m3x2(words[w], 0);
            b[2 * (4 * v + w) + 1] = widen_e4m3x2(words[w], 1);
        }
    }
}

";
                default:
                    {
                        // fp16's magic leaves room for a code 16 times over in its mantissa; bf16's (7 bits) does not. With zero
                        // points the high nibbles' −(64 + z) would cost the instruction the shared shift saves, and a register.
                        bool highNibbles = k.Activation == DType.F16 && !zeros;
                        string vectorOf(string what, string at) =>
                            $"    const uint4 {what}v = *reinterpret_cast<const uint4*>(stage_groups + {at}(g * kBlockN + tile * 64 + lane / 4 * 8) * 2);\n"
                            + $"    const gc_u32 {what}_words[4] = {{{what}v.x, {what}v.y, {what}v.z, {what}v.w}};\n";
                        return $@"// INT4: OR-ing a code into the mantissa of {magic} ({k.Activation.SpecName()} bits 0x{magicBits:X4}) gives {magic} + code exactly; adding
// −({magic} + zero) leaves q − z exactly, then one rounding multiply by the group scale: w = (q − z) · s as the reference computes it.
constexpr gc_u32 kMagic2 = {Hex2(magicBits)};
constexpr gc_u32 kOne2 = {Hex2(k.Activation == DType.BF16 ? 0x3F80 : 0x3C00)};
constexpr gc_u32 kNegZero2 = 0x80008000u;
" + (zeros ? "" : $"constexpr gc_u32 kNegMagicPlusZero2 = {Hex2((k.Activation == DType.BF16 ? 0xC300 : 0xE400) | 8)};  // −({magic} + 8): symmetric zero point 8\n")
                            + (highNibbles ? $"constexpr gc_u32 kNegMagicPlusZeroHigh2 = {Hex2(0xD480)};  // −(64 + 8): (1024 + 16 · code) / 16 − (64 + 8) = code − 8\n"
                                + $"constexpr gc_u32 kSixteenth2 = {Hex2(0x2C00)};\n" : "")
                            + "\n" + head + @"    const uint4 q = frag[0];
    const gc_u32 words[4] = {q.x, q.y, q.z, q.w};
    // The lane's eight columns' scales" + (zeros ? " and negated zeros" : "") + @" for this slice's group: subtile s in half s%2 of word s/2.
    const int g = kGroupSize >= kBlockK ? 0 : kt * 16 / kGroupSize;
" + vectorOf("scale", "") + (zeros ? vectorOf("zero", "kGroupRows * kBlockN * 2 + ") : "") + @"#pragma unroll
    for (int w = 0; w < 4; ++w) {
#pragma unroll
        for (int half = 0; half < 2; ++half) {  // subtile 2w + half: its scale" + (zeros ? " and zero" : "") + @" in both halves of a register
            const gc_u32 pick = half ? 0x3232u : 0x1010u;
            const gc_u32 scale = gc_prmt(scale_words[w], 0u, pick);
" + (highNibbles ? @"            // Slots 2·half and 2·half + 1 (rows 0-1, then 8-9) are the low and high nibbles of the same bytes: one shift for
            // both, the high ones OR-ed in place (the magic + 16 · code), the exact 1/16 folded into their subtraction's FMA.
            const gc_u32 nibbles = words[w] >> (8 * half);
            b[2 * (2 * w + half)] = gc_fma2(gc_fma2(gc_lop3_and_or(nibbles, 0x000F000Fu, kMagic2), kOne2, kNegMagicPlusZero2), scale, kNegZero2);
            b[2 * (2 * w + half) + 1] = gc_fma2(gc_fma2(gc_lop3_and_or(nibbles, 0x00F000F0u, kMagic2), kSixteenth2, kNegMagicPlusZeroHigh2), scale, kNegZero2);
" : @"            const gc_u32 neg_zero = " + (zeros ? "gc_prmt(zero_words[w], 0u, pick)" : "kNegMagicPlusZero2") + @";
#pragma unroll
            for (int r = 0; r < 2; ++r) {  // slot 2·half + r holds rows 8r + {0, 1} as nibbles slot and slot + 4
                const gc_u32 codes = gc_lop3_and_or(words[w] >> (4 * (2 * half + r)), 0x000F000Fu, kMagic2);
                b[2 * (2 * w + half) + r] = gc_fma2(gc_fma2(codes, kOne2, neg_zero), scale, kNegZero2);
            }
") + @"        }
    }
}

";
                    }
            }
        }

        private static string Body(GemmKernel k, GemmTiles t, bool actOrder, bool fp8, ActivationScaling activationScale, bool readOnce)
        {
            bool int4 = k.Scheme.Method == QuantMethod.Int4;
            bool zeros = int4 && !k.Scheme.Symmetric;
            string loadA = activationScale == ActivationScaling.Dynamic
                ? @"        // W8A8: e4m3 codes widened exactly to the activation dtype; the row's scale multiplies the fp32 sums.
        for (int i = threadIdx.x; i < kBlockM * kBlockK / 8; i += kThreads) {
            const int r = i / (kBlockK / 8), c = i % (kBlockK / 8), row = m0 + r;
            uint2 codes = make_uint2(0u, 0u);
            if (row < rows) codes = *reinterpret_cast<const uint2*>(x + (long long)row * kK + k0 + c * 8);
            *reinterpret_cast<uint4*>(base + (r * kAStride + c * 8) * 2) =
                make_uint4(widen_e4m3x2(codes.x, 0), widen_e4m3x2(codes.x, 1), widen_e4m3x2(codes.y, 0), widen_e4m3x2(codes.y, 1));
        }
"
                : activationScale == ActivationScaling.Static
                ? @"        // W8A8 static: each activation quantized to e4m3 with the checkpoint's scale, held as the exact code value.
        for (int i = threadIdx.x; i < kBlockM * kBlockK / 8; i += kThreads) {
            const int r = i / (kBlockK / 8), c = i % (kBlockK / 8), row = m0 + r;
            gc_act8 v;
            if (row < rows) v = *reinterpret_cast<const gc_act8*>(x + (long long)row * kK + k0 + c * 8);
#pragma unroll
            for (int j = 0; j < kActPerVec; ++j)
                v.v[j] = row < rows ? gc_f32_to_act(gc_e4m3_to_f32(gc_f32_to_e4m3(gc_act_to_f32(v.v[j]) / input_scale[0]))) : (gc_act)0;
            *reinterpret_cast<gc_act8*>(base + (r * kAStride + c * 8) * 2) = v;
        }
"
                : actOrder
                ? @"        // Act-order: device row k of W is source row perm[k], so the activations are gathered to match.
        for (int i = threadIdx.x; i < kBlockM * kBlockK / 8; i += kThreads) {
            const int r = i / (kBlockK / 8), c = i % (kBlockK / 8), row = m0 + r;
            gc_act8 v;
#pragma unroll
            for (int j = 0; j < kActPerVec; ++j) v.v[j] = row < rows ? x[(long long)row * kK + perm[k0 + c * 8 + j]] : (gc_act)0;
            *reinterpret_cast<gc_act8*>(base + (r * kAStride + c * 8) * 2) = v;
        }
"
                : @"        for (int i = threadIdx.x; i < kBlockM * kBlockK / 8; i += kThreads) {
            const int r = i / (kBlockK / 8), c = i % (kBlockK / 8), row = m0 + r;
            gc_cp_async16(gc_smem_address(base + (r * kAStride + c * 8) * 2), x + (long long)min(row, rows - 1) * kK + k0 + c * 8, row < rows ? 16 : 0);
        }
";
            string loadGroups = int4
                ? @"        // Scale" + (zeros ? " and zero" : "") + @" rows of the groups this step covers, this tile's columns.
        for (int i = threadIdx.x; i < kGroupRows * kBlockN / 8; i += kThreads) {
            const int g = i / (kBlockN / 8), c = i % (kBlockN / 8), column = n_tile0 * 64 + c * 8;
            const long long at = (long long)(k0 / kGroupSize + g) * kWeightTilesN * 64 + column;
            if (column < kWeightTilesN * 64) {
                gc_cp_async16(gc_smem_address(base + kAStageBytes + kBStageBytes + i * 16), scales + at, 16);
" + (zeros ? @"                gc_cp_async16(gc_smem_address(base + kAStageBytes + kBStageBytes + kGroupRows * kBlockN * 2 + i * 16), zeros + at, 16);
" : "") + @"            }
        }
"
                : "";

            string copy = readOnce ? "gc_cp_async16_once" : "gc_cp_async16", policy = readOnce ? ", policy" : "";
            // A thread's weight vectors are threadIdx.x + j · kThreads. Where a strip's run and the CTA's threads divide one
            // another, unrolled, their strips and offsets are constants on one base: the general loop's divisions and 64-bit
            // address math per 16 bytes were about a quarter of a few-row INT4 kernel's instructions (tests/bench/NOTES.md).
            int runVectors = t.BlockK / 16 * WeightFragments.TileBytes(WeightBits(k.Scheme)) / 16, threads = t.Warps * 32;
            bool unrolled = (runVectors % threads == 0 || threads % runVectors == 0) && t.BlockN / 64 * runVectors % threads == 0;
            string loadWeights = @"            // Each 64-column strip's K tiles are contiguous, so a step is one run per strip.
            constexpr int kRunVectors = kBlockK / 16 * kTileBytes / 16;
" + (unrolled ? @"            const unsigned char* w = reinterpret_cast<const unsigned char*>(weight) + ((long long)n_tile0 * kWeightTilesK + step * (kBlockK / 16)) * kTileBytes;
#pragma unroll
            for (int j = 0; j < kBlockN / 64 * kRunVectors / kThreads; ++j) {
" + (runVectors >= threads
                ? @"                const int t = j * kThreads / kRunVectors, v = j * kThreads % kRunVectors + threadIdx.x;   // kThreads divides a run
"
                : @"                const int t = threadIdx.x / kRunVectors + j * (kThreads / kRunVectors), v = threadIdx.x % kRunVectors;   // runs divide kThreads
") + @"                if (n_tile0 + t < kWeightTilesN)
                    " + copy + @"(gc_smem_address(base + kAStageBytes + (t * kRunVectors + v) * 16), w + t * ((long long)kWeightTilesK * kTileBytes) + v * 16, 16" + policy + @");
            }
" : @"            const unsigned char* w = reinterpret_cast<const unsigned char*>(weight);
            for (int i = threadIdx.x; i < kBlockN / 64 * kRunVectors; i += kThreads) {
                const int t = i / kRunVectors, v = i % kRunVectors;
                if (n_tile0 + t < kWeightTilesN)
                    " + copy + @"(gc_smem_address(base + kAStageBytes + i * 16),
                                  w + ((long long)(n_tile0 + t) * kWeightTilesK + step * (kBlockK / 16)) * kTileBytes + v * 16, 16" + policy + @");
            }
");

            string store = k.Epilogue switch
            {
                GemmEpilogue.SwiGlu => @"            // ---- SwiGLU: subtiles 0-3 of a weight tile are gate columns, 4-7 the same up columns; rounded as torch rounds ----
#pragma unroll
            for (int mf = 0; mf < kMFrags; ++mf)
#pragma unroll
                for (int t = 0; t < kNTilesPerWarp; ++t)
#pragma unroll
                    for (int s = 0; s < 4; ++s)
#pragma unroll
                        for (int h = 0; h < 2; ++h) {
                            const int row = row0 + mf * 16 + lane / 4 + 8 * h, tile = n_tile0 + warp_n * kNTilesPerWarp + t;
                            if (row >= rows || tile >= kWeightTilesN) continue;
                            const int column = tile * 32 + s * 8 + lane % 4 * 2;
                            gc_act pair[2];
#pragma unroll
                            for (int e = 0; e < 2; ++e) {
" + (fp8 ? @"                                const int device_column = tile * 64 + s * 8 + lane % 4 * 2 + e;   // up is 32 device columns on
                                const float gate = gc_round_act(acc[mf][t * 8 + s][2 * h + e] * weight_scale[device_column]" + RowScale(activationScale) + @");
                                const float up = gc_round_act(acc[mf][t * 8 + s + 4][2 * h + e] * weight_scale[device_column + 32]" + RowScale(activationScale) + @");
" : @"                                const float gate = gc_round_act(acc[mf][t * 8 + s][2 * h + e]), up = gc_round_act(acc[mf][t * 8 + s + 4][2 * h + e]);
") + @"                                pair[e] = gc_f32_to_act(gc_round_act(gate / (1.0f + expf(-gate))) * up);
                            }
                            *reinterpret_cast<gc_u32*>(out + (long long)row * kOutStride + column) = pair[0] | (gc_u32)pair[1] << 16;
                        }
",
                _ => @"            // ---- " + (k.Epilogue == GemmEpilogue.AddResidual ? "residual += round(y)" : k.Output == DType.F32 ? "Store fp32" : "Store") + (fp8 ? ", after the per-channel weight scale" : "") + @" ----
#pragma unroll
            for (int mf = 0; mf < kMFrags; ++mf)
#pragma unroll
                for (int j = 0; j < kNTilesPerWarp * 8; ++j)
#pragma unroll
                    for (int h = 0; h < 2; ++h) {
                        const int row = row0 + mf * 16 + lane / 4 + 8 * h;
                        const int column = (n_tile0 + warp_n * kNTilesPerWarp + j / 8) * 64 + j % 8 * 8 + lane % 4 * 2;
                        if (row >= rows || column >= kN) continue;
                        float y0 = acc[mf][j][2 * h], y1 = acc[mf][j][2 * h + 1];
" + (fp8 ? @"                        y0 *= weight_scale[column]" + RowScale(activationScale) + @";
                        y1 *= weight_scale[column + 1]" + RowScale(activationScale) + @";
" : "") + (k.Epilogue == GemmEpilogue.AddResidual
                    ? @"                        gc_u32* at = reinterpret_cast<gc_u32*>(residual + (long long)row * kOutStride + column);
                        const gc_u32 old = *at;
                        *at = gc_f32_to_act(gc_act_to_f32((gc_act)(old & 0xFFFFu)) + gc_round_act(y0))
                            | (gc_u32)gc_f32_to_act(gc_act_to_f32((gc_act)(old >> 16)) + gc_round_act(y1)) << 16;
"
                    : k.Output == DType.F32
                    ? @"                        *reinterpret_cast<float2*>(out + (long long)row * kOutStride + column) = make_float2(y0, y1);
"
                    : @"                        *reinterpret_cast<gc_u32*>(out + (long long)row * kOutStride + column) = gc_f32_to_act(y0) | (gc_u32)gc_f32_to_act(y1) << 16;
") + @"                    }
",
            };

            return @"    extern __shared__ __align__(16) unsigned char smem[];
    __shared__ int is_last_arrival;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
" + (readOnce ? "    const unsigned long long policy = gc_l2_evict_first();   // the weight copies'\n" : "") + @"    const int warp_n = warp % kWarpsN, warp_m = warp / kWarpsN % kWarpsM, warp_k = warp / (kWarpsN * kWarpsM);
    const bool owner = warp_k == 0;                          // the warps that keep the K-split warps' sums
    constexpr int kOwners = kWarpsN * kWarpsM * 32;
    const int owner_index = (warp_m * kWarpsN + warp_n) * 32 + lane;
    constexpr int kAcc = kMFrags * kNTilesPerWarp * 8 * 4;   // accumulators per thread

    // ---- Stream-K: this CTA's run of the (output tile, K step) units, tile-major; CTA c starts at c·units/CTAs ----
    constexpr int kSteps = kK / kBlockK;
    const int tiles_n = (kN + kBlockN - 1) / kBlockN;
    const long long units = (long long)tiles_n * ((rows + kBlockM - 1) / kBlockM) * kSteps;
    auto run_begin = [&](long long cta) { return cta * units / gridDim.x; };
    auto cta_of = [&](long long unit) { return ((unit + 1) * gridDim.x - 1) / units; };   // the CTA whose run holds unit
    const long long begin = run_begin(blockIdx.x), end = run_begin(blockIdx.x + 1);

    for (long long u = begin; u < end;) {
        const int tile = (int)(u / kSteps), k_begin = (int)(u % kSteps);
        const int k_end = (int)min((long long)kSteps, k_begin + (end - u));
        const bool first_of_run = u == begin;
        u += k_end - k_begin;
        const int m0 = tile / tiles_n * kBlockM, row0 = m0 + warp_m * kMFrags * 16;
        const int n_tile0 = tile % tiles_n * (kBlockN / 64);   // first 64-column weight tile of the output tile
        const int steps = k_end - k_begin;

        // ---- Stage loader: activation rows (zero past `rows`), weight tiles" + (int4 ? ", group scales" : "") + @" ----
        auto load_stage = [&](int stage, int step) {
            unsigned char* base = smem + stage * kStageBytes;
            const int k0 = step * kBlockK;
" + CudaSourceBuilder.Indent(loadA) + loadWeights + CudaSourceBuilder.Indent(loadGroups) + @"        };

        // ---- Pipeline prologue: stages − 1 K steps in flight ----
        for (int s = 0; s < kStages - 1; ++s) {
            if (s < steps) load_stage(s, k_begin + s);
            gc_cp_async_commit();
        }

        // ---- Main loop: wait for step i, refill the stage step i − 1 used, multiply step i ----
        float acc[kMFrags][kNTilesPerWarp * 8][4] = {};
        for (int i = 0; i < steps; ++i) {
            gc_cp_async_wait<kStages - 2>();
            __syncthreads();
            if (i + kStages - 1 < steps) load_stage((i + kStages - 1) % kStages, k_begin + i + kStages - 1);
            gc_cp_async_commit();
            const unsigned char* stage = smem + (i % kStages) * kStageBytes;
#pragma unroll
            for (int j = 0; j < kKTilesPerWarp; ++j) {
                const int kt = warp_k * kKTilesPerWarp + j;
                gc_u32 a[kMFrags][4];
#pragma unroll
                for (int mf = 0; mf < kMFrags; ++mf)
                    gc_ldmatrix_x4(a[mf], gc_smem_address(stage + ((warp_m * kMFrags * 16 + mf * 16 + lane % 16) * kAStride + kt * 16 + lane / 16 * 8) * 2));
#pragma unroll
                for (int t = 0; t < kNTilesPerWarp; ++t) {
                    const int tile_in_cta = warp_n * kNTilesPerWarp + t;
                    if (n_tile0 + tile_in_cta >= kWeightTilesN) continue;
                    gc_u32 b[16];
                    load_b_fragments(stage + kAStageBytes, stage + kAStageBytes + kBStageBytes, tile_in_cta, kt, lane, b);
#pragma unroll
                    for (int mf = 0; mf < kMFrags; ++mf)
#pragma unroll
                        for (int s = 0; s < 8; ++s) gc_mma_m16n8k16(acc[mf][t * 8 + s], a[mf], b[2 * s], b[2 * s + 1]);
                }
            }
        }
        gc_cp_async_wait<0>();
        __syncthreads();

        // ---- Warps that split each K step add their sums into the owners', in warp order ----
        // (The accumulator loops are spelled out: a helper taking a lambda cost 11 registers here and spilled in prefill.)
        if (kWarpsK > 1) {
            float* sums = reinterpret_cast<float*>(smem) + owner_index / 32 * kAcc * 32;
            for (int kw = 1; kw < kWarpsK; ++kw) {
                if (warp_k == kw) {
#pragma unroll
                    for (int mf = 0; mf < kMFrags; ++mf)
#pragma unroll
                        for (int j = 0; j < kNTilesPerWarp * 8; ++j)
#pragma unroll
                            for (int e = 0; e < 4; ++e) sums[((mf * kNTilesPerWarp * 8 + j) * 4 + e) * 32 + lane] = acc[mf][j][e];
                }
                __syncthreads();
                if (owner) {
#pragma unroll
                    for (int mf = 0; mf < kMFrags; ++mf)
#pragma unroll
                        for (int j = 0; j < kNTilesPerWarp * 8; ++j)
#pragma unroll
                            for (int e = 0; e < 4; ++e) acc[mf][j][e] += sums[((mf * kNTilesPerWarp * 8 + j) * 4 + e) * 32 + lane];
                }
                __syncthreads();
            }
        }

        // ---- A tile shared with other CTAs: publish the partial sums; the last to arrive adds all, in CTA order ----
        if (k_begin != 0 || k_end != kSteps) {
            // Each CTA has two partial slots: its run's first tile (0) and its last (1); whole tiles in between need none.
            float* mine = partials + ((long long)blockIdx.x * 2 + (first_of_run ? 0 : 1)) * kAcc * kOwners;
            if (owner)
#pragma unroll
                for (int mf = 0; mf < kMFrags; ++mf)
#pragma unroll
                    for (int j = 0; j < kNTilesPerWarp * 8; ++j)
#pragma unroll
                        for (int e = 0; e < 4; ++e) mine[((mf * kNTilesPerWarp * 8 + j) * 4 + e) * kOwners + owner_index] = acc[mf][j][e];
            __threadfence();
            __syncthreads();
            const long long first = cta_of((long long)tile * kSteps), last = cta_of((long long)tile * kSteps + kSteps - 1);
            if (threadIdx.x == 0) {
                int* counter = tile_counters + tile;
                is_last_arrival = atomicAdd(counter, 1) == (int)(last - first);
                if (is_last_arrival) *counter = 0;   // every contributor has arrived: ready for the next launch (and graph replay)
            }
            __syncthreads();
            if (!is_last_arrival) continue;
            __threadfence();
            if (owner) {
#pragma unroll
                for (int mf = 0; mf < kMFrags; ++mf)
#pragma unroll
                    for (int j = 0; j < kNTilesPerWarp * 8; ++j)
#pragma unroll
                        for (int e = 0; e < 4; ++e) acc[mf][j][e] = 0.0f;
#pragma unroll 4
                for (long long c = first; c <= last; ++c) {
                    const int slot = run_begin(c) / kSteps == tile ? 0 : 1;
                    const float* theirs = partials + (c * 2 + slot) * kAcc * kOwners;
#pragma unroll
                    for (int mf = 0; mf < kMFrags; ++mf)
#pragma unroll
                        for (int j = 0; j < kNTilesPerWarp * 8; ++j)
#pragma unroll
                            for (int e = 0; e < 4; ++e) acc[mf][j][e] += gc_load_cg(theirs + ((mf * kNTilesPerWarp * 8 + j) * 4 + e) * kOwners + owner_index);
                }
            }
        }

        if (owner) {
" + store + @"        }
    }
";
        }

        /// <summary>The W8A8 activation scale of an output row, as a factor in the epilogue.</summary>
        private static string RowScale(ActivationScaling scaling) =>
            scaling == ActivationScaling.Dynamic ? " * x_scale[row]" : scaling == ActivationScaling.Static ? " * input_scale[0]" : "";
    }
}
