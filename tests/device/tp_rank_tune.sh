#!/usr/bin/env bash
# One GPU's share of Llama-2-70B split over N GPUs (issue #10) with tiles tuned for its shapes: graphc tune --tp N on
# the decode GEMM families, then bench --one-rank with the tuned tiles (and a decode profile at N = 8). Each of
# RANK_RUNS is SPEC:N, SPEC llama2-70b (the mixed recipe) or fp16 (tests/device/fp16_spec.py). Outputs under $out:
# tune-SPEC-tpN.txt, tuned-rank-SPEC-tpN.txt, tuning.json.
source "$(dirname "$0")/env.sh"
status=0
export GRAPHC_TUNING_DB="$out/tuning.json"
python3 tests/device/fp16_spec.py /tmp/llama2-70b-fp16.yaml
for run in ${RANK_RUNS:-llama2-70b:8}; do
  name=${run%:*} tp=${run#*:}
  if [ "$name" = fp16 ]; then spec=/tmp/llama2-70b-fp16.yaml families=gemm_dense_decode,gemm_dense_decode_batch
  else spec=$name families=gemm_int4_decode,gemm_int4_decode_batch,gemm_fp8_decode,gemm_fp8_decode_batch; fi
  timeout "${TUNE_TIMEOUT:-240}" $G tune $spec --tp $tp --shapes decode --budget "${TUNE_BUDGET:-3m}" --families $families \
    > "$out/tune-$name-tp$tp.txt" 2>&1 || status=1
  grep -E "×" "$out/tune-$name-tp$tp.txt"
  profile=$([ "$tp" = 8 ] && echo --profile)
  timeout 200 $G bench $spec --synthetic --tp $tp --one-rank --prompts 1024 --batches 1,64 --steps 16 $profile > "$out/tuned-rank-$name-tp$tp.txt" 2>&1 || status=1
  grep -E "one rank|^│ (prefill|decode) " "$out/tuned-rank-$name-tp$tp.txt"
done
exit $status
