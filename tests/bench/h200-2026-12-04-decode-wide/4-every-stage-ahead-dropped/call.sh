#!/usr/bin/env bash
# Session 18, call 4 (issue #5): every stage's tile issued at entry (GC_DECODE_AHEAD=1, temporary) against kStages - 1,
# same call: the wide twin 128 x 8 (the spec's), 256 x 8, and the 4-warp kernel alone; selftests with it on; stamps.
R=$OUT; export OUT=/tmp/w16; rm -rf /tmp/w16
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; cp "$out"/*.txt "$R"/ 2>/dev/null; }
sed -E "/decode_attention_wide: /d" specs/llama2-70b.yaml > "$out/narrow.yaml"
sed -E "s/(decode_attention_wide: )\{[^}]*\}/\1{ block_n: 256, warps: 8, stages: 2, splits: 0 }/" specs/llama2-70b.yaml > "$out/wide256.yaml"
sed -E "s/(decode_attention_wide: )\{[^}]*\}/\1{ block_n: 256, warps: 8, stages: 3, splits: 0 }/" specs/llama2-70b.yaml > "$out/wide256s3.yaml"
SEED=$RANDOM; echo "seed $SEED"
for spec in llama2-70b llama2-70b-gptq tests/fixtures/specs/small-llama-fp8kv.yaml "$out/wide256.yaml"; do
  GC_DECODE_AHEAD=1 $G selftest "$spec" --kernels decode_attention --seed $SEED > "$out/selftest-$(basename $spec).txt" 2>&1; mark "selftest ahead $spec" $?
done
tm() {  # tm LABEL SPEC
  $G bench $2 --attention-points 1x4096,8x2048,16x2048,32x2048,64x1024 --json 2> "$out/$1.err" | python3 -c '
import json, sys
for k in json.load(sys.stdin)["kernels"]:
    print("%-16s %-22s %-34s %8.1f us %7.0f GB/s %5.1f%%  %s" % (sys.argv[1], k["kernel"][-22:], k["case"], k["median_us"], k["gb_per_s"], 100 * k["roofline_fraction"], "pass" if k.get("check_passed") else "CHECK FAILED"))' "$1" >> "$out/ab.txt"
}
for round in 1 2; do
  tm spec llama2-70b; GC_DECODE_AHEAD=1 tm spec-ahead llama2-70b
  tm w256 "$out/wide256.yaml"; GC_DECODE_AHEAD=1 tm w256-ahead "$out/wide256.yaml"
  tm narrow "$out/narrow.yaml"; GC_DECODE_AHEAD=1 tm narrow-ahead "$out/narrow.yaml"; mark "round $round" 0
done
GC_DECODE_AHEAD=1 tm w256s3-ahead "$out/wide256s3.yaml"; tm w256s3 "$out/wide256s3.yaml"
GC_DECODE_AHEAD=1 tm fp16-ahead llama2-70b-gptq; tm fp16 llama2-70b-gptq; mark "s3, fp16" 0
st() {  # st LABEL SPEC POINT WARPS
  GC_DECODE_AHEAD=${AHEAD:-0} GC_DECODE_STAMPS=150 $G bench $2 --attention-points $3 > "$out/st-$1.out" 2> "$out/st-$1.err"
  { echo "== $1 ($2 at $3, ahead ${AHEAD:-0})"; python3 .device/stamps3.py "$out/st-$1.out" $4; } >> "$out/stamps.txt" 2>&1
}
AHEAD=1 st w256-ahead-16x2048 "$out/wide256.yaml" 16x2048 8; AHEAD=1 st spec-ahead-16x2048 llama2-70b 16x2048 8; AHEAD=1 st spec-ahead-1x4096 llama2-70b 1x4096 8
mark done 0
