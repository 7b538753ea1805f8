#!/usr/bin/env bash
# One device call to explore prefill-attention tiles (issue #4, #9): `graphc tune` over the prefill_attention family of
# llama2-70b-gptq (fp16 cache) and llama2-70b (FP8 cache) within BUDGET each, every candidate checked before it is timed;
# then Nsight Compute's speed-of-light, warp-state and memory sections for one launch of the spec's tiles at 4096 tokens.
source "$(dirname "$0")/env.sh"
status=0
export GRAPHC_TUNING_DB="$out/tuning.json"
for spec in ${SPECS:-llama2-70b-gptq llama2-70b}; do
  $G tune "$spec" --families prefill_attention --budget "${BUDGET:-150s}" --force > "$out/tune-$spec.txt" 2>&1 || status=1
  tail -n 12 "$out/tune-$spec.txt"
done
if command -v ncu >/dev/null && [ -n "${NCU:-1}" ]; then
  timeout 240 ncu --clock-control none --kernel-name regex:prefill_attention --launch-skip 2 --launch-count 1 \
    --section SpeedOfLight --section WarpStateStats --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis \
    --section Occupancy --section LaunchStats --section SchedulerStats \
    $G bench llama2-70b-gptq --prefill-points 1x4096 > "$out/ncu-prefill.txt" 2>&1 || echo "ncu: exit $?"
  grep -E "Duration|Throughput|Pipe|Stall|Warp Cycles|Issued|Eligible|Registers|Achieved Occupancy|Bank|Shared" "$out/ncu-prefill.txt" | head -60
fi
exit $status
