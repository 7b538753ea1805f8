#!/usr/bin/env bash
# Tensor parallelism on one GPU (issue #10), one device call: NCCL's all-reduce checked and timed through graphc's own
# bindings (one rank here), then the split model against the whole on the GPU backend — the small model and its GPTQ,
# AWQ and FP8 checkpoints over 2 ranks with the exchange staged through host memory (NCCL cannot put two ranks on one
# GPU), greedy tokens and every step's logits compared; then one GPU's share of Llama-2-70B (fp16 and the mixed recipe)
# split over 2, 4 and 8 GPUs timed alone (bench --one-rank: the compute part of the scaling table, no exchange).
# Outputs under $out: allreduce.txt, tp.txt, gen-*.txt, rank-*.txt.
source "$(dirname "$0")/env.sh"
status=0
# PyTorch's wheel carries NCCL (nvidia-nccl-cu*): graphc finds it by GRAPHC_NCCL_PATH.
export GRAPHC_NCCL_PATH="${GRAPHC_NCCL_PATH:-$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib", "libnccl.so.2"))' 2>/dev/null)}"
echo "NCCL: $GRAPHC_NCCL_PATH" | tee "$out/tp.txt"
timeout 120 $G allreduce --sizes 16KiB,1MiB,64MiB > "$out/allreduce.txt" 2>&1 || status=1
cat "$out/allreduce.txt"

run() {  # run LABEL ARGS…: greedy text and logits of one configuration
  local label=$1; shift
  timeout 300 $G generate --prompt "The Debian project" --max-tokens 32 --logits-out "$out/logits-$label.bin" "$@" > "$out/gen-$label.txt" 2>&1 || { status=1; cat "$out/gen-$label.txt"; }
  grep -E "^generated|tensor parallel" "$out/gen-$label.txt" | tee -a "$out/tp.txt"
}
compare() {  # compare A B: same tokens, logits' relative L2 per step
  python3 - "$out/logits-$1.bin" "$out/logits-$2.bin" <<'PY' | tee -a "$out/tp.txt" || status=1
import json, sys, numpy as np
a, b = sys.argv[1], sys.argv[2]
ta, tb = json.load(open(a + ".json")), json.load(open(b + ".json"))
la, lb = np.fromfile(a, np.float32), np.fromfile(b, np.float32)
vocab = ta["vocab"]; n = min(la.size, lb.size) // vocab * vocab
la, lb = la[:n].reshape(-1, vocab), lb[:n].reshape(-1, vocab)
rel = np.linalg.norm(la - lb, axis=1) / np.linalg.norm(la, axis=1)
same = ta["generated"] == tb["generated"]
print(f"{a.split('logits-')[1]} vs {b.split('logits-')[1]}: tokens {'same' if same else 'DIFFER'}, logits rel L2 max {rel.max():.2e} mean {rel.mean():.2e} over {len(rel)} steps")
sys.exit(0 if same and rel.max() < 2e-2 else 1)
PY
}
M=tests/fixtures
run gpu-tp1 --model $M/small-llama --backend gpu
run gpu-tp2 --model $M/small-llama --backend gpu --tp 2 --tp-staged
run cpu-tp2 --model $M/small-llama --backend cpu --tp 2
compare gpu-tp1 gpu-tp2; compare gpu-tp1 cpu-tp2
for f in gptq awq fp8; do
  spec=$M/specs/small-llama-$( [ $f = fp8 ] && echo fp8 || echo int4-$f ).yaml
  run $f-tp1 --model $M/small-llama-$f --spec $spec --backend gpu
  run $f-tp2 --model $M/small-llama-$f --spec $spec --backend gpu --tp 2 --tp-staged
  compare $f-tp1 $f-tp2
done
# A split the machine cannot hold: the message names the GPUs there are.
$G generate --model $M/small-llama --prompt x --backend gpu --tp 2 >> "$out/tp.txt" 2>&1; echo "exit $? (expected 3)" >> "$out/tp.txt"
tail -3 "$out/tp.txt"

# Llama-2-70B in fp16: the shipped spec without its quantization overrides, fp16 KV.
python3 tests/device/fp16_spec.py /tmp/llama2-70b-fp16.yaml
for spec in /tmp/llama2-70b-fp16.yaml llama2-70b; do
  for tp in ${TP_SIZES:-2 4 8}; do
    f="$out/rank-$(basename $spec .yaml)-tp$tp.txt"
    timeout "${RANK_TIMEOUT:-150}" $G bench $spec --synthetic --tp $tp --one-rank --prompts 4096 --batches 1,64 --steps 16 > "$f" 2>&1 || status=1
    grep -E "one rank|^│ (prefill|decode)" "$f"
  done
done
exit $status
