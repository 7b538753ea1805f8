#!/usr/bin/env bash
# Session 20, call 5 (final): the committed build (decode GEMM weight copies under evict-first, fp16 INT4 high nibbles in
# place) against the session's starting kernels (GC_GEMM_PLAIN=1 GC_INT4_SHIFTS=1: temporary switches whose emitted GEMMs are byte for byte the starting build's), same call: GEMM selftests, then end to end on both 70B specs.
R=$OUT; export OUT=/tmp/w5; rm -rf /tmp/w5
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; cp "$out/log.txt" "$R/"; tar -C "$out" -czf "$R/w5.tgz" .; }

SEED=$RANDOM; echo "seed $SEED"
for spec in tests/fixtures/specs/small-llama-int4-gptq.yaml tests/fixtures/specs/small-llama-int4-awq.yaml tests/fixtures/specs/coverage-bf16.yaml tests/fixtures/specs/small-llama-mixed.yaml tests/fixtures/specs/small-llama-fp8.yaml tests/fixtures/specs/small-llama-w8a8.yaml small-llama; do
  timeout 60 $G selftest "$spec" --kernels gemm --seed $SEED > "$out/selftest-$(basename $spec .yaml).txt" 2>&1; mark "selftest $spec" $?
done
timeout 120 $G selftest llama2-70b --kernels gemm_gptq_g128_sym_k28672_n8192_decode,gemm_e4m3_pc_w8a16_k8192_n10240_decode --seed $SEED > "$out/selftest-llama2-70b.txt" 2>&1; mark "selftest 70b" $?
timeout 60 $G selftest llama2-70b-gptq --kernels gemm_gptq_g128_sym_k8192_n10240_decode --seed $SEED > "$out/selftest-llama2-70b-gptq.txt" 2>&1; mark "selftest 70b-gptq" $?
grep -hE "selftest (passed|FAILED)|FAIL" "$out"/selftest-*.txt
e2e() { local label=$1 bin=$2 spec=$3; timeout 110 $bin bench $spec --synthetic --prompts 128 --batches 1,16,64 --steps 16 --profile > "$out/e2e-$label.txt" 2>&1; mark "e2e $label" $?; }
e2e final $G llama2-70b; GC_GEMM_PLAIN=1 GC_INT4_SHIFTS=1 e2e base $G llama2-70b; e2e final2 $G llama2-70b; GC_GEMM_PLAIN=1 GC_INT4_SHIFTS=1 e2e base2 $G llama2-70b
e2e gptq-final $G llama2-70b-gptq; GC_GEMM_PLAIN=1 GC_INT4_SHIFTS=1 e2e gptq-base $G llama2-70b-gptq; e2e gptq-final2 $G llama2-70b-gptq; GC_GEMM_PLAIN=1 GC_INT4_SHIFTS=1 e2e gptq-base2 $G llama2-70b-gptq
mark done 0
