#!/usr/bin/env bash
# Session 18, call 6 (issue #5): the committed kernels (the held-back first tile with 3+ stages, the wide twin's splits a
# CTA an SM, both 70B specs' wide twins 128 x 8 x 3): decode selftests, generation on small-llama with and without wide
# tiles, the final table with SDPA.
# As it ran, its checks and tables were written out here: the same commands (its count of FAIL lines printed bare),
# which tests/device/decode_checks.sh and tests/device/attention.sh hold now.
R=$OUT; export OUT=/tmp/w18; rm -rf /tmp/w18
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; cp "$out"/*.txt "$out"/*.md "$R"/ 2>/dev/null; }
source tests/device/decode_checks.sh
POINTS=1x4096,16x2048,64x1024,8x2048,32x2048 bash tests/device/attention.sh > /dev/null; mark tables $?
mark done 0
