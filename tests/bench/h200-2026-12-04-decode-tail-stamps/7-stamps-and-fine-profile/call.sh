#!/usr/bin/env bash
# Session 22, call 7 (issue #5): per-CTA stamps (../stamps.sh with ../stamps-instrumentation.patch applied) and Nsight
# Compute's finest warp sampling on one FP8 16 × 2048 launch; the patch's final form.
R=$OUT; export OUT=/tmp/w7; rm -rf /tmp/w7; mkdir -p /tmp/w7
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; (cd "$OUT" && tar czf "$R/r.tgz" *.txt *.csv 2>/dev/null); }
POINTS="16x2048" PROFILE=1 source tests/bench/h200-2026-12-04-decode-tail-stamps/stamps.sh > "$OUT/log.txt" 2>&1
mark done 0
