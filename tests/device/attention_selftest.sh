#!/usr/bin/env bash
# One device call's correctness part for the attention kernels (issues #4, #5): every prefill- and decode-attention case
# of the specs that between them cover fp16 and bf16 activations, fp16, e4m3 and e5m2 caches, head_dim 64 and 128, GQA
# 1 (llama2-7b's 32 heads), 2, 4 and 8, against the CPU reference (and a CUDA-graph replay each).
source "$(dirname "$0")/env.sh"
status=0
: > "$out/selftest-attention.txt"
for spec in small-llama tests/fixtures/specs/small-llama-fp8kv.yaml tests/fixtures/specs/coverage-bf16.yaml llama2-70b llama2-70b-gptq llama2-7b; do
  $G selftest "$spec" --kernels prefill_attention,decode_attention --seed "${SEED:-$RANDOM}" >> "$out/selftest-attention.txt" 2>&1 || status=1
done
grep -E "FAIL|selftest (passed|FAILED)" "$out/selftest-attention.txt"
exit $status
