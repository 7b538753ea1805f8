#!/usr/bin/env bash
# Where the decode GEMMs lose bandwidth (issue #8's speed): Nsight Compute on one launch of each weight scheme's decode
# kernel at the gate/up shape (K 8192, N 57344) and M = 1 — speed of light, occupancy, stall reasons. SPEC (default: the built-in llama2-70b) sets the tiles, KERNEL the profiled kernel's name regex
# (default: the INT4 GPTQ decode GEMM). Outputs under $out. SOURCE=1: also the SASS with warp-state samples per instruction
# (env.sh's ncu_source), as gemm-decode-sass.txt.
source "$(dirname "$0")/env.sh"
spec="${SPEC:-llama2-70b}"
timeout 200 ncu --clock-control none --kernel-name regex:"${KERNEL:-gemm_gptq.*decode}" --launch-skip 2 --launch-count 1 \
  --section SpeedOfLight --section Occupancy --section SchedulerStats --section WarpStateStats --section MemoryWorkloadAnalysis --section LaunchStats \
  --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,dram__bytes_read.sum.per_second' \
  $G bench "$spec" --gemm-shapes 8192x57344 --rows 1 > "$out/ncu-gemm-decode.txt" 2>&1 || echo "ncu: exit $?"
grep -E "gemm_|stalled|Throughput|Eligible|Occupancy|hmma|Duration|dram__bytes|Registers|Shared Memory Config|Block Limit" "$out/ncu-gemm-decode.txt" | awk '$NF+0 > 0.05 || !/stalled/' | head -80
if [ "${SOURCE:-0}" = 1 ]; then ncu_source gemm-decode "${KERNEL:-gemm_gptq.*decode}" $G bench "$spec" --gemm-shapes 8192x57344 --rows 1 && head -30 "$out/gemm-decode-sass.txt"; fi
# ROWS=1: also the decode tiles against the prefill tiles at 32 and 64 rows (a copy of the spec with max_num_seqs 16).
if [ -n "${ROWS:-}" ]; then
  sed 's/max_num_seqs: *[0-9]*/max_num_seqs: 16/' specs/llama2-70b.yaml > /tmp/few-seqs.yaml
  for s in specs/llama2-70b.yaml /tmp/few-seqs.yaml; do
    timeout 150 $G bench "$s" --gemm-shapes 8192x57344,28672x8192,8192x10240,8192x8192 --rows 16,32,64
  done > "$out/gemm-rows-32-64.txt" 2>&1
fi
