#!/usr/bin/env python3
"""Runs an emitted prefill kernel's softmax tree (`fold_parts`) on the host and checks that it folds every part.

The kernel's constants and its `kScoreParts` / `fold_parts` text are cut out of the emitted .cu file and compiled with
g++ around shims (`__device__`, `__forceinline__`). The check: folding parts that are distinct powers of two with `+`
gives their total (every part counted once), and with `max` the largest wherever it sits. A tree that drops a part
(the halving loop did at block_n 48: 6 parts, widths 3 then 1) fails. No GPU needed (SoftmaxTreeSimulationTests runs it):

    graphc emit SPEC --arch sm_90 --out DIR; python3 tests/reference/part_tree_sim.py DIR/prefill_attention_*.cu
"""
import os

from host_program import int_constants, main, run_program

HARNESS = r"""
#include <algorithm>
#include <cmath>
#include <cstdio>
#define __device__
#define __forceinline__ inline
CONSTANTS
TREE
int main() {
    int failures = 0;
    for (int at = 0; at < kScoreParts; ++at) {
        float sum[kScoreParts], max[kScoreParts];
        double total = 0;
        for (int i = 0; i < kScoreParts; ++i) {
            sum[i] = std::ldexp(1.0f, i);
            total += sum[i];
            max[i] = i == at ? 1000.0f : (float)i;
        }
        fold_parts(sum, [](float a, float b) { return a + b; });
        fold_parts(max, [](float a, float b) { return std::max(a, b); });
        failures += sum[0] != (float)total;
        failures += max[0] != 1000.0f;
    }
    std::printf("%d parts, %d failures\n", kScoreParts, failures);
    return failures != 0;
}
"""


def simulate(path):
    source = open(path).read()
    constants = int_constants(source)
    start = source.index("constexpr int kScoreParts")
    end = source.index("\n}\n", source.rindex("void fold_parts(")) + 3
    program = HARNESS.replace("CONSTANTS", constants).replace("TREE", source[start:end])
    code, printed = run_program(program)
    print(f"{os.path.basename(path)}: {printed}")
    return code == 0


if __name__ == "__main__":
    main(__doc__, simulate)
