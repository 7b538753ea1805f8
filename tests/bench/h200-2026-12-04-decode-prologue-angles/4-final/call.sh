#!/usr/bin/env bash
# Session 21, call 4 (issue #5): the committed decode kernels (RoPE table in global memory read at entry, queries eight
# pairs an item, context length before the rows): decode selftests, generation on small-llama with and without wide
# tiles, the final tables with SDPA and the copy of the same bytes.
R=$OUT; export OUT=/tmp/w4; rm -rf /tmp/w4
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; (cd "$out" && tar czf "$R/r.tgz" *.txt *.md *.json 2>/dev/null); }
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
bench_with_peers attention-llama2-70b llama2-70b --attention-points 1x4096,16x2048,64x1024,8x2048,32x2048 > /dev/null; mark "table fp8" $?
bench_with_peers attention-llama2-70b-gptq llama2-70b-gptq --attention-points 1x4096,16x2048,64x1024,8x2048,32x2048 > /dev/null; mark "table fp16" $?
mark done 0
