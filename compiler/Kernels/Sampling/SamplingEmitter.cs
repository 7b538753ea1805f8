using GraphCompiler.Common;
using GraphCompiler.Graph;
using GraphCompiler.Spec;

namespace GraphCompiler.Kernels.Sampling
{
    /// <summary>
    /// The token sampler: one CTA per sequence chooses its next token from its fp32 logits row as the host
    /// <c>Sampler</c> does, so both backends draw the same tokens for the same seed (up to rounding: a cut or draw that falls
    /// within ~1e-12 of a boundary may land on the other side). Penalties are applied in place from
    /// the sequence's penalty state (a word per token: seen, and how often generated), which the kernel updates with its
    /// choice. Greedy is an argmax (lowest id among ties). Sampling never sorts the vocabulary: the sampling order (logit
    /// descending, id ascending) is one unique 47-bit rank per token, and top-k, top-p and the draw are each a radix
    /// selection over ranks, most significant byte first, that finds the first token whose running count or probability
    /// mass reaches a target. Masses are e^(x/T − max) in double, as the host computes them, summed in 64-bit fixed point
    /// so every sum is exact and independent of the order threads add in. Only the token and its log-probability leave the
    /// GPU: 8 bytes a sequence instead of a row of logits.
    /// </summary>
    public static class SamplingEmitter
    {
        /// <summary>One CTA a row, as large as a CTA goes: at batch 1 the whole vocabulary's passes run on one SM.</summary>
        public const int Threads = 1024;

        private const int RadixBits = 8;

        public static KernelSource Emit(SamplingKernel k, ArchTiles tiles)
        {
            int idBits = 1;
            while ((1L << idBits) < k.Vocab) idBits++;
            int rankDigits = (32 + idBits + RadixBits - 1) / RadixBits;
            var b = new CudaSourceBuilder(k.Name, k.Summary, DType.F16, PreludeFeatures.None)
                .Constant("kVocab", k.Vocab, "model.vocab_size")
                .Constant("kThreads", Threads, "one CTA a row, as many threads as a CTA takes")
                .Constant("kWarps", Threads / 32, "warps a CTA")
                .Constant("kIdBits", idBits, "bits of a token id")
                .Constant("kRadixBits", RadixBits, "bits of a rank digit: one pass of the selection")
                .Constant("kBuckets", 1 << RadixBits, "histogram buckets a pass")
                .Constant("kBucketsPerLane", (1 << RadixBits) / 32, "buckets each lane of the walking warp sums")
                .Constant("kRankDigits", rankDigits, "digits of a rank: 32 logit bits and the id bits")
                .Constant("kMassBits", 63 - idBits, "fixed-point fraction bits of a mass (the top token weighs 2^kMassBits): a row's sum stays within 2^63")
                .Constant("kRowWords", SamplingRow.Words, "ints of a parameter row");
            foreach (var (constant, word, meaning) in SamplingRow.Named) b.Constant(constant, word, "parameter word: " + meaning);
            b.Raw(Helpers)
                .Parameter("float* __restrict__", "logits", "buffer logits [S, vocab] (penalized in place)")
                .Parameter("const int* __restrict__", "params", "sampling parameter rows [rows, kRowWords]")
                .Parameter("gc_u32* __restrict__", "state", "penalty state [slots, vocab]")
                .Parameter("int* __restrict__", "tokens", "chosen token per row")
                .Parameter("float* __restrict__", "logprobs", "its log-probability per row")
                .Parameter("int", "num_rows", "rows to sample");
            string source = b.Finish("kThreads", Body);
            var launch = new LaunchShape(GridExtent.Of("S"), GridExtent.One, GridExtent.One, Threads, 0);
            return new KernelSource(k.Name, k.Family, k.Summary, tiles.Arch.Name, source, b.Parameters.ToEquatableArray(), launch, null);
        }

