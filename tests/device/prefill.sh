#!/usr/bin/env bash
# One device call for FlashAttention-2 prefill (issue #4): whole prompts of 1024 to 8192 tokens (POINTS, BATCHxTOKENS)
# with Llama-2-70B heads, FP8 cache (llama2-70b) and fp16 cache (llama2-70b-gptq), each case checked against the CPU
# reference (sampled rows), then causal SDPA (flash and cuDNN backends) at the same shapes and the bf16 matmul rate.
source "$(dirname "$0")/env.sh"
status=0
for spec in llama2-70b llama2-70b-gptq; do
  bench_with_peers "prefill-$spec" "$spec" --prefill-points "${POINTS:-1x1024,1x2048,1x4096,1x8192}" || status=1
done
exit $status
