#!/usr/bin/env bash
# Llama-2-70B end to end on one GPU (issue #8): graphc bench --synthetic on the seed's mixed recipe (FP8 attention,
# INT4 g128 MLP, FP8 KV) and on the all-INT4 GPTQ spec: prefill tokens/s at prompts 1024 and 4096, decode tokens/s at
# batch 1, 8, 32, 64 with context 1024, each against its bound, and device memory by component. Outputs under $out.
source "$(dirname "$0")/env.sh"
status=0
for spec in llama2-70b llama2-70b-gptq; do
  timeout "${BENCH_TIMEOUT:-240}" $G bench "$spec" --synthetic ${BENCH_ARGS:-} > "$out/e2e-$spec.txt" 2>&1 || status=1
  cat "$out/e2e-$spec.txt"
done
exit $status
