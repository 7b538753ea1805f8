#!/usr/bin/env bash
# Session 19, call 1 (issue #5): L2 prefetch-size and evict-first hints on the decode kernels' 16-byte copies
# (GC_DECODE_L2=128/256, GC_DECODE_EVICT=1, temporary), and 4 stages on the wide twin, against the committed kernels.
R=$OUT; export OUT=/tmp/w19; rm -rf /tmp/w19
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; cp "$out"/*.txt "$R"/ 2>/dev/null; }
w() { sed -E "s/(decode_attention_wide: )\{[^}]*\}/\1{ block_n: $2, warps: 8, stages: $3, splits: 0 }/" specs/llama2-70b.yaml > "$out/$1.yaml"; }
w st4 128 4; w w256 256 3
SEED=$RANDOM; echo "seed $SEED"
for spec in llama2-70b llama2-70b-gptq "$out/st4.yaml"; do
  GC_DECODE_L2=256 $G selftest "$spec" --kernels decode_attention --seed $SEED >> "$out/selftest.txt" 2>&1; mark "selftest l2 $spec" $?
done
GC_DECODE_EVICT=1 $G selftest llama2-70b --kernels decode_attention --seed $SEED >> "$out/selftest.txt" 2>&1; mark "selftest evict" $?
grep -E "selftest (passed|FAILED)" "$out/selftest.txt"
tm() {  # tm LABEL SPEC
  $G bench $2 --attention-points 1x4096,8x2048,16x2048,32x2048,64x1024 --json 2> "$out/$1.err" | python3 -c '
import json, sys
for k in json.load(sys.stdin)["kernels"]:
    print("%-12s %-22s %-34s %8.1f us %7.0f GB/s %5.1f%%  %s" % (sys.argv[1], k["kernel"][-22:], k["case"], k["median_us"], k["gb_per_s"], 100 * k["roofline_fraction"], "pass" if k.get("check_passed") else "CHECK FAILED"))' "$1" >> "$out/ab.txt"
}
tm base llama2-70b
GC_DECODE_L2=128 tm l2-128 llama2-70b
GC_DECODE_L2=256 tm l2-256 llama2-70b
GC_DECODE_EVICT=1 tm evict llama2-70b
tm st4 "$out/st4.yaml"
GC_DECODE_L2=256 tm st4-l2 "$out/st4.yaml"
GC_DECODE_L2=256 tm w256-l2 "$out/w256.yaml"
tm base2 llama2-70b; mark fp8 0
tm fp16 llama2-70b-gptq
GC_DECODE_L2=256 tm fp16-l2 llama2-70b-gptq
GC_DECODE_EVICT=1 tm fp16-evict llama2-70b-gptq
tm fp16-2 llama2-70b-gptq; mark fp16 0
mark done 0
