#!/usr/bin/env python3
"""Runs an emitted prefill kernel's online softmax (`flash_softmax`, or `softmax_scores` and `rescale_o`) on the host,
one warp of 32 lanes as 32 threads, and checks its attention against float64.

The kernel's constants, `kLazyRescale`, the softmax tree and the softmax functions are cut out of the emitted .cu file and
compiled with g++ around shims: `__shfl_xor_sync` and `__any_sync` exchange through a barrier of the 32 lane threads, and
`fast_exp2` is exp2. Each lane holds its scores, P and O in the MMA accumulator layout (rows lane / 4 and lane / 4 + 8 of
each 16-row tile, columns 2·(lane % 4) and + 1 of each 8-column group); the harness stands in for the tensor cores
(S from a score matrix, O += P·V in fp32), in the order the kernel issues them: straight after the softmax, or with
`softmax_scores`, P·V of the tile before landing between the softmax and O's rescale (the warp-specialized kernel).
Scores are causal-masked (a row sees keys up to its position, padding past the context), in four ranges: narrow, wide
(references move mid-row), a late spike of 2^100, and rows that see one key. Checks: every output within 2e-5 of float64
(relative to the row's largest |output|), p never above 2^kLazyRescale, and references moving after the first tile
where the scores spread. No GPU needed (OnlineSoftmaxSimulationTests runs it):

    graphc emit SPEC --arch sm_90 --out DIR; python3 tests/reference/online_softmax_sim.py DIR/prefill_attention_*.cu
"""
import os
import re

from host_program import WARP_BARRIER, int_constants, main, run_program

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
static float __int_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
static float fast_exp2(float x) { return std::exp2(x); }

// One warp: a barrier of the 32 lane threads, and the slots the exchanges go through.
WARP_BARRIER
static float slot_f[32];
static bool slot_b[32];
static thread_local int lane_id;
static float __shfl_xor_sync(unsigned, float x, int mask) {
    slot_f[lane_id] = x;
    warp_barrier();
    float y = slot_f[lane_id ^ mask];
    warp_barrier();
    return y;
}
static bool __any_sync(unsigned, bool p) {
    slot_b[lane_id] = p;
    warp_barrier();
    bool any = false;
    for (int l = 0; l < 32; ++l) any |= slot_b[l];
    warp_barrier();
    return any;
}

CONSTANTS
SOFTMAX

constexpr int kRows = 16 * kMTiles, kTiles = 6, kKeys = kTiles * kBlockN, kD = kHeadDim;
static std::vector<double> S, V;          // raw scores [kRows][kKeys] (−∞ where masked), values [kKeys][kD]
static std::vector<float> P, out;         // the tile's P [kRows][kBlockN]; the output [kRows][kD]
static float max_p = 0;
static int moves = 0;
constexpr float kScale = 0.125f;          // the kernel's score_scale stand-in: raw scores · kScale = exp2 units

static int row_of(int mt, int e, int lane) { return mt * 16 + lane / 4 + 8 * (e / 2); }
static int col_of(int nt, int e, int lane) { return nt * 8 + 2 * (lane % 4) + e % 2; }

// O += P·V of tile j, this lane's entries (P as the lanes left it in P).
static void pv(float (&o)[kMTiles][kD / 8][4], int j, int lane) {
    for (int mt = 0; mt < kMTiles; ++mt)
        for (int dt = 0; dt < kD / 8; ++dt)
            for (int e = 0; e < 4; ++e) {
                float acc = 0;
                for (int k = 0; k < kBlockN; ++k) acc += P[row_of(mt, e, lane) * kBlockN + k] * (float)V[(j * kBlockN + k) * kD + col_of(dt, e, lane)];
                o[mt][dt][e] += acc;
            }
}

