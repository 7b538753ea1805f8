#!/usr/bin/env bash
# Session 21, call 5 (issue #5): the RoPE frequency read at entry only by the threads that compute angles
# (GC_DA_IFC=1, temporary), against the committed kernels, alternating.
# As it ran, it defined tm LABEL SPEC POINTS: env.sh's ab_lines but for the columns (the label in 12 characters, the
# kernel name's last 22, the whole case); ab_lines holds it now.
R=$OUT; export OUT=/tmp/w5; rm -rf /tmp/w5
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; (cd "$out" && tar czf "$R/r.tgz" *.txt 2>/dev/null); }
SEED=$RANDOM; echo "seed $SEED"
GC_DA_IFC=1 $G selftest llama2-70b --kernels decode_attention --seed $SEED >> "$out/selftest.txt" 2>&1; mark "selftest ifc" $?
grep -E "selftest (passed|FAILED)" "$out/selftest.txt"
P=1x4096,8x2048,16x2048,64x1024
for r in 1 2; do
  ab_lines base-$r llama2-70b --attention-points $P; GC_DA_IFC=1 ab_lines ifc-$r llama2-70b --attention-points $P
done; mark fp8 0
for r in 1 2; do
  ab_lines fp16base-$r llama2-70b-gptq --attention-points $P; GC_DA_IFC=1 ab_lines fp16ifc-$r llama2-70b-gptq --attention-points $P
done; mark done 0
