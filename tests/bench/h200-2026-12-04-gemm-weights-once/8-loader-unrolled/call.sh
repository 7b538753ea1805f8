#!/usr/bin/env bash
# Session 20, call 9: the weight copies' addresses unrolled on one base (GC_LOADER_LOOP=1, temporary, switches back to
# the general loop): GEMM selftests, then end to end on both 70B specs, alternating.
R=$OUT; export OUT=/tmp/w9; rm -rf /tmp/w9
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; cp "$out/log.txt" "$R/"; tar -C "$out" -czf "$R/w9.tgz" .; }
SEED=$RANDOM; echo "seed $SEED"
for spec in tests/fixtures/specs/small-llama-int4-gptq.yaml tests/fixtures/specs/small-llama-int4-awq.yaml tests/fixtures/specs/small-llama-fp8.yaml tests/fixtures/specs/coverage-bf16.yaml small-llama; do
  timeout 40 $G selftest "$spec" --kernels gemm --seed $SEED > "$out/selftest-$(basename $spec .yaml).txt" 2>&1; mark "selftest $spec" $?
done
grep -hE "selftest (passed|FAILED)|FAIL" "$out"/selftest-*.txt | head
e2e() { local label=$1 spec=$2; shift 2; env "$@" timeout 40 $G bench $spec --synthetic --prompts 128 --batches 1,16,64 --steps 16 --profile > "$out/e2e-$label.txt" 2>&1; mark "e2e $label" $?; }
e2e new llama2-70b X=0; e2e loop llama2-70b GC_LOADER_LOOP=1; e2e new2 llama2-70b X=0; e2e loop2 llama2-70b GC_LOADER_LOOP=1
e2e gptq-new llama2-70b-gptq X=0; e2e gptq-loop llama2-70b-gptq GC_LOADER_LOOP=1
grep -h "^│ decode  " "$out"/e2e-*.txt
mark done 0
