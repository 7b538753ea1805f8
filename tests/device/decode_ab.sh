#!/usr/bin/env bash
# A same-call A/B of a temporary variant of the decode-attention kernels (issue #5), one device call: SWITCH is the
# environment assignment the emitters read for it (e.g. SWITCH=GC_TAIL=old). First the checks: every decode selftest at
# one random seed (both 70B specs, the three small ones) and the small model's greedy text with and without a wide twin,
# plain and with 3 draft tokens (identical text is the expectation); then both 70B specs at POINTS (issue #5's three
# and 8, 32 × 2048 unless set), switch on and off alternately, ROUNDS times (2), one line a kernel in $out/ab.txt
# (env.sh's ab_lines; labels on-R / off-R, fp16on-R / fp16off-R for llama2-70b-gptq). mark LABEL RC, where the caller
# defines it (a call script that packs $out as it goes), after each step.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
: "${SWITCH:?name the switch of the variant, e.g. SWITCH=GC_TAIL=old}"
type mark > /dev/null 2>&1 || mark() { echo "$1 rc $2"; }
SEED=${SEED:-$RANDOM}; echo "seed $SEED"
for spec in llama2-70b llama2-70b-gptq tests/fixtures/specs/small-llama-fp8kv.yaml tests/fixtures/specs/coverage-bf16.yaml small-llama; do
  $G selftest "$spec" --kernels decode_attention --seed "$SEED" >> "$out/selftest.txt" 2>&1; mark "selftest $spec" $?
done
grep -E "selftest (passed|FAILED)" "$out/selftest.txt"; echo "FAIL lines: $(grep -c FAIL "$out/selftest.txt")"
{ cat specs/small-llama.yaml; printf '\ntiles:\n  sm_90:\n    decode_attention_wide: { block_n: 128, warps: 8, stages: 3, splits: 0 }\n'; } > "$out/small-wide.yaml"
for s in specs/small-llama.yaml "$out/small-wide.yaml"; do
  for d in 0 3; do
    $G generate --model tests/fixtures/small-llama --spec "$s" --prompt "The Debian project" --max-tokens 48 --draft-tokens $d --backend gpu 2>&1 \
      | grep -E "^generated|^The" | sed "s|^|$(basename "$s") draft $d: |" >> "$out/generate.txt"
  done
done; mark generate 0
points=${POINTS:-1x4096,8x2048,16x2048,32x2048,64x1024}
name=${SWITCH%%=*}
for r in $(seq "${ROUNDS:-2}"); do
  for spec in llama2-70b llama2-70b-gptq; do
    prefix=$([ "$spec" = llama2-70b ] || echo fp16)
    export "$name=${SWITCH#*=}"; ab_lines "${prefix}on-$r" "$spec" --attention-points "$points"
    unset "$name"; ab_lines "${prefix}off-$r" "$spec" --attention-points "$points"
  done
  mark "ab $r" $?
done
