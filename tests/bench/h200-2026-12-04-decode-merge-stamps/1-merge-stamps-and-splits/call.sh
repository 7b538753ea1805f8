#!/usr/bin/env bash
# Session 23, call 1 (issue #5): the per-CTA stamps again, the merge's item timed in four parts and each warp's clock
# corrected by its sub-partition's offset (../stamps-instrumentation.patch, ../stamps.py); then the splits forced at
# 8 and 16 × 2048 (the runtime's, 2, 3), both caches, twice. As it ran, it sourced a copy of the last session's
# stamps.sh (no profile) that called this folder's stamps.py; that script now takes STAMPS_PY instead.
R=$OUT; export OUT=/tmp/w1; rm -rf /tmp/w1; mkdir -p /tmp/w1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; (cd "$OUT" && tar czf "$R/r.tgz" *.txt 2>/dev/null); }
exec > "$OUT/log.txt" 2>&1
POINTS="16x2048 1x4096" STAMPS_PY=tests/bench/h200-2026-12-04-decode-merge-stamps/stamps.py \
  source tests/bench/h200-2026-12-04-decode-tail-stamps/stamps.sh
for r in 1 2; do
  for spec in llama2-70b llama2-70b-gptq; do
    for s in 0 2 3; do
      sed -E "s/(decode_attention_wide: \{ block_n: [0-9]+, warps: [0-9]+, stages: [0-9]+, splits: )[0-9]+/\1$s/" specs/$spec.yaml > "$out/$spec-s$s.yaml"
      ab_lines "$spec-s$s-$r" "$out/$spec-s$s.yaml" --attention-points 8x2048,16x2048
    done; mark "splits $r $spec" $?
  done
done
cat "$out/ab.txt"; mark done 0
