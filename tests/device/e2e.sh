#!/usr/bin/env bash
# End-to-end generation on the GPU (issue #8), one device call: text from the small model on the GPU backend (streamed),
# then tests/reference/parity.py (GPU and CPU backends against transformers, the small model and 2 random layers of
# Llama-2-70B's shapes). Outputs under $out: generate.txt (with the sampled, stop-string run on both backends: one
# line counted twice when they agree), parity.txt, parity.json.
source "$(dirname "$0")/env.sh"
status=0
$G generate --model tests/fixtures/small-llama --prompt "The Debian project" --max-tokens 48 --stream --backend gpu > "$out/generate.txt" 2>&1 || status=1
$G generate --model tests/fixtures/small-llama --prompt "The Debian project" --max-tokens 48 --backend gpu --no-cuda-graphs >> "$out/generate.txt" 2>&1 || status=1
# Sampling and stop strings give the same text on both backends (the sampler runs on the host over either's logits).
for backend in gpu cpu; do
  $G generate --model tests/fixtures/small-llama --prompt "Once upon a time" --max-tokens 40 --temperature 0.8 --top-p 0.9 --seed 7 \
    --stop "." --backend $backend > "$out/sampled-$backend.txt" 2>&1 || status=1
done
grep -h "^generated" "$out/sampled-gpu.txt" "$out/sampled-cpu.txt" | uniq -c >> "$out/generate.txt"
cat "$out/generate.txt"
python3 tests/reference/parity.py "$G" "$out/parity" ${PARITY_ARGS:-} > "$out/parity.txt" 2>&1 || status=1
cat "$out/parity.txt" | tail -30
exit $status
