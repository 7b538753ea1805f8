#!/usr/bin/env bash
# Session 22, call 8 (issue #5): the RoPE table through a kernel parameter (rope_inv_freq) against the module's own table;
# GC_ROPE_TABLE=module restored the committed kernels (ab.txt's labels: old for the switch on, new for off; tests/device/decode_ab.sh,
# written after these calls from their common steps, names them on and off).
R=$OUT; export OUT=/tmp/w8; rm -rf /tmp/w8; mkdir -p /tmp/w8
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; (cd "$OUT" && tar czf "$R/r.tgz" *.txt 2>/dev/null); }
SWITCH=GC_ROPE_TABLE=module source tests/device/decode_ab.sh > "$OUT/log.txt" 2>&1
cat "$OUT/ab.txt" >> "$OUT/log.txt"; mark done 0
