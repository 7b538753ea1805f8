#!/usr/bin/env bash
# Session 23, call 4 (issue #5): does a cache block's run of bytes limit FP8's stream? kv_cache.block_size 16 (a
# (block, KV head)'s K or V: 2 KB FP8, 4 KB fp16) against 32 (4 KB, 8 KB), both caches, the committed kernels, three
# rounds alternating.
R=$OUT; export OUT=/tmp/w4; rm -rf /tmp/w4; mkdir -p /tmp/w4
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; (cd "$OUT" && tar czf "$R/r.tgz" *.txt 2>/dev/null); }
exec > "$OUT/log.txt" 2>&1
source tests/device/env.sh
for r in 1 2 3; do
  for spec in llama2-70b llama2-70b-gptq; do
    for b in 16 32; do
      sed -E "s/^(  block_size: )16/\1$b/" specs/$spec.yaml > "$out/$spec-b$b.yaml"
      ab_lines "$spec-b$b-$r" "$out/$spec-b$b.yaml" --attention-points 1x4096,8x2048,16x2048,64x1024
    done; mark "pages $r $spec" $?
  done
done
cat "$out/ab.txt"; mark done 0
