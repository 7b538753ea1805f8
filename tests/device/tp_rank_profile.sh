#!/usr/bin/env bash
# Where one GPU's share of a split Llama-2-70B spends a decode step (issue #10): rank 0 of 8 alone (bench --one-rank),
# one step launched kernel by kernel, and the spec's GEMM schemes at a rank's shapes (q/k/v N 1280, o_proj K 1024,
# gate/up N 7168, down_proj K 3584) at 1 and 64 rows. Outputs under $out: rank-profile.txt, rank-gemms.txt.
source "$(dirname "$0")/env.sh"
status=0
timeout 200 $G bench llama2-70b --synthetic --tp 8 --one-rank --prompts 1024 --batches 1,64 --steps 16 --profile > "$out/rank-profile.txt" 2>&1 || status=1
cat "$out/rank-profile.txt"
timeout 200 $G bench llama2-70b --gemm-shapes 8192x1280,1024x8192,8192x7168,3584x8192 --rows 1,64 > "$out/rank-gemms.txt" 2>&1 || status=1
cat "$out/rank-gemms.txt"
exit $status
