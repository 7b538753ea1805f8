#!/usr/bin/env bash
# The checks a decode-attention device call runs first (issue #5): every spec's selftest at one random seed (SEED;
# both 70B specs and the three small ones; SELFTEST_KERNELS is the --kernels prefix list, decode_attention unless set,
# empty for every kernel), then the small model's greedy text with and without a wide twin, plain and with 3 draft
# tokens (identical text is the expectation), into $out/selftest.txt and $out/generate.txt. mark LABEL RC, where the
# caller defines it (a call script that packs $out as it goes), after each step.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
type mark > /dev/null 2>&1 || mark() { echo "$1 rc $2"; }
SEED=${SEED:-$RANDOM}; echo "seed $SEED"
kernels=${SELFTEST_KERNELS-decode_attention}
for spec in llama2-70b llama2-70b-gptq tests/fixtures/specs/small-llama-fp8kv.yaml tests/fixtures/specs/coverage-bf16.yaml small-llama; do
  $G selftest "$spec" ${kernels:+--kernels "$kernels"} --seed "$SEED" >> "$out/selftest.txt" 2>&1; mark "selftest $spec" $?
done
grep -E "selftest (passed|FAILED)" "$out/selftest.txt"; echo "FAIL lines: $(grep -c FAIL "$out/selftest.txt")"
{ cat specs/small-llama.yaml; printf '\ntiles:\n  sm_90:\n    decode_attention_wide: { block_n: 128, warps: 8, stages: 3, splits: 0 }\n'; } > "$out/small-wide.yaml"
for s in specs/small-llama.yaml "$out/small-wide.yaml"; do
  for d in 0 3; do
    $G generate --model tests/fixtures/small-llama --spec "$s" --prompt "The Debian project" --max-tokens 48 --draft-tokens $d --backend gpu 2>&1 \
      | grep -E "^generated|^The" | sed "s|^|$(basename "$s") draft $d: |" >> "$out/generate.txt"
  done
done; mark generate 0
