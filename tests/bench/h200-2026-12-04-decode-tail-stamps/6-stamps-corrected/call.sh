#!/usr/bin/env bash
# Session 22, call 6 (issue #5): per-CTA stamps (../stamps.sh with ../stamps-instrumentation.patch applied) and Nsight
# Compute's finest warp sampling on one FP8 16 × 2048 launch. As it ran, its profile asked ncu for --sampling-interval 0,
# an option ncu does not have, and took none (ncu-log.txt); and "thread 0's item stored" waited on the launch count's
# atomic (the patch's first form; its final form reads the clock first).
R=$OUT; export OUT=/tmp/w6; rm -rf /tmp/w6; mkdir -p /tmp/w6
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; (cd "$OUT" && tar czf "$R/r.tgz" *.txt *.csv 2>/dev/null); }
POINTS="16x2048 1x4096" PROFILE=1 source tests/bench/h200-2026-12-04-decode-tail-stamps/stamps.sh > "$OUT/log.txt" 2>&1
mark done 0
