#!/usr/bin/env bash
# Session 21, call 3 (issue #5): on top of the table read at entry and the spread queries (GC_INVFREQ=2 GC_DA_Q8=1):
# the warp's next tiles prefetched into L2 under the prologue (GC_DA_PF=n tiles) and the context length read before the
# rows' copies (GC_DA_CTX=1); temporary switches.
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
tm() {  # tm LABEL SPEC POINTS
  $G bench $2 --attention-points $3 --json 2> "$out/$1.err" | python3 -c '
import json, sys
for k in json.load(sys.stdin)["kernels"]:
    print("%-12s %-22s %-34s %8.2f us %7.0f GB/s %5.1f%%  %s" % (sys.argv[1], k["kernel"][-22:], k["case"], k["median_us"], k["gb_per_s"], 100 * k["roofline_fraction"], "pass" if k.get("check_passed") else "CHECK FAILED"))' "$1" >> "$out/ab.txt"
}
P=1x4096,8x2048,16x2048,32x2048,64x1024
for r in 1 2; do
  tm i2q8-$r llama2-70b $P
  GC_DA_PF=2 tm pf2-$r llama2-70b $P
  GC_DA_PF=4 tm pf4-$r llama2-70b $P
  GC_DA_PF=8 tm pf8-$r llama2-70b $P
  GC_DA_CTX=1 tm ctx-$r llama2-70b $P
  GC_DA_CTX=1 GC_DA_PF=4 tm ctxpf4-$r llama2-70b $P
done; mark fp8 0
for r in 1 2; do
  tm fp16i2q8-$r llama2-70b-gptq $P
  GC_DA_PF=4 tm fp16pf4-$r llama2-70b-gptq $P
  GC_DA_CTX=1 GC_DA_PF=4 tm fp16ctxpf4-$r llama2-70b-gptq $P
done; mark fp16 0
mark done 0
