#!/usr/bin/env bash
# Session 21, call 1 (issue #5): decode attention's fixed part. Context sweep (F and R), prologue variants (temporary
# switches GC_DA_Q8, GC_DA_KV2, GC_HELD_BACK), Nsight Compute source view of the FP8 wide kernel at 16 x 2048.
# As it ran, it defined tm LABEL SPEC POINTS: env.sh's ab_lines but for the columns (the label in 12 characters, the
# kernel name's last 22, the whole case); ab_lines holds it now.
R=$OUT; export OUT=/tmp/w1; rm -rf /tmp/w1
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; (cd "$out" && tar czf "$R/r.tgz" *.txt *.csv 2>/dev/null); }
SEED=$RANDOM; echo "seed $SEED"
for spec in llama2-70b llama2-70b-gptq; do
  GC_DA_Q8=1 GC_DA_KV2=1 $G selftest "$spec" --kernels decode_attention --seed $SEED >> "$out/selftest.txt" 2>&1; mark "selftest q8kv2 $spec" $?
done
grep -E "selftest (passed|FAILED)" "$out/selftest.txt"
P=1x4096,8x2048,16x2048,64x1024
for r in 1 2; do
  ab_lines base$r llama2-70b --attention-points $P
  GC_DA_Q8=1 ab_lines q8-$r llama2-70b --attention-points $P
  GC_DA_Q8=1 GC_DA_KV2=1 ab_lines q8kv2-$r llama2-70b --attention-points $P
  GC_HELD_BACK=2 ab_lines hb2-$r llama2-70b --attention-points $P
done; mark fp8 0
for r in 1 2; do
  ab_lines fp16base$r llama2-70b-gptq --attention-points $P
  GC_DA_Q8=1 GC_DA_KV2=1 ab_lines fp16q8kv2-$r llama2-70b-gptq --attention-points $P
done; mark fp16 0
S=16x128,16x256,16x512,16x1024,16x2048,16x4096
ab_lines sweep-fp8 llama2-70b --attention-points $S; ab_lines sweep-fp16 llama2-70b-gptq --attention-points $S; mark sweep 0
for v in base q8kv2; do
  if [ $v = q8kv2 ]; then export GC_DA_Q8=1 GC_DA_KV2=1; fi
  timeout 150 ncu --set full --import-source no --kernel-name regex:decode_attention.*wide --launch-skip 5 --launch-count 1 -o "$out/ncu-$v" $G bench llama2-70b --attention-points 16x2048 > "$out/ncu-$v-log.txt" 2>&1
  ncu -i "$out/ncu-$v.ncu-rep" --page source --csv --print-source sass > "$out/src-$v.csv" 2>/dev/null
  ncu -i "$out/ncu-$v.ncu-rep" --page details > "$out/details-$v.txt" 2>/dev/null
  python3 tests/device/sass_blocks.py "$out/src-$v.csv" 12 > "$out/blocks-$v.txt" 2>&1
  mark "ncu $v" 0
done
unset GC_DA_Q8 GC_DA_KV2
mark done 0
