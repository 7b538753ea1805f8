#!/usr/bin/env bash
# Session 23, call 3 (issue #5): the committed decode kernels' final tables at the issue's points and 8, 32 × 2048, both
# caches, with SDPA (flash and cuDNN), the copy of the same bytes and a launch's fixed cost in the same call
# (tests/device/attention.sh).
R=$OUT; export OUT=/tmp/w3; rm -rf /tmp/w3; mkdir -p /tmp/w3
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; (cd "$OUT" && tar czf "$R/r.tgz" *.txt *.md *.json 2>/dev/null); }
exec > "$OUT/log.txt" 2>&1
POINTS=1x4096,16x2048,64x1024,8x2048,32x2048 bash tests/device/attention.sh; mark tables $?
cat "$OUT"/*.md; mark done 0
