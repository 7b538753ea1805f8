#!/usr/bin/env bash
# Decode GEMMs of many sequences (issue #8's batch scaling), one device call: the GEMM selftest of llama2-70b and the small
# model (few-row decode kernels, their batch twins, prefill), the sampler's selftest, then tune.sh with the three
# *_decode_batch families (bench with the spec's tiles, tune within $TUNE_BUDGET, bench with the tuned tiles).
# Everything lands in $out/decode-batch.tar.gz (a device call brings back only a few files).
source "$(dirname "$0")/env.sh"
status=0
: > "$out/selftest-gemm.txt"
for spec in small-llama llama2-70b; do
  $G selftest "$spec" --kernels gemm --seed "${SEED:-$RANDOM}" >> "$out/selftest-gemm.txt" 2>&1 || status=1
done
grep -E "FAIL|selftest (passed|FAILED)" "$out/selftest-gemm.txt"
: > "$out/selftest-sampling.txt"
for spec in small-llama llama2-70b tests/fixtures/specs/coverage-bf16.yaml; do
  $G selftest "$spec" --kernels sample --seed "${SEED:-$RANDOM}" >> "$out/selftest-sampling.txt" 2>&1 || status=1
done
grep -E "FAIL|selftest (passed|FAILED)" "$out/selftest-sampling.txt"
BENCH_ARGS="${BENCH_ARGS:---prompts 1024 --batches 1,16,17,32,64}" \
TUNE_FAMILIES="${TUNE_FAMILIES:-gemm_dense_decode_batch,gemm_int4_decode_batch,gemm_fp8_decode_batch}" TUNE_BUDGET="${TUNE_BUDGET:-3m}" \
  bash "$(dirname "$0")/tune.sh" before tune after || status=1
tar -C "$out" -czf "$out/decode-batch.tar.gz" --exclude decode-batch.tar.gz .
exit $status
