#!/usr/bin/env bash
# Session 20, call 3: few-row INT4 decode GEMMs with weights as the MMA's A operand and the group scale on the fp32 sums
# (GC_INT4_SWAP=0 switches back, temporary), with evict-first weight copies (GC_GEMM_PLAIN=1 switches off). Selftests
# first, then end to end on both 70B specs; every output in one log and one tarball.
R=$OUT; export OUT=/tmp/w3; rm -rf /tmp/w3
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; cp "$out/log.txt" "$R/"; tar -C "$out" -czf "$R/w3.tgz" .; }
SEED=$RANDOM; echo "seed $SEED"
for spec in tests/fixtures/specs/small-llama-int4-gptq.yaml tests/fixtures/specs/small-llama-int4-awq.yaml tests/fixtures/specs/coverage-bf16.yaml tests/fixtures/specs/small-llama-mixed.yaml; do
  timeout 60 $G selftest "$spec" --kernels gemm --seed $SEED > "$out/selftest-$(basename $spec .yaml).txt" 2>&1; mark "selftest $spec" $?
done
grep -hE "selftest (passed|FAILED)|FAIL" "$out"/selftest-*.txt | head -20
e2e() { local label=$1 spec=$2; shift 2; env "$@" timeout 110 $G bench $spec --synthetic --prompts 128 --batches 1,16,64 --steps 16 --profile > "$out/e2e-$label.txt" 2>&1; mark "e2e $label" $?; }
e2e new llama2-70b X=0
e2e noswap llama2-70b GC_INT4_SWAP=0
e2e new2 llama2-70b X=0
e2e noswap2 llama2-70b GC_INT4_SWAP=0
e2e old llama2-70b GC_INT4_SWAP=0 GC_GEMM_PLAIN=1
e2e gptq-new llama2-70b-gptq X=0
e2e gptq-noswap llama2-70b-gptq GC_INT4_SWAP=0
e2e gptq-old llama2-70b-gptq GC_INT4_SWAP=0 GC_GEMM_PLAIN=1
for f in "$out"/e2e-*.txt; do echo "== $f"; grep -E "^│ decode  |^│ prefill|gemm_" "$f" | head -30; done
timeout 150 $G selftest llama2-70b --kernels gemm_gptq_g128_sym_k28672_n8192_decode,gemm_gptq_g128_sym_k8192_n57344_decode --seed $SEED > "$out/selftest-70b.txt" 2>&1; mark "selftest 70b" $?
grep -hE "selftest (passed|FAILED)|FAIL|gemm" "$out/selftest-70b.txt" | head -20
mark done 0
