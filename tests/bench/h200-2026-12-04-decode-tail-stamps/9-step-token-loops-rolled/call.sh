#!/usr/bin/env bash
# Session 22, call 9 (issue #5): the step-token loops of the prologue's queries and of the merge's items kept rolled
# (#pragma unroll 1: 3672 instructions instead of 3920, 107 registers instead of 120) against unrolled (GC_ROLLED=0)
R=$OUT; export OUT=/tmp/w9; rm -rf /tmp/w9; mkdir -p /tmp/w9
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; (cd "$OUT" && tar czf "$R/r.tgz" *.txt 2>/dev/null); }
SWITCH=GC_ROLLED=0 ROUNDS=1 source tests/device/decode_ab.sh > "$OUT/log.txt" 2>&1
cat "$OUT/ab.txt" >> "$OUT/log.txt"; mark done 0
