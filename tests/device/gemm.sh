#!/usr/bin/env bash
# One device call for the GEMM family: selftest every GEMM variant the small specs and fixtures emit (dense, GPTQ, AWQ,
# act-order, FP8 W8A16 and W8A8, fp16 and bf16, stream-K, epilogues), then the Llama-2-70B shape sweep with its PyTorch peers.
source "$(dirname "$0")/env.sh"
status=0
: > "$out/selftest.txt"
for spec in small-llama tests/fixtures/specs/small-llama-int4-gptq.yaml tests/fixtures/specs/small-llama-int4-awq.yaml \
            tests/fixtures/specs/small-llama-fp8.yaml tests/fixtures/specs/small-llama-w8a8.yaml tests/fixtures/specs/coverage-bf16.yaml \
            ${EXTRA_SPECS:-}; do
  $G selftest "$spec" --seed "${SEED:-$RANDOM}" >> "$out/selftest.txt" 2>&1 || status=1
done
grep -E "gemm|passed|failed" "$out/selftest.txt" | grep -vE "│ pass" | head -60
shapes="${SHAPES:-8192x8192,8192x1024,8192x28672,28672x8192}"
$G bench llama2-70b --gemm-shapes "$shapes" --rows "${ROWS:-1,3,16,77,256,4096}" --json > "$out/sweep.json" 2> "$out/sweep-err.txt" || status=1
tail -5 "$out/sweep-err.txt"
python3 tests/reference/peer_bench.py "$out/sweep.json" > "$out/peer.json" 2> "$out/peer-err.txt" || status=1
tail -3 "$out/peer-err.txt"
python3 tests/reference/bench_table.py "$out/sweep.json" "$out/peer.json" | tee "$out/sweep.md" || status=1
exit $status
