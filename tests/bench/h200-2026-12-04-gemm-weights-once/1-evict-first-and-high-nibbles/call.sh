#!/usr/bin/env bash
# Session 20, call 1: the decode GEMMs' weight copies under evict-first and INT4's high nibbles in place (fp16), both on by
# default; GC_GEMM_PLAIN=1 / GC_INT4_SHIFTS=1 (temporary) switch each back. GEMM selftests, then llama2-70b end to end.
R=$OUT; export OUT=/tmp/w1; rm -rf /tmp/w1
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; cp "$out"/*.txt "$R"/ 2>/dev/null; }
SEED=$RANDOM; echo "seed $SEED"
nvidia-smi --query-gpu=name,clocks.max.sm,clocks.max.mem --format=csv
for spec in tests/fixtures/specs/small-llama-int4-gptq.yaml tests/fixtures/specs/small-llama-int4-awq.yaml tests/fixtures/specs/coverage-bf16.yaml tests/fixtures/specs/small-llama-fp8.yaml tests/fixtures/specs/small-llama-w8a8.yaml small-llama; do
  timeout 60 $G selftest "$spec" --kernels gemm --seed $SEED >> "$out/selftest.txt" 2>&1; mark "selftest $spec" $?
done
grep -E "selftest (passed|FAILED)|FAIL" "$out/selftest.txt" | head -20
e2e() { local label=$1; shift; env "$@" timeout 110 $G bench llama2-70b --synthetic --prompts 128 --batches 1,16,64 --steps 16 --profile > "$out/e2e-$label.txt" 2>&1; mark "e2e $label" $?; }
e2e new X=0; e2e old GC_GEMM_PLAIN=1 GC_INT4_SHIFTS=1; e2e plain GC_GEMM_PLAIN=1; e2e shifts GC_INT4_SHIFTS=1; e2e new2 X=0; e2e old2 GC_GEMM_PLAIN=1 GC_INT4_SHIFTS=1
for f in "$out"/e2e-*.txt; do echo "== $f"; grep -E "^│ decode  |gemm_" "$f" | head -30; done > "$out/e2e-summary.txt"
mark done 0
