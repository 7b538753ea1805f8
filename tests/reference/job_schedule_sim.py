#!/usr/bin/env python3
"""Runs an emitted prefill kernel's job schedule (`job_of_round`) on the host: every job taken once, work even.

The persistent CTAs of the prefill kernel take jobs by rounds, with no ticket: CTA c of `ctas` takes one job of each
round's `ctas`, the rounds alternating direction. The function is cut out of the emitted .cu file and compiled with g++
around shims. The checks, for the job counts of short and long prompts, fewer jobs than CTAs, and CTA counts that do
not divide the jobs: each job
0 .. jobs − 1 is taken by exactly one CTA, no CTA takes one past the last, and with causal jobs listed longest first (a
query tile's heads together, each tile one block_m shorter than the one before) no CTA's keys exceed the mean (or the
longest job, where a CTA has one) by more than three tiles: a schedule that does not alternate exceeds it by 4–50.
No GPU needed (JobScheduleSimulationTests runs it):

    graphc emit SPEC --arch sm_90 --out DIR; python3 tests/reference/job_schedule_sim.py DIR/prefill_attention_*.cu
"""
import os

from host_program import main, run_program

HARNESS = r"""
#include <algorithm>
#include <cstdio>
#include <vector>
#define __device__
#define __forceinline__ inline
SCHEDULE
int main() {
    int failures = 0, cases = 0;
    const int shapes[][3] = {   // query tiles, heads, CTAs
        {6, 64, 132}, {11, 64, 132}, {22, 64, 132}, {43, 64, 132}, {32, 64, 132}, {64, 64, 132},
        {1, 64, 64}, {1, 4, 4}, {9, 4, 36}, {5, 32, 132}, {43, 64, 264}, {100, 8, 97},
    };
    for (const auto& shape : shapes) {
        const int tiles = shape[0], heads = shape[1], ctas = shape[2], jobs = tiles * heads;
        std::vector<int> taken(jobs, 0);
        std::vector<double> keys(ctas, 0);
        double total = 0;
        for (int cta = 0; cta < ctas; ++cta)
            for (int round = 0;; ++round) {
                const int job = job_of_round(round, cta, ctas);
                if (job >= jobs) break;
                if (job < 0) { ++failures; break; }
                ++taken[job];
                keys[cta] += tiles - job / heads;   // longest first: tile i of the list reads tiles − i tiles of keys
            }
        for (int job = 0; job < jobs; ++job) {
            failures += taken[job] != 1;
            total += tiles - job / heads;
        }
        const double mean = total / std::min(ctas, jobs), most = *std::max_element(keys.begin(), keys.end());
        const bool even = most <= std::max(mean, (double)tiles) + 3;   // the mean, or the longest job alone, plus three tiles
        failures += !even;
        ++cases;
        std::printf("%d tiles x %d heads on %d CTAs: most %.0f, mean %.1f%s\n", tiles, heads, ctas, most, mean, even ? "" : " UNEVEN");
    }
    std::printf("%d shapes, %d failures\n", cases, failures);
    return failures != 0;
}
"""


def simulate(path):
    source = open(path).read()
    start = source.index("__device__ __forceinline__ int job_of_round(")
    end = source.index("\n}\n", start) + 3
    program = HARNESS.replace("SCHEDULE", source[start:end])
    code, printed = run_program(program)
    print(f"{os.path.basename(path)}:\n{printed}")
    return code == 0


if __name__ == "__main__":
    main(__doc__, simulate)
