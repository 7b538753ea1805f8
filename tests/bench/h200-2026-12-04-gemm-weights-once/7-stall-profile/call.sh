#!/usr/bin/env bash
# Session 20, call 7 (after the KV sizing fix): where a few-row INT4 decode warp stalls (the committed kernels): Nsight Compute on one gate/up and
# one down_proj launch of llama2-70b's decode step at batch 1 (synthetic weights), with its source counters.
R=$OUT; export OUT=/tmp/w6; rm -rf /tmp/w6
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS


timeout 200 ncu --clock-control none --kernel-name regex:'gemm_gptq_g128_sym_k(8192_n57344_decode_swiglu|28672_n8192_decode_residual)$' \
  --launch-skip 4 --launch-count 2 --import-source no \
  --section SpeedOfLight --section Occupancy --section SchedulerStats --section WarpStateStats --section SourceCounters --section InstructionStats --section MemoryWorkloadAnalysis \
  --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,dram__bytes_read.sum.per_second,smsp__inst_executed.sum' \
  $G bench llama2-70b --synthetic --prompts 128 --batches 1 --steps 2 > "$out/ncu-int4-decode.txt" 2>&1; echo "ncu rc $? at $((SECONDS - t0))s"
cp "$out"/*.txt "$R"/
