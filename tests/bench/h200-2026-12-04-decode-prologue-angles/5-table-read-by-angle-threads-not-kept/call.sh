#!/usr/bin/env bash
# Session 21, call 5 (issue #5): the RoPE frequency read at entry only by the threads that compute angles
# (GC_DA_IFC=1, temporary), against the committed kernels, alternating.
R=$OUT; export OUT=/tmp/w5; rm -rf /tmp/w5
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; (cd "$out" && tar czf "$R/r.tgz" *.txt 2>/dev/null); }
SEED=$RANDOM; echo "seed $SEED"
GC_DA_IFC=1 $G selftest llama2-70b --kernels decode_attention --seed $SEED >> "$out/selftest.txt" 2>&1; mark "selftest ifc" $?
grep -E "selftest (passed|FAILED)" "$out/selftest.txt"
tm() {  # tm LABEL SPEC POINTS
  $G bench $2 --attention-points $3 --json 2> "$out/$1.err" | python3 -c '
import json, sys
for k in json.load(sys.stdin)["kernels"]:
    print("%-12s %-22s %-34s %8.2f us %7.0f GB/s %5.1f%%  %s" % (sys.argv[1], k["kernel"][-22:], k["case"], k["median_us"], k["gb_per_s"], 100 * k["roofline_fraction"], "pass" if k.get("check_passed") else "CHECK FAILED"))' "$1" >> "$out/ab.txt"
}
P=1x4096,8x2048,16x2048,64x1024
for r in 1 2; do
  tm base-$r llama2-70b $P; GC_DA_IFC=1 tm ifc-$r llama2-70b $P
done; mark fp8 0
for r in 1 2; do
  tm fp16base-$r llama2-70b-gptq $P; GC_DA_IFC=1 tm fp16ifc-$r llama2-70b-gptq $P
done; mark done 0
