#!/usr/bin/env bash
# Session 18, call 1 (issue #5): decode tiles with more warps a CTA (8, 16) at the points, splits chosen or fixed.
R=$OUT; export OUT=/tmp/w13; rm -rf /tmp/w13
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; cp "$out"/*.txt "$R"/ 2>/dev/null; }
tiles() {  # tiles SPEC BN W ST SPLITS -> copy path
  local c="$out/$1-$2-$3-$4-$5.yaml"
  sed -E "/^  sm_90:/,/^  sm_|^[a-z]/ s/(decode_attention: )\{[^}]*\}/\1{ block_n: $2, warps: $3, stages: $4, splits: $5 }/" "specs/$1.yaml" > "$c"; echo "$c"
}
tm() {  # tm SPEC BN W ST SPLITS POINTS
  local c; c=$(tiles "$@")
  $G bench "$c" --attention-points "$6" --json 2> "$c.err" | python3 -c '
import json, sys
for k in json.load(sys.stdin)["kernels"]:
    print("%-50s %-34s %8.1f us %7.0f GB/s %5.1f%%  %s" % (sys.argv[1], k["case"], k["median_us"], k["gb_per_s"], 100 * k["roofline_fraction"], "pass" if k.get("check_passed") else "CHECK FAILED"))' "$1 bn$2 w$3 st$4 sp$5" >> "$out/sweep.txt" || { echo "$1 bn$2 w$3 st$4 sp$5 FAILED: $(tail -2 $c.err)" >> "$out/sweep.txt"; }
}
P=1x4096,16x2048,64x1024,8x2048
SEED=$RANDOM; echo "seed $SEED"
$G selftest "$(tiles llama2-70b 256 16 2 0)" --kernels decode_attention --seed $SEED > "$out/selftest.txt" 2>&1; mark "selftest fp8 256/16" $?
$G selftest "$(tiles llama2-70b-gptq 128 8 3 0)" --kernels decode_attention --seed $SEED >> "$out/selftest.txt" 2>&1; mark "selftest fp16 128/8" $?
grep -E "FAIL|selftest (passed|FAILED)" "$out/selftest.txt" | sort | uniq -c
tm llama2-70b 64 4 2 0 $P; mark base 0
tm llama2-70b 256 16 2 0 $P; tm llama2-70b 256 16 2 1 16x2048,8x2048; tm llama2-70b 256 16 2 2 16x2048,8x2048
tm llama2-70b 256 16 2 8 1x4096; tm llama2-70b 256 16 2 16 1x4096; mark "256/16" 0
tm llama2-70b 128 8 2 0 $P; tm llama2-70b 128 8 2 1 16x2048; tm llama2-70b 128 8 2 16 1x4096; mark "128/8" 0
tm llama2-70b 256 16 3 0 $P; tm llama2-70b 256 8 2 0 $P; tm llama2-70b 512 16 2 0 $P; mark "st3, 256/8, 512/16" 0
tm llama2-70b-gptq 64 4 3 0 $P; tm llama2-70b-gptq 128 8 2 0 $P; tm llama2-70b-gptq 128 8 3 0 $P
tm llama2-70b-gptq 128 8 3 1 16x2048; tm llama2-70b-gptq 128 8 3 16 1x4096; mark fp16 0
tm llama2-70b 64 4 2 0 $P; mark "base again" 0
mark done 0
