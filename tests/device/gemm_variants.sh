#!/usr/bin/env bash
# Manual tile exploration for the GEMM families on one shape (the gate/up shape K=8192, N=28672): each line is a
# candidate `--gemm-tiles` for `graphc bench --gemm-shapes`, checked against the CPU reference and timed. The
# autotuner (issue #9) automates this; the results that set the spec's sm_90 tiles are in tests/bench/NOTES.md.
source "$(dirname "$0")/env.sh"
shape="${SHAPE:-8192x28672}"
while read -r rows tiles; do
  [ -z "$rows" ] && continue
  $G bench llama2-70b --gemm-shapes "$shape" --rows "$rows" --gemm-tiles "$tiles" --json 2>>"$out/variants-err.txt" \
    | python3 -c "
import json,sys
b=json.load(sys.stdin)
for k in b['kernels']:
    print(f\"{k['kernel']:70s} {k['case']:28s} {k['median_us']:9.1f} us {k['gb_per_s']:6.0f} GB/s {k.get('tflops',0):6.1f} TF {'ok' if k.get('check_passed') else 'FAIL'} regs {k['registers']}\")
" | tee -a "$out/variants.txt"
done < "${VARIANTS:-tests/device/gemm_variants.txt}"
