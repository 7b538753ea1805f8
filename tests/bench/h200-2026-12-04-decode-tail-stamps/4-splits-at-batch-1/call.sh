#!/usr/bin/env bash
# Session 22, call 4 (issue #5): the wide twin's splits at batch 1 (the runtime's 8 against 10, 12, 16), FP8 and fp16
R=$OUT; export OUT=/tmp/w4; rm -rf /tmp/w4
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; (cd "$out" && tar czf "$R/r.tgz" *.txt 2>/dev/null); }
for r in 1 2; do
  for spec in llama2-70b llama2-70b-gptq; do
    for s in 0 10 12 16; do
      sed -E "s/(decode_attention_wide: \{ block_n: [0-9]+, warps: [0-9]+, stages: [0-9]+, splits: )[0-9]+/\1$s/" specs/$spec.yaml > "$out/$spec-s$s.yaml"
      ab_lines "$spec-s$s" "$out/$spec-s$s.yaml" --attention-points 1x4096,1x2048,2x4096
    done; mark "splits $r $spec" $?
  done
done
cat "$out/ab.txt"; mark done 0
