#!/usr/bin/env bash
# Session 23, call 2 (issue #5): the step tokens' write-back by the CTA's last warp after the partials' barrier, beside
# the merge, instead of by warp 0 before its loop (warp 0 ended last in 34 of 128 CTAs in call 1). GC_WB=old is the
# committed placement: labels on-R / fp16on-R are the committed kernel, off-R / fp16off-R the variant.
R=$OUT; export OUT=/tmp/w2; rm -rf /tmp/w2; mkdir -p /tmp/w2
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; (cd "$OUT" && tar czf "$R/r.tgz" *.txt 2>/dev/null); }
exec > "$OUT/log.txt" 2>&1
SWITCH=GC_WB=old ROUNDS=3 source tests/device/decode_ab.sh
cat "$out/ab.txt"; mark done 0
