#!/usr/bin/env bash
# Nsight Compute on one prefill-attention launch (llama2-70b-gptq, 4096 tokens): speed of light, occupancy, and the
# average stall reasons per issued instruction, to see what holds the tensor pipe back.
source "$(dirname "$0")/env.sh"
launch=(ncu --clock-control none --kernel-name regex:prefill_attention --launch-skip 2 --launch-count 1)
bench=($G bench "${SPEC:-llama2-70b-gptq}" --prefill-points "${POINTS:-1x4096}")
timeout 240 "${launch[@]}" --section SpeedOfLight --section Occupancy --section SchedulerStats \
  --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,sm__inst_executed_pipe_lsu.avg.pct_of_peak_sustained_active,l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum' \
  "${bench[@]}" > "$out/ncu-prefill.txt" 2>&1 || echo "ncu: exit $?"
grep -E "stalled|Throughput|Eligible|Occupancy|hmma|pipe_lsu|bank_conflicts|Duration" "$out/ncu-prefill.txt" | awk '$NF+0 > 0.05 || !/stalled/' | head -50
# SOURCE=1: also the SASS with warp-state samples per instruction (env.sh's ncu_source), as prefill-sass.txt.
if [ "${SOURCE:-0}" = 1 ]; then ncu_source prefill prefill_attention "${bench[@]}" && head -30 "$out/prefill-sass.txt"; fi
