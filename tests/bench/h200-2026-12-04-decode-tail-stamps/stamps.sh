#!/usr/bin/env bash
# Per-CTA stamps of the decode kernels (issue #5), with stamps-instrumentation.patch applied to the build graphc was
# published from: for each of $POINTS (16x2048 unless set) and both 70B specs, one bench run under GC_STAMPS=1 whose
# printed stamps land in $out/raw-SPEC-POINT.txt, summarized by stamps.py (STAMPS_PY: the summary that matches the
# patch applied, this folder's unless set) into $out/stamps.txt; then, with PROFILE=1, one FP8 16 × 2048 launch of the
# wide twin under Nsight Compute at the finest warp sampling (env.sh's ncu_source, WARP_SAMPLING=0):
# $out/fp8-16x2048-sass.txt. mark LABEL RC where the caller defines it.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../../device/env.sh"
type mark > /dev/null 2>&1 || mark() { echo "$1 rc $2"; }
for spec in llama2-70b llama2-70b-gptq; do
  for p in ${POINTS:-16x2048}; do
    GC_STAMPS=1 $G bench $spec --attention-points $p > "$out/raw-$spec-$p.txt" 2>&1; mark "stamps $spec $p" $?
    { echo "== $spec $p"; grep -E "^│ decode" "$out/raw-$spec-$p.txt" | head -2; python3 "${STAMPS_PY:-$here/stamps.py}" "$out/raw-$spec-$p.txt"; } >> "$out/stamps.txt"
  done
done
cat "$out/stamps.txt"
if [ "${PROFILE:-0}" = 1 ]; then
  WARP_SAMPLING=0 ncu_source fp8-16x2048 rope_wide $G bench llama2-70b --attention-points 16x2048; mark ncu $?
fi
