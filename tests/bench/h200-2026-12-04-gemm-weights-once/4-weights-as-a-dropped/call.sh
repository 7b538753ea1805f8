#!/usr/bin/env bash
# Session 20, call 4: few-row INT4 decode with weights as the A operand but the scale per weight as before
# (GC_INT4_SWAP=2, temporary) against the committed form (GC_INT4_SWAP=0); selftests of the variant, end to end on both 70B specs.
R=$OUT; export OUT=/tmp/w4; rm -rf /tmp/w4
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; cp "$out/log.txt" "$R/"; tar -C "$out" -czf "$R/w4.tgz" .; }
SEED=$RANDOM; echo "seed $SEED"
for spec in tests/fixtures/specs/small-llama-int4-gptq.yaml tests/fixtures/specs/small-llama-int4-awq.yaml; do
  GC_INT4_SWAP=2 timeout 60 $G selftest "$spec" --kernels gemm --seed $SEED > "$out/selftest-$(basename $spec .yaml).txt" 2>&1; mark "selftest swap2 $spec" $?
done
grep -hE "selftest (passed|FAILED)|FAIL" "$out"/selftest-*.txt | head -20
e2e() { local label=$1 spec=$2; shift 2; env "$@" timeout 110 $G bench $spec --synthetic --prompts 128 --batches 1,16,64 --steps 16 --profile > "$out/e2e-$label.txt" 2>&1; mark "e2e $label" $?; }
e2e swap2 llama2-70b GC_INT4_SWAP=2
e2e noswap llama2-70b GC_INT4_SWAP=0
e2e swap2-b llama2-70b GC_INT4_SWAP=2
e2e noswap-b llama2-70b GC_INT4_SWAP=0
e2e gptq-swap2 llama2-70b-gptq GC_INT4_SWAP=2
e2e gptq-noswap llama2-70b-gptq GC_INT4_SWAP=0
mark done 0
