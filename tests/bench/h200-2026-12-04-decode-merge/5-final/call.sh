#!/usr/bin/env bash
# Session 17, call 5 (issue #5): the committed decode kernel: decode selftests of six specs, the table with PyTorch's peers.
R=$OUT; export OUT=/tmp/w11; rm -rf /tmp/w11
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; cp "$out"/{log.txt,selftest.txt,attention.txt} "$R"/ 2>/dev/null; }
SEED=$RANDOM; echo "seed $SEED"
for spec in llama2-70b llama2-70b-gptq tests/fixtures/specs/small-llama-fp8kv.yaml tests/fixtures/specs/coverage-bf16.yaml llama2-7b small-llama; do
  $G selftest "$spec" --kernels decode_attention --seed $SEED >> "$out/selftest.txt" 2>&1; mark "selftest $spec" $?
done
grep -E "FAIL|selftest (passed|FAILED)" "$out/selftest.txt"
bash tests/device/attention.sh > "$out/attention.txt" 2>&1; mark "attention with peers" $?
cp "$out"/*.json "$out"/*.md "$R"/ 2>/dev/null
mark done 0
