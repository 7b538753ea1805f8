#!/usr/bin/env bash
# Session 19, call 2 (issue #5): an L2 evict-first policy on the decode kernels' K/V copies (GC_DECODE_EVICT=kv) or on
# every 16-byte copy (=all), with and without a prefetch size (GC_DECODE_PREF), evict_normal as the control; temporary.
R=$OUT; export OUT=/tmp/w20; rm -rf /tmp/w20
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; cp "$out"/*.txt "$R"/ 2>/dev/null; }
w() { sed -E "s/(decode_attention_wide: )\{[^}]*\}/\1{ block_n: $2, warps: 8, stages: $3, splits: 0 }/" specs/llama2-70b.yaml > "$out/$1.yaml"; }
w w256 256 3
SEED=$RANDOM; echo "seed $SEED"
for spec in llama2-70b llama2-70b-gptq; do
  GC_DECODE_EVICT=kv $G selftest "$spec" --kernels decode_attention --seed $SEED >> "$out/selftest.txt" 2>&1; mark "selftest kv $spec" $?
done
grep -E "selftest (passed|FAILED)" "$out/selftest.txt"
tm() {  # tm LABEL SPEC
  $G bench $2 --attention-points 1x4096,8x2048,16x2048,32x2048,64x1024 --json 2> "$out/$1.err" | python3 -c '
import json, sys
for k in json.load(sys.stdin)["kernels"]:
    print("%-12s %-22s %-34s %8.1f us %7.0f GB/s %5.1f%%  %s" % (sys.argv[1], k["kernel"][-22:], k["case"], k["median_us"], k["gb_per_s"], 100 * k["roofline_fraction"], "pass" if k.get("check_passed") else "CHECK FAILED"))' "$1" >> "$out/ab.txt"
}
for r in 1 2; do
  tm base$r llama2-70b
  GC_DECODE_EVICT=kv tm kv$r llama2-70b
  GC_DECODE_EVICT=all tm all$r llama2-70b
done
GC_DECODE_EVICT=kv GC_DECODE_PREF=128 tm kv128 llama2-70b
GC_DECODE_EVICT=kv GC_DECODE_PREF=256 tm kv256 llama2-70b
GC_DECODE_EVICT=kv GC_DECODE_POLICY=evict_normal tm kvnormal llama2-70b
GC_DECODE_EVICT=kv tm w256kv "$out/w256.yaml"; mark fp8 0
for r in 1 2; do
  tm fp16base$r llama2-70b-gptq
  GC_DECODE_EVICT=kv tm fp16kv$r llama2-70b-gptq
done
GC_DECODE_EVICT=all tm fp16all llama2-70b-gptq; mark fp16 0
mark done 0
