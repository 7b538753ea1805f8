#!/usr/bin/env bash
# Decode attention's split count, stages and tile as levers (issue #5): $SPEC (llama2-70b unless set) with sm_90's
# decode_attention splits fixed through a copy of the spec at each of $SPLITS (0: the runtime's choice) and, where
# $STAGES, $BLOCKN or $WARPS is set, its stages, block_n or warps at each of those; timed at $POINTS, one line per point.
source "$(dirname "$0")/env.sh"
spec="${SPEC:-llama2-70b}"
for bn in ${BLOCKN:-keep}; do
for st in ${STAGES:-keep}; do
for wp in ${WARPS:-keep}; do
  for n in ${SPLITS:-0 8 16 33 66}; do
    copy="$out/$spec-bn$bn-st$st-w$wp-splits$n.yaml"
    sed -E "/^  sm_90:/,/^  sm_|^[a-z]/ s/(decode_attention: \{[^}]*splits: )[0-9]+/\1$n/" "specs/$spec.yaml" > "$copy"
    [ "$st" = keep ] || sed -i -E "/^  sm_90:/,/^  sm_|^[a-z]/ s/(decode_attention: \{[^}]*stages: )[0-9]+/\1$st/" "$copy"
    [ "$bn" = keep ] || sed -i -E "/^  sm_90:/,/^  sm_|^[a-z]/ s/(decode_attention: \{[^}]*block_n: )[0-9]+/\1$bn/" "$copy"
    [ "$wp" = keep ] || sed -i -E "/^  sm_90:/,/^  sm_|^[a-z]/ s/(decode_attention: \{[^}]*warps: )[0-9]+/\1$wp/" "$copy"
    echo "== block_n $bn, stages $st, warps $wp, splits $n: $(grep -A20 '^  sm_90:' "$copy" | grep -m1 decode_attention)"
    $G bench "$copy" --attention-points "${POINTS:-1x1024,1x4096,4x2048}" --json 2> "$copy.err" | python3 -c '
import json, sys
for k in json.load(sys.stdin)["kernels"]:
    print("%-45s %8.1f us %7.0f GB/s  %s" % (k["case"], k["median_us"], k["gb_per_s"], "pass" if k.get("check_passed") else "CHECK FAILED"))' || tail -3 "$copy.err"
  done
done
done
done | tee -a "$out/decode-splits-$spec.txt"
