#!/usr/bin/env bash
# The GPU sampler (issue #8), one device call: its selftest against the host Sampler (specs with vocabularies of 4096
# and 32000, fp16 and bf16), then generation with the sampler on the GPU against the CPU backend's host sampler for
# greedy, top-p and every cut and penalty at once (the same seed must give the same text: one line counted twice),
# then decode tokens/s of Llama-2-70B greedy and sampled (BENCH=0 skips it). Outputs under $out.
source "$(dirname "$0")/env.sh"
status=0
: > "$out/selftest-sampling.txt"
for spec in small-llama llama2-70b tests/fixtures/specs/coverage-bf16.yaml; do
  $G selftest "$spec" --kernels sample --seed "${SEED:-$RANDOM}" >> "$out/selftest-sampling.txt" 2>&1 || status=1
done
grep -E "sample|selftest (passed|FAILED)|seed" "$out/selftest-sampling.txt"

: > "$out/generate-sampling.txt"
i=0
for args in "" "--temperature 0.8 --top-p 0.9 --seed 7" \
            "--temperature 1.1 --top-k 40 --top-p 0.95 --min-p 0.02 --repetition-penalty 1.3 --frequency-penalty 0.4 --presence-penalty 0.2 --seed 11"; do
  i=$((i + 1))
  for backend in gpu cpu; do
    $G generate --model tests/fixtures/small-llama --prompt "Once upon a time" --max-tokens 64 $args --backend $backend \
      > "$out/sampling-$i-$backend.txt" 2>&1 || status=1
  done
  echo "== $args" >> "$out/generate-sampling.txt"
  cat "$out/sampling-$i-gpu.txt" >> "$out/generate-sampling.txt"
  grep -h "^generated" "$out/sampling-$i-gpu.txt" "$out/sampling-$i-cpu.txt" | uniq -c >> "$out/generate-sampling.txt"
done
cat "$out/generate-sampling.txt"

if [ "${BENCH:-1}" != 0 ]; then
  $G bench specs/llama2-70b.yaml --synthetic --prompts 1024 --batches 1,8,64 > "$out/bench-sampling.txt" 2>&1 || status=1
  cat "$out/bench-sampling.txt"
fi
exit $status
