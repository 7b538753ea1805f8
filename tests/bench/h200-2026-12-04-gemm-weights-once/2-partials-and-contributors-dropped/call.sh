#!/usr/bin/env bash
# Session 20, call 2: stream-K partials for the rows that exist (on; GC_PARTIAL_ALLROWS=1 switches back), more CTAs a tile
# (GC_CONTRIB=N: contributors a tile at most, 8 committed), INT4 decode block_n 256; llama2-70b end to end, then
# llama2-70b-gptq new against old; GEMM selftests with the guard and 16 contributors.
R=$OUT; export OUT=/tmp/w2; rm -rf /tmp/w2
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; cp "$out"/*.txt "$R"/ 2>/dev/null; }
SEED=$RANDOM; echo "seed $SEED"
sed -E "/^  sm_90:/,/^[a-z]/ s/(gemm_int4_decode: \{ block_m: 16, block_n: )512/\1256/" specs/llama2-70b.yaml > "$out/bn256.yaml"
grep -A14 "^  sm_90:" "$out/bn256.yaml" | grep int4_decode
e2e() { local label=$1 spec=$2; shift 2; env "$@" timeout 110 $G bench $spec --synthetic --prompts 128 --batches 1,16,64 --steps 16 --profile > "$out/e2e-$label.txt" 2>&1; mark "e2e $label" $?; }
e2e cur llama2-70b X=0
e2e allrows llama2-70b GC_PARTIAL_ALLROWS=1
e2e c16 llama2-70b GC_CONTRIB=16
e2e c16-allrows llama2-70b GC_CONTRIB=16 GC_PARTIAL_ALLROWS=1
e2e c32 llama2-70b GC_CONTRIB=32
e2e bn256 "$out/bn256.yaml" X=0
e2e bn256-c16 "$out/bn256.yaml" GC_CONTRIB=16
e2e cur2 llama2-70b X=0
e2e c16-2 llama2-70b GC_CONTRIB=16
e2e gptq-new llama2-70b-gptq X=0
e2e gptq-old llama2-70b-gptq GC_GEMM_PLAIN=1 GC_INT4_SHIFTS=1 GC_PARTIAL_ALLROWS=1
e2e gptq-new2 llama2-70b-gptq X=0
e2e gptq-old2 llama2-70b-gptq GC_GEMM_PLAIN=1 GC_INT4_SHIFTS=1 GC_PARTIAL_ALLROWS=1
for c in 8 16; do
  for spec in tests/fixtures/specs/small-llama-int4-gptq.yaml tests/fixtures/specs/small-llama-int4-awq.yaml tests/fixtures/specs/coverage-bf16.yaml tests/fixtures/specs/small-llama-fp8.yaml small-llama; do
    GC_CONTRIB=$c timeout 60 $G selftest "$spec" --kernels gemm --seed $SEED >> "$out/selftest-c$c.txt" 2>&1; mark "selftest c$c $spec" $?
  done
done
grep -E "selftest (passed|FAILED)|FAIL" "$out"/selftest-c*.txt | head -20
mark done 0
