#!/usr/bin/env bash
# Session 20, call 8: the few-row INT4 gate/up kernel's SASS by code block (ncu --set full source page through
# tests/device/sass_blocks.py), llama2-70b decode at batch 1, synthetic weights.
R=$OUT; export OUT=/tmp/w8; rm -rf /tmp/w8
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
timeout 170 ncu --clock-control none --kernel-name regex:'gemm_gptq_g128_sym_k8192_n57344_decode_swiglu$' --launch-skip 2 --launch-count 1 \
  --set full --import-source no -o "$out/gateup" $G bench llama2-70b --synthetic --prompts 128 --batches 1 --steps 2 > "$out/ncu-full.txt" 2>&1; echo "ncu rc $? at $((SECONDS - t0))s"
ncu -i "$out/gateup.ncu-rep" --page source --csv --print-source sass > "$out/gateup-sass.csv" && rm -f "$out/gateup.ncu-rep"
python3 tests/device/sass_blocks.py "$out/gateup-sass.csv" > "$out/sass-blocks.txt" 2>&1; echo "blocks rc $? at $((SECONDS - t0))s"
gzip -f "$out/gateup-sass.csv"
cp "$out"/*.txt "$out"/*.gz "$R"/
