#!/usr/bin/env bash
# One device call for paged decode attention (issue #5): the issue's points (batch 1 at context 4096, 16 at 2048, 64 at
# 1024) with Llama-2-70B heads, FP8 cache (llama2-70b) and fp16 cache (llama2-70b-gptq), each case checked against the
# CPU reference, then SDPA on a contiguous fp16 cache at the same points.
source "$(dirname "$0")/env.sh"
status=0
points="${POINTS:-1x4096,16x2048,64x1024}"
for spec in llama2-70b llama2-70b-gptq; do
  $G bench "$spec" --attention-points "$points" --json > "$out/attention-$spec.json" 2> "$out/attention-$spec-err.txt" || status=1
  python3 tests/reference/peer_bench.py "$out/attention-$spec.json" > "$out/peer-attention-$spec.json" 2>> "$out/attention-$spec-err.txt" || status=1
  python3 tests/reference/bench_table.py "$out/attention-$spec.json" "$out/peer-attention-$spec.json" | tee "$out/attention-$spec.md" || status=1
done
exit $status
