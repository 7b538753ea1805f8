#!/usr/bin/env bash
# The runs issue #10 owes on a host with several GPUs (nvidia-h200-x2 / x4 / x8), one device call: NCCL's all-reduce
# over every GPU; the split against the whole through NCCL (small model and its GPTQ/AWQ/FP8 checkpoints, tp 2: same
# greedy tokens, logits per step); then the scaling table — Llama-2-70B in the mixed recipe and in fp16 over 2, 4 and 8
# GPUs (as many as the host has), each rank with tiles tuned for its shapes, prefill and decode at batch 1 and 64, each
# figure beside one GPU (where the model fits one) and the per-GPU bandwidth bound. Outputs under $out: allreduce.txt,
# tp.txt, scale-SPEC-tpN.txt, tune-SPEC-tpN.txt, tuning.json. A call has 10 minutes: split the work with TP_SIZES, NAMES,
# SKIP_PARITY=1 and SKIP_TP1=1 (e.g. first call: TP_SIZES=2; second: TP_SIZES="4 8" SKIP_PARITY=1 SKIP_TP1=1).
source "$(dirname "$0")/env.sh"
status=0
export GRAPHC_NCCL_PATH="${GRAPHC_NCCL_PATH:-$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib", "libnccl.so.2"))' 2>/dev/null)}"
export GRAPHC_TUNING_DB="$out/tuning.json"
gpus=$(nvidia-smi -L | wc -l)
echo "NCCL: $GRAPHC_NCCL_PATH; $gpus GPU(s)" | tee "$out/tp.txt"
timeout 120 $G allreduce --sizes 16KiB,1MiB,64MiB > "$out/allreduce.txt" 2>&1 || status=1
cat "$out/allreduce.txt"

M=tests/fixtures
parity() {  # parity LABEL ARGS…: the whole on one GPU against tp 2 through NCCL
  local label=$1; shift
  for tp in 1 2; do
    timeout 300 $G generate --prompt "The Debian project" --max-tokens 32 --backend gpu --tp $tp --logits-out "$out/logits-$label-tp$tp.bin" "$@" \
      > "$out/gen-$label-tp$tp.txt" 2>&1 || { status=1; cat "$out/gen-$label-tp$tp.txt"; }
  done
  python3 - "$out/logits-$label-tp1.bin" "$out/logits-$label-tp2.bin" <<'PY' | tee -a "$out/tp.txt" || status=1
import json, sys, numpy as np
a, b = sys.argv[1], sys.argv[2]
ta, tb = json.load(open(a + ".json")), json.load(open(b + ".json"))
vocab = ta["vocab"]; la, lb = np.fromfile(a, np.float32), np.fromfile(b, np.float32)
n = min(la.size, lb.size) // vocab * vocab; la, lb = la[:n].reshape(-1, vocab), lb[:n].reshape(-1, vocab)
rel = np.linalg.norm(la - lb, axis=1) / np.linalg.norm(la, axis=1)
same = ta["generated"] == tb["generated"]
print(f"{a.split('logits-')[1]} vs {b.split('logits-')[1]} ({tb['backend'][:60]}): tokens {'same' if same else 'DIFFER'}, logits rel L2 max {rel.max():.2e} mean {rel.mean():.2e} over {len(rel)} steps")
sys.exit(0 if same and rel.max() < 2e-2 else 1)
PY
}
[ "$gpus" -ge 2 ] && [ -z "${SKIP_PARITY:-}" ] && {
  parity fp16 --model $M/small-llama
  parity gptq --model $M/small-llama-gptq --spec $M/specs/small-llama-int4-gptq.yaml
  parity awq --model $M/small-llama-awq --spec $M/specs/small-llama-int4-awq.yaml
  parity fp8 --model $M/small-llama-fp8 --spec $M/specs/small-llama-fp8.yaml
}

python3 tests/device/fp16_spec.py /tmp/llama2-70b-fp16.yaml
[ -z "${SKIP_TP1:-}" ] && {   # one GPU, the mixed recipe (fp16 does not fit one)
  timeout 200 $G bench llama2-70b --synthetic --prompts 1024,4096 --batches 1,64 --steps 16 > "$out/scale-llama2-70b-tp1.txt" 2>&1 || status=1
  grep -E "^│ (prefill|decode) " "$out/scale-llama2-70b-tp1.txt" | sed 's/^/tp1 /'
}
for tp in ${TP_SIZES:-2 4 8}; do   # a call has 10 minutes: TP_SIZES=8 SKIP_PARITY=1 for a later call
  [ "$tp" -le "$gpus" ] || continue
  for name in ${NAMES:-llama2-70b fp16}; do
    if [ $name = fp16 ]; then spec=/tmp/llama2-70b-fp16.yaml families=gemm_dense_decode,gemm_dense_decode_batch
    else spec=$name families=gemm_int4_decode,gemm_int4_decode_batch,gemm_fp8_decode,gemm_fp8_decode_batch; fi
    timeout 240 $G tune $spec --tp $tp --shapes decode --budget 3m --families $families > "$out/tune-$name-tp$tp.txt" 2>&1 || status=1
    timeout 300 $G bench $spec --synthetic --tp $tp --prompts 1024,4096 --batches 1,64 --steps 16 > "$out/scale-$name-tp$tp.txt" 2>&1 || status=1
    grep -E "^│ (prefill|decode) " "$out/scale-$name-tp$tp.txt" | sed "s/^/$name tp$tp /"
  done
done
exit $status
