#!/usr/bin/env bash
# Session 22, call 6 (issue #5): per-CTA stamps again (the temporary GC_STAMPS build, its launch count now taken at the
# end, the CTA's globaltimer span printed), and Nsight Compute's finest warp-state sampling on one FP8 16 × 2048 launch
R=$OUT; export OUT=/tmp/w6; rm -rf /tmp/w6
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; (cd "$out" && tar czf "$R/r.tgz" *.txt 2>/dev/null); }
for spec in llama2-70b llama2-70b-gptq; do
  for p in 16x2048 1x4096; do
    GC_STAMPS=1 $G bench $spec --attention-points $p > "$out/raw-$spec-$p.txt" 2>&1; mark "stamps $spec $p" $?
    { echo "== $spec $p"; grep -E "^│ decode" "$out/raw-$spec-$p.txt" | head -2; python3 .device/stamps.py "$out/raw-$spec-$p.txt"; } >> "$out/stamps.txt"
  done
done
cat "$out/stamps.txt"
timeout 200 ncu --clock-control none --kernel-name regex:rope_wide --launch-skip 3 --launch-count 1 --set full --sampling-interval 0 \
  --import-source no -o "$out/fp8-16x2048" $G bench llama2-70b --attention-points 16x2048 > "$out/ncu-log.txt" 2>&1; mark ncu $?
ncu -i "$out/fp8-16x2048.ncu-rep" --page source --csv --print-source sass > "$out/fp8-16x2048-sass.csv" && rm -f "$out/fp8-16x2048.ncu-rep"
python3 tests/device/sass_blocks.py --in-order "$out/fp8-16x2048-sass.csv" 12 > "$out/fp8-16x2048-sass.txt"; mark sass $?
gzip -k "$out/fp8-16x2048-sass.csv"; (cd "$out" && tar czf "$R/r.tgz" *.txt *.csv.gz 2>/dev/null)
echo done
