#!/usr/bin/env bash
# One device call for paged decode attention (issue #5): the issue's points (batch 1 at context 4096, 16 at 2048, 64 at
# 1024) with Llama-2-70B heads, FP8 cache (llama2-70b) and fp16 cache (llama2-70b-gptq), each case checked against the
# CPU reference, then SDPA on a contiguous fp16 cache at the same points.
source "$(dirname "$0")/env.sh"
status=0
for spec in llama2-70b llama2-70b-gptq; do
  bench_with_peers "attention-$spec" "$spec" --attention-points "${POINTS:-1x4096,16x2048,64x1024}" || status=1
done
exit $status
