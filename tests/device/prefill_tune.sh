#!/usr/bin/env bash
# One device call to explore prefill-attention tiles (issue #4, #9): `graphc tune` over the prefill_attention family of
# llama2-70b-gptq (fp16 cache) and llama2-70b (FP8 cache) within BUDGET each, every candidate checked before it is timed.
source "$(dirname "$0")/env.sh"
status=0
export GRAPHC_TUNING_DB="$out/tuning.json"
for spec in ${SPECS:-llama2-70b-gptq llama2-70b}; do
  $G tune "$spec" --families prefill_attention --budget "${BUDGET:-150s}" --force > "$out/tune-$spec.txt" 2>&1 || status=1
  tail -n 12 "$out/tune-$spec.txt"
done
exit $status
