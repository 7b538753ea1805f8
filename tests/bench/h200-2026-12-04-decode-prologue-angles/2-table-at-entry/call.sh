#!/usr/bin/env bash
# Session 21, call 2 (issue #5): the RoPE table out of the constant bank (GC_INVFREQ=1 global, =2 global and read at
# entry), with the queries spread (GC_DA_Q8) and both first tiles held back (GC_HELD_BACK=2); temporary switches.
# As it ran, it defined tm LABEL SPEC POINTS: env.sh's ab_lines but for the columns (the label in 12 characters, the
# kernel name's last 22, the whole case); ab_lines holds it now.
R=$OUT; export OUT=/tmp/w2; rm -rf /tmp/w2
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; (cd "$out" && tar czf "$R/r.tgz" *.txt 2>/dev/null); }
SEED=$RANDOM; echo "seed $SEED"
for spec in llama2-70b llama2-70b-gptq; do
  GC_INVFREQ=2 GC_DA_Q8=1 $G selftest "$spec" --kernels decode_attention --seed $SEED >> "$out/selftest.txt" 2>&1; mark "selftest i2q8 $spec" $?
done
GC_INVFREQ=1 timeout 100 $G selftest llama2-70b --kernels prefill_attention --seed $SEED >> "$out/selftest.txt" 2>&1; mark "selftest prefill i1" $?
grep -E "selftest (passed|FAILED)" "$out/selftest.txt"
P=1x4096,8x2048,16x2048,64x1024
for r in 1 2; do
  ab_lines base$r llama2-70b --attention-points $P
  GC_INVFREQ=1 ab_lines i1-$r llama2-70b --attention-points $P
  GC_INVFREQ=2 ab_lines i2-$r llama2-70b --attention-points $P
  GC_INVFREQ=2 GC_DA_Q8=1 ab_lines i2q8-$r llama2-70b --attention-points $P
  GC_INVFREQ=2 GC_DA_Q8=1 GC_HELD_BACK=2 ab_lines i2q8hb2-$r llama2-70b --attention-points $P
done; mark fp8 0
for r in 1 2; do
  ab_lines fp16base$r llama2-70b-gptq --attention-points $P
  GC_INVFREQ=2 GC_DA_Q8=1 ab_lines fp16i2q8-$r llama2-70b-gptq --attention-points $P
  GC_INVFREQ=2 GC_DA_Q8=1 GC_HELD_BACK=2 ab_lines fp16i2q8hb2-$r llama2-70b-gptq --attention-points $P
done; mark fp16 0
export GC_INVFREQ=2 GC_DA_Q8=1
timeout 150 ncu --set full --import-source no --kernel-name regex:decode_attention.*wide --launch-skip 5 --launch-count 1 -o "$out/ncu-i2q8" $G bench llama2-70b --attention-points 16x2048 > "$out/ncu-log.txt" 2>&1
ncu -i "$out/ncu-i2q8.ncu-rep" --page source --csv --print-source sass > "$out/src-i2q8.txt" 2>/dev/null
python3 tests/device/sass_blocks.py "$out/src-i2q8.txt" 12 > "$out/blocks-i2q8.txt" 2>&1
mark done 0
