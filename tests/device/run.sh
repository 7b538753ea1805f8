#!/usr/bin/env bash
# One device call: selftest every emitted kernel of the shipped specs (and of the coverage spec) on the GPU, time them,
# and time PyTorch's peers in the same run. Writes logs and JSON under $OUT (or ./device-out).
source "$(dirname "$0")/env.sh"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv | tee "$out/gpu.txt"
status=0
for spec in small-llama tests/fixtures/specs/coverage-bf16.yaml llama2-70b; do
  label=$(basename "$spec" .yaml)
  $G selftest "$spec" --seed "${SEED:-$RANDOM}" > "$out/selftest-$label.txt" 2>&1 || status=1
  tail -n 3 "$out/selftest-$label.txt"
done
$G bench llama2-70b --json > "$out/bench-llama2-70b.json" 2> "$out/bench-err.txt" || status=1
python3 tests/reference/peer_bench.py "$out/bench-llama2-70b.json" > "$out/peer-llama2-70b.json" 2> "$out/peer-err.txt" || status=1
$G bench llama2-70b --peer "$out/peer-llama2-70b.json" > "$out/bench-llama2-70b.txt" 2>&1 || status=1
cat "$out/bench-llama2-70b.txt"
python3 -c "import json; p=json.load(open('$out/peer-llama2-70b.json')); print('copy GB/s', round(p['copy_gb_per_s'])); [print(r) for r in p['sdpa']]; [print(r) for r in p['gemm']]" || status=1
exit $status
