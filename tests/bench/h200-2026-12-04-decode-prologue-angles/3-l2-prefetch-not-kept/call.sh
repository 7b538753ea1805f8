#!/usr/bin/env bash
# Session 21, call 3 (issue #5): on top of the table read at entry and the spread queries (GC_INVFREQ=2 GC_DA_Q8=1):
# the warp's next tiles prefetched into L2 under the prologue (GC_DA_PF=n tiles) and the context length read before the
# rows' copies (GC_DA_CTX=1); temporary switches.
# As it ran, it defined tm LABEL SPEC POINTS: env.sh's ab_lines but for the columns (the label in 12 characters, the
# kernel name's last 22, the whole case); ab_lines holds it now.
R=$OUT; export OUT=/tmp/w3; rm -rf /tmp/w3
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; (cd "$out" && tar czf "$R/r.tgz" *.txt 2>/dev/null); }
SEED=$RANDOM; echo "seed $SEED"
export GC_INVFREQ=2 GC_DA_Q8=1
for spec in llama2-70b llama2-70b-gptq; do
  GC_DA_PF=4 GC_DA_CTX=1 $G selftest "$spec" --kernels decode_attention --seed $SEED >> "$out/selftest.txt" 2>&1; mark "selftest pf4 ctx $spec" $?
done
grep -E "selftest (passed|FAILED)" "$out/selftest.txt"
P=1x4096,8x2048,16x2048,32x2048,64x1024
for r in 1 2; do
  ab_lines i2q8-$r llama2-70b --attention-points $P
  GC_DA_PF=2 ab_lines pf2-$r llama2-70b --attention-points $P
  GC_DA_PF=4 ab_lines pf4-$r llama2-70b --attention-points $P
  GC_DA_PF=8 ab_lines pf8-$r llama2-70b --attention-points $P
  GC_DA_CTX=1 ab_lines ctx-$r llama2-70b --attention-points $P
  GC_DA_CTX=1 GC_DA_PF=4 ab_lines ctxpf4-$r llama2-70b --attention-points $P
done; mark fp8 0
for r in 1 2; do
  ab_lines fp16i2q8-$r llama2-70b-gptq --attention-points $P
  GC_DA_PF=4 ab_lines fp16pf4-$r llama2-70b-gptq --attention-points $P
  GC_DA_CTX=1 GC_DA_PF=4 ab_lines fp16ctxpf4-$r llama2-70b-gptq --attention-points $P
done; mark fp16 0
mark done 0
