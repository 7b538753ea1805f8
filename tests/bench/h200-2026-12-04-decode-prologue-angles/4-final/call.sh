#!/usr/bin/env bash
# Session 21, call 4 (issue #5): the committed decode kernels (RoPE table in global memory read at entry, queries eight
# pairs an item, context length before the rows): decode selftests, generation on small-llama with and without wide
# tiles, the final tables with SDPA and the copy of the same bytes.
# As it ran, its checks and tables were written out here: the same commands (its count of FAIL lines printed bare),
# which tests/device/decode_checks.sh and tests/device/attention.sh hold now.
R=$OUT; export OUT=/tmp/w4; rm -rf /tmp/w4
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; (cd "$out" && tar czf "$R/r.tgz" *.txt *.md *.json 2>/dev/null); }
source tests/device/decode_checks.sh
POINTS=1x4096,16x2048,64x1024,8x2048,32x2048 bash tests/device/attention.sh > /dev/null; mark tables $?
mark done 0
