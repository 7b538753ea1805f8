#!/usr/bin/env bash
# Session 19, call 3 (issue #5): the committed decode kernels (K/V copies under L2's evict-first policy): decode
# selftests, generation on small-llama with and without wide tiles, the final tables with SDPA; then the same policy on
# the decode GEMMs' weight copies (GC_GEMM_ONCE=1, temporary): kernel sweep, GEMM selftest, end to end if time is left.
R=$OUT; export OUT=/tmp/w21; rm -rf /tmp/w21
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; cp "$out"/*.txt "$out"/*.md "$R"/ 2>/dev/null; }
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
gm() {  # gm LABEL SPEC
  $G bench $2 --gemm-shapes 8192x10240,8192x8192,8192x57344,28672x8192,8192x32000 --rows 1,16,64 --json 2> "$out/$1.err" | python3 -c '
import json, sys
for k in json.load(sys.stdin)["kernels"]:
    if "prefill" in k["kernel"]: continue
    print("%-8s %-48s %-24s %8.1f us %7.0f GB/s %5.1f%%  %s" % (sys.argv[1], k["kernel"][-48:], k["case"][:24], k["median_us"], k["gb_per_s"], 100 * k["roofline_fraction"], "pass" if k.get("check_passed") else "CHECK FAILED"))' "$1" >> "$out/gemm-ab.txt"
}
gm base llama2-70b; GC_GEMM_ONCE=1 gm once llama2-70b; gm base2 llama2-70b; GC_GEMM_ONCE=1 gm once2 llama2-70b; mark "gemm ab" 0
GC_GEMM_ONCE=1 timeout 100 $G selftest llama2-70b --kernels gemm --seed $SEED > "$out/selftest-gemm-once.txt" 2>&1; mark "selftest gemm once" $?
if [ $((SECONDS - t0)) -lt 330 ]; then
  for v in 0 1; do GC_GEMM_ONCE=$v timeout 90 $G bench llama2-70b --synthetic --prompts 128 --batches 1,16 --steps 8 > "$out/e2e-once$v.txt" 2>&1; mark "e2e once=$v" $?; done
fi
mark done 0
