#!/usr/bin/env bash
# Session 18, call 5 (issue #5): with 3 stages, the second of a warp's first tiles held back until the step's rows land
# (GC_DECODE_LATE=1, temporary) against both issued at entry, same call; selftests with it on.
R=$OUT; export OUT=/tmp/w17; rm -rf /tmp/w17
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; cp "$out"/*.txt "$R"/ 2>/dev/null; }
w() { sed -E "s/(decode_attention_wide: )\{[^}]*\}/\1{ block_n: $2, warps: 8, stages: 3, splits: $3 }/" specs/llama2-70b.yaml > "$out/$1.yaml"; }
w w3 128 0; w w3s1 128 1; w w256s3 256 0
SEED=$RANDOM; echo "seed $SEED"
for spec in "$out/w3.yaml" llama2-70b-gptq; do
  GC_DECODE_LATE=1 $G selftest "$spec" --kernels decode_attention --seed $SEED > "$out/selftest-$(basename $spec).txt" 2>&1; mark "selftest late $spec" $?
done
tm() {  # tm LABEL SPEC
  $G bench $2 --attention-points 1x4096,8x2048,16x2048,32x2048,64x1024 --json 2> "$out/$1.err" | python3 -c '
import json, sys
for k in json.load(sys.stdin)["kernels"]:
    print("%-12s %-22s %-34s %8.1f us %7.0f GB/s %5.1f%%  %s" % (sys.argv[1], k["kernel"][-22:], k["case"], k["median_us"], k["gb_per_s"], 100 * k["roofline_fraction"], "pass" if k.get("check_passed") else "CHECK FAILED"))' "$1" >> "$out/ab.txt"
}
tm spec llama2-70b
for c in w3 w3s1 w256s3; do tm $c "$out/$c.yaml"; GC_DECODE_LATE=1 tm $c-late "$out/$c.yaml"; done; mark fp8 0
tm fp16 llama2-70b-gptq; GC_DECODE_LATE=1 tm fp16-late llama2-70b-gptq; mark fp16 0
mark done 0
