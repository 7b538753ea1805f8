#!/usr/bin/env bash
# Session 22, call 1 (issue #5): per-CTA stamps (temporary GC_STAMPS build) of the wide decode kernels, FP8 against fp16.
# The patch's first form: thread 0 took the launch count's atomic at entry (holding warp 0 back) and its printf carried
# 19 of the 20 clock fields as %lld, so raw-*.txt lines have 25 fields and no end timer; their summary was dropped.
R=$OUT; export OUT=/tmp/w1; rm -rf /tmp/w1
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; (cd "$out" && tar czf "$R/r.tgz" *.txt 2>/dev/null); }
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem --format=csv
for spec in llama2-70b llama2-70b-gptq; do
  for p in 16x2048 32x2048 8x2048 1x4096; do
    GC_STAMPS=1 $G bench $spec --attention-points $p > "$out/raw-$spec-$p.txt" 2>&1; mark "stamps $spec $p" $?
    { echo "== $spec $p"; grep -v "^S " "$out/raw-$spec-$p.txt" | grep -E "decode|us" | head -3; python3 .device/stamps.py "$out/raw-$spec-$p.txt"; } >> "$out/stamps.txt"
  done
done
for spec in llama2-70b llama2-70b-gptq; do ab_lines base-$spec $spec --attention-points 1x4096,8x2048,16x2048,32x2048,64x1024; done; mark ab $?
cat "$out/stamps.txt" "$out/ab.txt"
mark done 0
