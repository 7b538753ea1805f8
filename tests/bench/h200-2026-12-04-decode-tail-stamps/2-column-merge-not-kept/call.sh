#!/usr/bin/env bash
# Session 22, call 2 (issue #5): each column's merge once (kStatLanes lanes a column) against every item's own max, powers and sum;
# GC_TAIL=old restored the committed kernels (ab.txt's labels: old for the switch on, new for off; tests/device/decode_ab.sh,
# written after these calls from their common steps, names them on and off).
R=$OUT; export OUT=/tmp/w2; rm -rf /tmp/w2; mkdir -p /tmp/w2
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; (cd "$OUT" && tar czf "$R/r.tgz" *.txt 2>/dev/null); }
SWITCH=GC_TAIL=old source tests/device/decode_ab.sh > "$OUT/log.txt" 2>&1
cat "$OUT/ab.txt" >> "$OUT/log.txt"; mark done 0
