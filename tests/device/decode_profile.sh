#!/usr/bin/env bash
# Nsight Compute on decode-attention launches (issue #5): one launch at each of $POINTS (batch x context) of $SPEC
# (llama2-70b, FP8 cache, unless set): duration, DRAM throughput, occupancy and the stall reasons per issued instruction,
# to see whether a point is bound by bytes, by latency or by its CTAs' fixed work. SOURCE=1: also the SASS with warp-state
# samples per instruction at each point (env.sh's ncu_source, KERNEL the name regex: decode_attention unless set), as
# decode-SPEC-POINT-sass.txt; its address-order list shows the prologue's phases.
source "$(dirname "$0")/env.sh"
spec="${SPEC:-llama2-70b}"
for point in ${POINTS:-1x4096 64x1024}; do
  file="$out/ncu-decode-$spec-$point.txt"
  timeout 180 ncu --clock-control none --kernel-name regex:decode_attention --launch-skip 3 --launch-count 1 \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section MemoryWorkloadAnalysis \
    --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio,dram__bytes_read.sum,l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum,smsp__warps_eligible.avg.per_cycle_active' \
    $G bench "$spec" --attention-points "$point" > "$file" 2>&1 || echo "ncu $point: exit $?"
  echo "== $point"
  grep -E "stalled|Throughput|Eligible|Occupancy|bank_conflicts|Duration|dram__bytes|Registers|Grid Size|Waves" "$file" | awk '$NF+0 > 0.05 || !/stalled/' | head -40
  label="decode-$(basename "$spec" .yaml)-$point"
  if [ "${SOURCE:-0}" = 1 ]; then ncu_source "$label" "${KERNEL:-decode_attention}" $G bench "$spec" --attention-points "$point" && head -16 "$out/$label-sass.txt"; fi
done