static void lane_main(int lane) {
    lane_id = lane;
    float o[kMTiles][kD / 8][4] = {}, row_max[kMTiles][2], row_sum[kMTiles][2] = {}, s[kMTiles][kBlockN / 8][4];
    for (auto& r : row_max) r[0] = r[1] = -INFINITY;
    float first[kMTiles][2];
    for (int j = 0; j < kTiles; ++j) {
        for (int mt = 0; mt < kMTiles; ++mt)
            for (int nt = 0; nt < kBlockN / 8; ++nt)
                for (int e = 0; e < 4; ++e) s[mt][nt][e] = (float)S[row_of(mt, e, lane) * kKeys + j * kBlockN + col_of(nt, e, lane)];
#ifdef DEFERRED
        float alpha[kMTiles][2];
        const bool rescale = softmax_scores(s, row_max, row_sum, kScale, alpha);
        if (j > 0) pv(o, j - 1, lane);          // the tile before's P·V lands
        warp_barrier();                          // every lane done reading the tile before's P
        if (j > 0 && rescale) rescale_o(o, alpha);
#else
        flash_softmax(s, row_max, row_sum, o, kScale);
#endif
        for (int mt = 0; mt < kMTiles; ++mt)
            for (int nt = 0; nt < kBlockN / 8; ++nt)
                for (int e = 0; e < 4; ++e) P[row_of(mt, e, lane) * kBlockN + col_of(nt, e, lane)] = s[mt][nt][e];
        warp_barrier();
        {
            std::lock_guard<std::mutex> lock(mutex);
            for (auto& t : s) for (auto& u : t) for (float x : u) max_p = std::max(max_p, x);
            for (int mt = 0; mt < kMTiles; ++mt)
                for (int h = 0; h < 2; ++h) {
                    if (j == 0) first[mt][h] = row_max[mt][h];
                    else if (row_max[mt][h] != first[mt][h] && lane % 4 == 0) { ++moves; first[mt][h] = row_max[mt][h]; }
                }
        }
#ifndef DEFERRED
        pv(o, j, lane);
        warp_barrier();                          // every lane done reading P
#endif
    }
#ifdef DEFERRED
    pv(o, kTiles - 1, lane);
#endif
    for (int mt = 0; mt < kMTiles; ++mt)
        for (int h = 0; h < 2; ++h) {
            float sum = row_sum[mt][h];
            sum += __shfl_xor_sync(~0u, sum, 1);
            sum += __shfl_xor_sync(~0u, sum, 2);
            for (int dt = 0; dt < kD / 8; ++dt)
                for (int e = 2 * h; e < 2 * h + 2; ++e) out[row_of(mt, e, lane) * kD + col_of(dt, e, lane)] = o[mt][dt][e] / sum;
        }
}

// Scores in exp2 units of spread `sigma`; row r at position kKeys − kRows + r − `lag` sees keys up to it (causal), so the
// last tile is partly masked and, with a large lag, some rows see only key 0; `spike` lifts one key of the last tile.
static int run(const char* name, double sigma, int lag, double spike, bool expect_moves, std::mt19937& random) {
    std::normal_distribution<double> normal;
    S.assign(kRows * kKeys, 0); V.assign(kKeys * kD, 0); P.assign(kRows * kBlockN, 0); out.assign(kRows * kD, 0);
    max_p = 0; moves = 0;
    for (auto& v : V) v = normal(random);
    for (int r = 0; r < kRows; ++r) {
        const int position = std::max(0, kKeys - kRows + r - lag);
        for (int k = 0; k < kKeys; ++k) S[r * kKeys + k] = k > position ? -INFINITY : normal(random) * sigma / kScale;
        if (spike != 0 && position >= kKeys - kBlockN) S[r * kKeys + position] = spike / kScale;
    }
    std::vector<std::thread> lanes;
    for (int l = 0; l < 32; ++l) lanes.emplace_back(lane_main, l);
    for (auto& t : lanes) t.join();
    double worst = 0;
    for (int r = 0; r < kRows; ++r) {
        double m = -INFINITY, sum = 0, largest = 0;
        for (int k = 0; k < kKeys; ++k) m = std::max(m, S[r * kKeys + k] * kScale);
        std::vector<double> exact(kD, 0);
        for (int k = 0; k < kKeys; ++k) {
            const double p = std::exp2(S[r * kKeys + k] * kScale - m);
            sum += p;
            for (int d = 0; d < kD; ++d) exact[d] += p * V[k * kD + d];
        }
        for (double& x : exact) largest = std::max(largest, std::fabs(x /= sum));
        for (int d = 0; d < kD; ++d) worst = std::max(worst, std::fabs(out[r * kD + d] - exact[d]) / largest);
    }
    const bool bounded = max_p <= std::exp2(kLazyRescale) * 1.0001f, ok = worst <= 2e-5 && bounded && (moves > 0) == expect_moves;
    std::printf("%s: error %.1e, largest p %.4g, references moved %d%s\n", name, worst, max_p, moves, ok ? "" : "  FAILED");
    return ok ? 0 : 1;
}

int main() {
    std::mt19937 random(5);
    int failures = run("narrow", 0.5, 0, 0, false, random);
    failures += run("wide", 20, 0, 0, true, random);
    failures += run("late spike", 0.5, 3, 100, true, random);
    failures += run("one key", 1, kKeys, 0, false, random);
    std::printf("%d failures\n", failures);
    return failures != 0;
}
"""


def simulate(path):
    source = open(path).read()
    constants = int_constants(source) + "\n" + re.search(r"^constexpr float kLazyRescale = .*$", source, re.M).group(0)
    start = source.index("constexpr int kScoreParts")
    deferred = "bool softmax_scores(" in source
    last = source.index("void rescale_o(") if deferred else source.index("void flash_softmax(")
    end = source.index("\n}\n", last) + 3
    program = (HARNESS.replace("WARP_BARRIER", WARP_BARRIER).replace("CONSTANTS", constants)
               .replace("SOFTMAX", source[start:end]))
    code, printed = run_program(program, flags=("-pthread",) + (("-DDEFERRED",) if deferred else ()))
    name = os.path.basename(path)
    print("\n".join(f"{name} ({'softmax_scores' if deferred else 'flash_softmax'}) {line}" for line in printed.splitlines()))
    return code == 0


if __name__ == "__main__":
    main(__doc__, simulate)
