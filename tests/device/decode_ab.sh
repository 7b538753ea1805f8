#!/usr/bin/env bash
# A same-call A/B of a temporary variant of the decode-attention kernels (issue #5), one device call: SWITCH is the
# environment assignment the emitters read for it (e.g. SWITCH=GC_TAIL=old). First the checks (decode_checks.sh: every
# decode selftest at one random seed, the small model's greedy text with and without a wide twin and draft tokens); then
# both 70B specs at POINTS (issue #5's three and 8, 32 × 2048 unless set), switch on and off alternately, ROUNDS times
# (2), one line a kernel in $out/ab.txt (env.sh's ab_lines; labels on-R / off-R, fp16on-R / fp16off-R for
# llama2-70b-gptq). mark LABEL RC, where the caller defines it (a call script that packs $out as it goes), after each
# step.
: "${SWITCH:?name the switch of the variant, e.g. SWITCH=GC_TAIL=old}"
source "$(dirname "${BASH_SOURCE[0]}")/decode_checks.sh"
points=${POINTS:-1x4096,8x2048,16x2048,32x2048,64x1024}
name=${SWITCH%%=*}
for r in $(seq "${ROUNDS:-2}"); do
  for spec in llama2-70b llama2-70b-gptq; do
    prefix=$([ "$spec" = llama2-70b ] || echo fp16)
    export "$name=${SWITCH#*=}"; ab_lines "${prefix}on-$r" "$spec" --attention-points "$points"
    unset "$name"; ab_lines "${prefix}off-$r" "$spec" --attention-points "$points"
  done
  mark "ab $r" $?
done