        private const string Helpers = @"
typedef unsigned long long gc_u64;
constexpr gc_u32 kSeenBit = 0x80000000u;  // penalty-state word: seen in the prompt or output; below it, times generated
constexpr double kMassOne = (double)(1ull << kMassBits);

// A float's bits as an unsigned integer in the float's order, NaN lowest and -0 as +0 (the host Sampler's rule).
__device__ __forceinline__ gc_u32 orderable(float f) {
    if (f != f) return 0u;
    const gc_u32 bits = f == 0.0f ? 0u : __float_as_uint(f);
    return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

// The sampling order as one unique integer per token: larger logits first, ties by lower id.
__device__ __forceinline__ gc_u64 rank_of(float logit, int token) {
    return ((gc_u64)orderable(logit) << kIdBits) | (gc_u64)(kVocab - 1 - token);
}
__device__ __forceinline__ int token_of(gc_u64 rank) { return kVocab - 1 - (int)(rank & ((1ull << kIdBits) - 1ull)); }

// e^(x/T - top) with top the first token's x/T: the host's double arithmetic on the same fp32 quotient. The first
// token is 1 by definition, so a row with infinities or NaN still has a token to choose.
__device__ __forceinline__ double relative_prob(float logit, float temperature, double top, bool first) {
    return first ? 1.0 : exp((double)__fdiv_rn(logit, temperature) - top);
}

// A probability in fixed point (2^-kMassBits units); NaN weighs nothing.
__device__ __forceinline__ gc_u64 mass_of(double p) { return p > 0.0 ? (gc_u64)__double2ull_rn(p * kMassOne) : 0ull; }

// u in [0, 1) from SplitMix64 of (seed, step), bit for bit Sampler.Uniform: any backend draws the same u for a step.
__device__ __forceinline__ double uniform(gc_u64 seed, gc_u64 step) {
    gc_u64 z = seed + (step + 1ull) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

// Block reductions in a fixed order (each warp's lane 0, then the warps in turn): every thread gets the same result,
// run after run.
struct MaxU64 { __device__ gc_u64 operator()(gc_u64 a, gc_u64 b) const { return a > b ? a : b; } };
struct SumF64 { __device__ double operator()(double a, double b) const { return a + b; } };
template <typename T, typename Op>
__device__ __forceinline__ T block_reduce(T v, T* partial, Op op) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = v;
    __syncthreads();
    T total = partial[0];
    for (int w = 1; w < kWarps; ++w) total = op(total, partial[w]);
    __syncthreads();  // partial is reused by the next call
    return total;
}

// What a selection's target is: the n-th token, a fraction of the mass in play reached (top-p), or passed (the draw).
enum SelectTarget { kNthToken, kMassReached, kMassPassed };

struct SelectShared {
    gc_u32 count[kBuckets];
    gc_u64 mass[kBuckets];
    gc_u64 prefix, remaining, total, found;
    int single;
};

struct Selection { gc_u64 rank; gc_u64 total; };

// Radix selection over ranks, most significant digit first. Tokens in play: rank >= lowest and, with min_p, a relative
// probability of at least min_p (the top token always). Returns the first of them in sampling order whose running weight
// (1 a token, or its mass in 2^-kMassBits units) reaches the target, and the total weight in play (the first pass's
// histogram) that a mass target is a fraction of. A pass ends the search early once its bucket holds a single token.
__device__ Selection select_rank(const float* x, float temperature, double top, gc_u64 top_rank, gc_u64 lowest,
                                 bool weighted, float min_p, SelectTarget target, double fraction, gc_u64 nth, SelectShared& sh) {
    gc_u64 prefix = 0ull, remaining = 0ull, total = 0ull;
    for (int digit = kRankDigits - 1; digit >= 0; --digit) {
        const int shift = digit * kRadixBits;
        for (int b = threadIdx.x; b < kBuckets; b += kThreads) { sh.count[b] = 0u; sh.mass[b] = 0ull; }
        __syncthreads();

        // ---- Histogram of this digit over the tokens in play whose higher digits are those chosen so far ----
        for (int i = threadIdx.x; i < kVocab; i += kThreads) {
            const float v = x[i];
            const gc_u64 rank = rank_of(v, i);
            if (rank < lowest || (rank >> (shift + kRadixBits)) != prefix) continue;
            gc_u64 w = 1ull;
            if (weighted) {
                const double p = relative_prob(v, temperature, top, rank == top_rank);
                if (p < (double)min_p) continue;
                w = mass_of(p);
            }
            const int d = (int)(rank >> shift) & (kBuckets - 1);
            atomicAdd(&sh.count[d], 1u);
            if (weighted) atomicAdd(&sh.mass[d], w);
        }
        __syncthreads();

        // ---- One warp walks the buckets, largest digit first, to the one where the running weight reaches the target ----
        if (threadIdx.x < 32) {
            const int lane = threadIdx.x;
            gc_u64 own = 0ull;
            for (int j = 0; j < kBucketsPerLane; ++j) {
                const int b = kBuckets - 1 - lane * kBucketsPerLane - j;
                own += weighted ? sh.mass[b] : (gc_u64)sh.count[b];
            }
            gc_u64 running = own;
#pragma unroll
            for (int offset = 1; offset < 32; offset <<= 1) {
                const gc_u64 before = __shfl_up_sync(0xffffffffu, running, offset);
                if (lane >= offset) running += before;
            }
            if (digit == kRankDigits - 1) {
                total = __shfl_sync(0xffffffffu, running, 31);
                const double share = fraction * (double)total;
                remaining = target == kNthToken ? nth : target == kMassReached ? (gc_u64)ceil(share) : (gc_u64)floor(share) + 1ull;
                remaining = remaining < 1ull ? 1ull : remaining > total ? total : remaining;
                if (lane == 0) sh.total = total;
            }
            const int first = __ffs(__ballot_sync(0xffffffffu, running >= remaining)) - 1;
            if (lane == first) {
                gc_u64 before = running - own;
                for (int j = 0; j < kBucketsPerLane; ++j) {
                    const int b = kBuckets - 1 - lane * kBucketsPerLane - j;
                    const gc_u64 w = weighted ? sh.mass[b] : (gc_u64)sh.count[b];
                    if (before + w >= remaining) {
                        sh.prefix = (prefix << kRadixBits) | (gc_u64)b;
                        sh.remaining = remaining - before;
                        sh.single = sh.count[b] == 1u;
                        break;
                    }
                    before += w;
                }
            }
        }
        __syncthreads();
        prefix = sh.prefix;
        remaining = sh.remaining;
        total = sh.total;
        if (digit == 0) return Selection{prefix, total};
        if (sh.single) {
            // ---- The bucket holds one token in play: find it ----
            for (int i = threadIdx.x; i < kVocab; i += kThreads) {
                const float v = x[i];
                const gc_u64 rank = rank_of(v, i);
                if (rank < lowest || (rank >> shift) != prefix) continue;
                if (weighted && relative_prob(v, temperature, top, rank == top_rank) < (double)min_p) continue;
                sh.found = rank;
            }
            __syncthreads();
            return Selection{sh.found, total};
        }
        // No barrier needed before the next pass: it clears only the histogram, and what threads read of sh above is next
        // written two barriers later.
    }
    return Selection{prefix, total};  // not reached: digit 0 returns
}
";

        private const string Body = @"    const int row = blockIdx.x;
    if (row >= num_rows) return;
    const int* p = params + row * kRowWords;
    float* x = logits + (long long)p[kRowLogits] * kVocab;
    gc_u32* penalties = p[kRowStateSlot] >= 0 ? state + (long long)p[kRowStateSlot] * kVocab : nullptr;
    const float temperature = __int_as_float(p[kRowTemperature]);
    const int top_k = p[kRowTopK];
    const float top_p = __int_as_float(p[kRowTopP]), min_p = __int_as_float(p[kRowMinP]);
    const float repetition = __int_as_float(p[kRowRepetition]), frequency = __int_as_float(p[kRowFrequency]),
                presence = __int_as_float(p[kRowPresence]);
    __shared__ SelectShared sh;
    __shared__ gc_u64 partial_u64[kWarps];
    __shared__ double partial_f64[kWarps];

    // ---- Penalties in place (repetition on every token seen, frequency and presence on every token generated), and the top token ----
    gc_u64 best = 0ull;
    for (int i = threadIdx.x; i < kVocab; i += kThreads) {
        float v = x[i];
        if (penalties != nullptr) {
            const gc_u32 s = penalties[i];
            if ((s & kSeenBit) != 0u && repetition != 1.0f) v = v > 0.0f ? __fdiv_rn(v, repetition) : __fmul_rn(v, repetition);
            const gc_u32 generated = s & ~kSeenBit;
            if (generated != 0u) v = __fsub_rn(v, __fadd_rn(__fmul_rn(frequency, __uint2float_rn(generated)), presence));
            x[i] = v;
        }
        const gc_u64 rank = rank_of(v, i);
        best = rank > best ? rank : best;
    }
    const gc_u64 top_rank = block_reduce(best, partial_u64, MaxU64());
    const float top_logit = x[token_of(top_rank)];

    int token;
    float logprob;
    if (temperature == 0.0f) {
        // ---- Greedy: the top token, and its log-probability under the penalized logits ----
        double sum = 0.0;
        for (int i = threadIdx.x; i < kVocab; i += kThreads) sum += exp((double)x[i] - (double)top_logit);
        sum = block_reduce(sum, partial_f64, SumF64());
        token = token_of(top_rank);
        logprob = (float)(-log(sum));
    } else {
        const double top = (double)__fdiv_rn(top_logit, temperature);
        gc_u64 floor_rank = 0ull;
        // ---- top-k: the k-th token in sampling order is the lowest rank kept ----
        if (top_k > 0 && top_k < kVocab)
            floor_rank = select_rank(x, temperature, top, top_rank, floor_rank, false, 0.0f, kNthToken, 0.0, (gc_u64)top_k, sh).rank;
        // ---- top-p: the shortest run of most likely tokens whose probability reaches p ----
        if (top_p < 1.0f)
            floor_rank = select_rank(x, temperature, top, top_rank, floor_rank, true, 0.0f, kMassReached, (double)top_p, 0ull, sh).rank;
        // ---- The draw: the first token whose running probability passes u of what is kept (min-p drops the unlikely tail) ----
        const double u = uniform(((gc_u64)(gc_u32)p[kRowSeedHigh] << 32) | (gc_u32)p[kRowSeedLow],
                                 ((gc_u64)(gc_u32)p[kRowStepHigh] << 32) | (gc_u32)p[kRowStepLow]);
        const Selection draw = select_rank(x, temperature, top, top_rank, floor_rank, true, min_p, kMassPassed, u, 0ull, sh);
        token = token_of(draw.rank);
        logprob = (float)log(relative_prob(x[token], temperature, top, draw.rank == top_rank) * kMassOne / (double)draw.total);
    }

    // ---- The choice out, and into the penalty state ----
    if (threadIdx.x == 0) {
        tokens[row] = token;
        logprobs[row] = logprob;
        if (penalties != nullptr) penalties[token] = ((penalties[token] & ~kSeenBit) + 1u) | kSeenBit;
    }
";
    }
}
