#!/usr/bin/env python3
"""Runs an emitted sm_90 decode-attention kernel's cluster combine (each owner CTA's items over the splits' pushed
partials, 1, 2 or 4 lanes an item) on the host, a warp at a time as 32 lane threads, and checks it against float64.

The kernel's constants, `fma8`, `store_normalized8` and the combine (from the cluster barrier to the kernel's end) are cut
out of the emitted .cu file and compiled with g++ around shims: `__shfl_xor_sync` exchanges through a barrier of the 32
lane threads, the activation dtype is float. For every split count 2 to kClusterCtas, owners first, middle and last, and
the whole group's columns or fewer (a chunk's last query token), the harness stages what the splits push (each item's eight sums, each
column's (max, sum)), with maxes far apart (up to 2^60 in exp2 units) and the staging's unpushed entries NaN, runs the
owner's threads, and checks: each of its items stored once, within 1e-5 of float64 relative to the item's largest
|output|; no other output stored. No GPU needed (SplitCombineSimulationTests runs it):

    graphc emit SPEC --arch sm_90 --out DIR; python3 tests/reference/split_combine_sim.py DIR/decode_attention_*.cu
"""
from host_program import WARP_BARRIER, cut_function, int_constants, main, run_threads

HARNESS = r"""
#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>
#define __device__
#define __forceinline__ inline
typedef float gc_act;
struct gc_act8 { float v[8]; };
struct float2 { float x, y; };
struct float4 { float x, y, z, w; };
static float gc_f32_to_act(float x) { return x; }
static float __int_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
static thread_local struct { int x; } threadIdx;

// One warp: a barrier of the 32 lane threads, and the slots its shuffles go through.
WARP_BARRIER
static float slot_f[32];
static float __shfl_xor_sync(unsigned, float x, int mask) {
    const int lane = threadIdx.x % 32;
    slot_f[lane] = x;
    warp_barrier();
    float y = slot_f[lane ^ mask];
    warp_barrier();
    return y;
}

static std::vector<float> out;          // [kColumns][kHeadDim], NaN until written
static std::vector<int> writes;         // per output element: how many times the combine stored it
static void count_store(const float* dst) {
    std::lock_guard<std::mutex> lock(mutex);
    for (int e = 0; e < 8; ++e) ++writes[dst - out.data() + e];
}

CONSTANTS
FUNCTIONS

// The owner's combine as emitted: this thread's share of CTA z's items.
static void combine(int splits, int z, int n_items, float* staged_rows, float* staged_stats) {
    const float neg_inf = __int_as_float(0xff800000u);
    auto out_row = [&](int h) { return out.data() + h * kHeadDim; };
COMBINE
}

int main() {
    constexpr int kItems = kColumns * kChunks;
    std::mt19937 rng(1234);
    std::normal_distribution<double> normal;
    int cases = 0, failures = 0;
    double worst = 0;
    for (int n_cols : {kColumns, kColumns > kGroup ? kColumns - kGroup : 1}) {
        const int n_items = n_cols * kChunks;
        for (int splits = 2; splits <= kClusterCtas; ++splits) {
            // Every split's partial of every item: eight sums; every column's (max, sum) a split, maxes spread wide.
            std::vector<double> acc((size_t)splits * n_items * 8), m((size_t)splits * n_cols), l((size_t)splits * n_cols);
            const double spread = splits % 3 == 0 ? 60.0 : splits % 3 == 1 ? 4.0 : 0.0;
            for (int q = 0; q < splits; ++q)
                for (int h = 0; h < n_cols; ++h) {
                    m[q * n_cols + h] = spread * normal(rng);
                    l[q * n_cols + h] = 1.0 + 40.0 * std::abs(normal(rng));
                }
            for (auto& a : acc) a = 10.0 * normal(rng);
            for (int z : {0, splits / 2, splits - 1}) {   // the first owner, one in the middle, the last
                if (z == splits / 2 && (z == 0 || z == splits - 1)) continue;
                ++cases;
                // What the splits push into owner z: items z, z + splits, …, slot i / splits; every column's (max, sum).
                std::vector<float> rows((size_t)(kItems + kClusterCtas - 1) * 8, NAN), stats((size_t)kColumns * kClusterCtas * 2, NAN);
                for (int i = z; i < n_items; i += splits)
                    for (int q = 0; q < splits; ++q)
                        for (int e = 0; e < 8; ++e) rows[((i / splits) * splits + q) * 8 + e] = (float)acc[((size_t)q * n_items + i) * 8 + e];
                for (int h = 0; h < n_cols; ++h)
                    for (int q = 0; q < splits; ++q) {
                        stats[(h * kClusterCtas + q) * 2] = (float)m[q * n_cols + h];
                        stats[(h * kClusterCtas + q) * 2 + 1] = (float)l[q * n_cols + h];
                    }
                out.assign((size_t)kColumns * kHeadDim, NAN);
                writes.assign(out.size(), 0);
                for (int warp = 0; warp < kThreads / 32; ++warp) {
                    std::vector<std::thread> lanes;
                    for (int lane = 0; lane < 32; ++lane)
                        lanes.emplace_back([&, warp, lane] {
                            threadIdx.x = warp * 32 + lane;
                            combine(splits, z, n_items, rows.data(), stats.data());
                        });
                    for (auto& t : lanes) t.join();
                }
                // float64: the splits' sums weighted by exp2(max − the largest max), over their weighted sums.
                bool ok = true;
                for (int i = 0; i < kColumns * kChunks; ++i) {
                    const int h = i / kChunks;
                    const bool owned = i < n_items && i % splits == z;
                    double expect[8] = {}, top = -INFINITY, sum = 0, largest = 0;
                    if (owned) {
                        for (int q = 0; q < splits; ++q) top = std::max(top, m[q * n_cols + h]);
                        for (int q = 0; q < splits; ++q) {
                            const double w = std::exp2(m[q * n_cols + h] - top);
                            sum += w * l[q * n_cols + h];
                            for (int e = 0; e < 8; ++e) expect[e] += w * acc[((size_t)q * n_items + i) * 8 + e];
                        }
                        for (int e = 0; e < 8; ++e) largest = std::max(largest, std::abs(expect[e] /= sum));
                    }
                    for (int e = 0; e < 8; ++e) {
                        const int at = h * kHeadDim + i % kChunks * 8 + e;
                        if (!owned) { ok &= writes[at] == 0 && std::isnan(out[at]); continue; }
                        ok &= writes[at] == 1;
                        const double error = std::abs(out[at] - expect[e]) / std::max(largest, 1e-30);
                        worst = std::max(worst, error);
                        ok &= std::isfinite(out[at]) && error <= 1e-5;
                    }
                }
                if (!ok) {
                    if (failures < 3) std::printf("FAIL: splits %d, owner %d, %d columns\n", splits, z, n_cols);
                    ++failures;
                }
            }
        }
    }
    std::printf("%d owners (2 to %d splits, %d threads): worst relative error %.2e, %d failures\n", cases, kClusterCtas, kThreads, worst, failures);
    return failures ? 1 : 0;
}
"""

START = "    // ---- Several splits, in a cluster: each owner combines its items once every push has landed ----\n    gc_cluster_sync();\n"


def simulate(path):
    source = open(path).read()
    start = source.index(START) + len(START)
    end = source.rindex("\n}\n")   # the kernel's closing brace: the combine is its last stage
    functions = cut_function(source, "__device__ __forceinline__ void fma8(") + cut_function(
        source, "__device__ __forceinline__ void store_normalized8(")
    # Each output element the combine stores is counted, so an item written twice fails.
    functions = functions.replace("*reinterpret_cast<gc_act8*>(dst) = o;", "count_store(dst); *reinterpret_cast<gc_act8*>(dst) = o;")
    program = (HARNESS.replace("WARP_BARRIER", WARP_BARRIER).replace("CONSTANTS", int_constants(source))
               .replace("FUNCTIONS", functions).replace("COMBINE", source[start:end]))
    return run_threads(path, program, "cluster combine")


if __name__ == "__main__":
    main(__doc__, simulate)
