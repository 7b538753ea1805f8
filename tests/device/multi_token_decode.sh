#!/usr/bin/env bash
# One device call for decode steps of several tokens a sequence (issue #5: speculative verification). Every decode-attention
# case of the five attention specs (one-token and verification steps, against the CPU reference); the small model's text
# with and without draft tokens on the GPU backend (the same tokens; logits compared row by row) and on the CPU backend;
# the decode kernel at the issue's points (two rounds), and Llama-2-70B end to end (plain decode and verification steps
# of 2/4/8 tokens a sequence, random weights).
source "$(dirname "$0")/env.sh"
status=0
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"

# ---- Correctness: the kernels, then text ----
: > "$out/selftest-decode.txt"
for spec in small-llama tests/fixtures/specs/small-llama-fp8kv.yaml tests/fixtures/specs/coverage-bf16.yaml llama2-70b llama2-70b-gptq; do
  timeout 150 $G selftest "$spec" --kernels decode_attention --seed "${SEED:-$RANDOM}" >> "$out/selftest-decode.txt" 2>&1 || status=1
done
grep -E "FAIL|step tokens|selftest (passed|FAILED)" "$out/selftest-decode.txt" | head -40

prompt="The Debian project is an association of individuals. The Debian project is an association of individuals who"
for d in 0 4 7; do
  timeout 60 $G generate --model tests/fixtures/small-llama --prompt "$prompt" --max-tokens 64 --draft-tokens $d --backend gpu \
    --logits-out "$out/logits-gpu-d$d.bin" > "$out/generate-gpu-d$d.txt" 2>&1 || status=1
done
timeout 60 $G generate --model tests/fixtures/small-llama --prompt "$prompt" --max-tokens 64 --draft-tokens 4 --backend gpu > "$out/generate-gpu-d4-graphs.txt" 2>&1 || status=1
timeout 60 $G generate --model tests/fixtures/small-llama --prompt "$prompt" --max-tokens 64 --draft-tokens 4 --backend cpu > "$out/generate-cpu-d4.txt" 2>&1 || status=1
for b in gpu cpu; do
  timeout 60 $G generate --model tests/fixtures/small-llama --prompt "Once upon a time" --max-tokens 40 --temperature 0.8 --top-p 0.9 --seed 7 \
    --draft-tokens 3 --backend $b > "$out/sampled-$b-d3.txt" 2>&1 || status=1
done
timeout 60 $G generate --model tests/fixtures/small-llama --prompt "Once upon a time" --max-tokens 40 --temperature 0.8 --top-p 0.9 --seed 7 \
  --backend gpu > "$out/sampled-gpu-d0.txt" 2>&1 || status=1
grep -h "^generated\|^speculative\|tokens/s" "$out"/generate-*.txt "$out"/sampled-*.txt | tee "$out/generate-summary.txt"
python3 - "$out" <<'PY' | tee "$out/logits-compare.txt" || status=1
import sys, json, numpy as np
out = sys.argv[1]
def load(d):
    meta = json.load(open(f"{out}/logits-gpu-d{d}.bin.json"))
    return meta["generated"], np.fromfile(f"{out}/logits-gpu-d{d}.bin", dtype=np.float32).reshape(-1, meta["vocab"])
base_tokens, base = load(0)
for d in (4, 7):
    tokens, logits = load(d)
    n = min(len(base), len(logits))
    rel = np.linalg.norm(logits[:n] - base[:n], axis=1) / np.linalg.norm(base[:n], axis=1)
    print(f"draft {d}: same tokens {tokens == base_tokens} ({len(tokens)} vs {len(base_tokens)}), logits rows {len(logits)} vs {len(base)}, "
          f"relative L2 max {rel.max():.2e} mean {rel.mean():.2e}")
PY

# ---- The kernel at the issue's points, two rounds ----
for round in 1 2; do
  for spec in llama2-70b llama2-70b-gptq; do
    timeout 90 $G bench "$spec" --attention-points "${POINTS:-1x4096,16x2048,64x1024}" > "$out/attention-$spec-new-$round.txt" 2>&1 || status=1
  done
done
grep -h "decode_attention" "$out"/attention-*.txt | head -40

# ---- Llama-2-70B end to end: plain decode and verification steps ----
timeout 200 $G bench llama2-70b --synthetic --prompts 128 --batches 1,8,64 --context 1024 --steps 16 --step-tokens 1,2,4,8 > "$out/model-new.txt" 2>&1 || status=1
cat "$out/model-new.txt" | tail -25
exit $status
