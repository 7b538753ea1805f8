#!/usr/bin/env bash
# Session 18, call 2 (issue #5): the wide twin of decode attention (decode_attention_wide, chosen per step): selftests,
# generation on a copy of small-llama with wide tiles against the spec's, the final table with SDPA, wide candidates.
R=$OUT; export OUT=/tmp/w14; rm -rf /tmp/w14
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; cp "$out"/*.txt "$out"/*.md "$out"/*.json "$R"/ 2>/dev/null; }
SEED=$RANDOM; echo "seed $SEED"
for spec in llama2-70b llama2-70b-gptq tests/fixtures/specs/small-llama-fp8kv.yaml small-llama; do
  $G selftest "$spec" --kernels decode_attention --seed $SEED >> "$out/selftest.txt" 2>&1; mark "selftest $spec" $?
done
grep -E "FAIL|selftest (passed|FAILED)|_wide" "$out/selftest.txt" | sort | uniq -c
# The runtime's choice on a real model: small-llama with wide tiles (2 KV heads: every step of up to 66 sequences is wide).
{ cat specs/small-llama.yaml; printf '\ntiles:\n  sm_90:\n    decode_attention_wide: { block_n: 128, warps: 8, stages: 2, splits: 0 }\n'; } > "$out/small-wide.yaml"
for s in specs/small-llama.yaml "$out/small-wide.yaml"; do
  for d in 0 3; do
    $G generate --model tests/fixtures/small-llama --spec $s --prompt "The Debian project" --max-tokens 48 --draft-tokens $d --backend gpu 2>&1 | grep -v "^load\|kernels" | tail -3 | sed "s|^|$(basename $s) draft $d: |" >> "$out/generate.txt"
  done
done
$G generate --model tests/fixtures/small-llama --spec "$out/small-wide.yaml" --prompt "The Debian project" --max-tokens 48 --backend gpu --no-cuda-graphs 2>&1 | tail -2 | sed "s|^|wide no graphs: |" >> "$out/generate.txt"
mark generate 0
bench_with_peers attention-llama2-70b llama2-70b --attention-points 1x4096,16x2048,64x1024,8x2048,32x2048 > /dev/null; mark "table fp8" $?
bench_with_peers attention-llama2-70b-gptq llama2-70b-gptq --attention-points 1x4096,16x2048,64x1024,8x2048,32x2048 > /dev/null; mark "table fp16" $?
wide() {  # wide SPEC BN W ST: the spec with sm_90's decode_attention_wide set
  local c="$out/$1-wide-$2-$3-$4.yaml"
  sed -E "/^  sm_90:/,/^  sm_|^[a-z]/ s/(decode_attention_wide: )\{[^}]*\}/\1{ block_n: $2, warps: $3, stages: $4, splits: 0 }/" "specs/$1.yaml" > "$c"
  $G bench "$c" --attention-points 1x4096,8x2048,16x2048,32x2048 --json 2> "$c.err" | python3 -c '
import json, sys
for k in json.load(sys.stdin)["kernels"]:
    print("%-34s %-46s %-34s %8.1f us %7.0f GB/s %5.1f%%  %s" % (sys.argv[1], k["kernel"][-30:], k["case"], k["median_us"], k["gb_per_s"], 100 * k["roofline_fraction"], "pass" if k.get("check_passed") else "CHECK FAILED"))' "$1 wide $2/$3/$4" >> "$out/wide.txt" || echo "$1 $2/$3/$4 FAILED $(tail -2 $c.err)" >> "$out/wide.txt"
}
for t in "128 8 2" "256 8 2" "256 16 2" "256 16 3" "128 8 3"; do wide llama2-70b $t; done; mark "wide fp8" 0
for t in "128 8 3" "128 8 2" "128 8 4"; do wide llama2-70b-gptq $t; done; mark "wide fp16" 0
mark done 0
