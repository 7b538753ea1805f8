#!/usr/bin/env bash
# Session 22, call 8 (issue #5): the RoPE table through a kernel parameter (rope_inv_freq) against the module's own table
# (GC_ROPE_TABLE=module, temporary switch): decode selftests, greedy text, same-call A/B
R=$OUT; export OUT=/tmp/w8; rm -rf /tmp/w8
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; (cd "$out" && tar czf "$R/r.tgz" *.txt 2>/dev/null); }
SEED=$RANDOM; echo "seed $SEED"
for spec in llama2-70b llama2-70b-gptq tests/fixtures/specs/small-llama-fp8kv.yaml tests/fixtures/specs/coverage-bf16.yaml small-llama; do
  $G selftest "$spec" --kernels decode_attention --seed $SEED >> "$out/selftest.txt" 2>&1; mark "selftest $spec" $?
done
grep -E "selftest (passed|FAILED)" "$out/selftest.txt"; grep -c FAIL "$out/selftest.txt"
{ cat specs/small-llama.yaml; printf '\ntiles:\n  sm_90:\n    decode_attention_wide: { block_n: 128, warps: 8, stages: 3, splits: 0 }\n'; } > "$out/small-wide.yaml"
for s in specs/small-llama.yaml "$out/small-wide.yaml"; do
  for d in 0 3; do
    $G generate --model tests/fixtures/small-llama --spec $s --prompt "The Debian project" --max-tokens 48 --draft-tokens $d --backend gpu 2>&1 | grep -E "^generated|^The" | sed "s|^|$(basename $s) draft $d: |" >> "$out/generate.txt"
  done
done; mark generate 0
P=1x4096,8x2048,16x2048,32x2048,64x1024
for r in 1 2; do
  GC_ROPE_TABLE=module ab_lines old-$r llama2-70b --attention-points $P; ab_lines new-$r llama2-70b --attention-points $P
  GC_ROPE_TABLE=module ab_lines fp16old-$r llama2-70b-gptq --attention-points $P; ab_lines fp16new-$r llama2-70b-gptq --attention-points $P
  mark "ab $r" $?
done
cat "$out/ab.txt"; mark done 0
