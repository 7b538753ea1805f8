#!/usr/bin/env bash
# Prefill attention's tiles as levers (issue #4): for each of $TILES ("block_m,block_n,warps,stages[,mma[,q_operand]]"), copies of
# $SPECS whose sm_90 prefill_attention is those tiles; the copies' prefill kernels selftested where $SELFTEST is 1, then
# timed at $POINTS (one line a point; the first spec's table with PyTorch's peers where $PEERS is 1).
source "$(dirname "$0")/env.sh"
exec > >(tee -a "$out/prefill-tiles.txt") 2>&1
status=0

# with_tiles SPEC TILES COPY: SPEC with tiles.sm_90.prefill_attention set (the section added where the spec has none).
with_tiles() {
  local spec=$1 copy=$3 bm bn w st mma qop
  IFS=, read -r bm bn w st mma qop <<< "$2"
  local flow="{ block_m: $bm, block_n: $bn, warps: $w, stages: $st${mma:+, mma: $mma}${qop:+, q_operand: $qop} }"
  local file=$spec; [ -f "$file" ] || file="specs/$spec.yaml"
  if grep -q '^  sm_90:' "$file"; then
    sed -E "/^  sm_90:/,/^  sm_|^[a-z]/ s/(prefill_attention: )\{[^}]*\}/\1$flow/" "$file" > "$copy"
  else
    { cat "$file"; printf '\ntiles:\n  sm_90:\n    prefill_attention: %s\n' "$flow"; } > "$copy"
  fi
}

for tiles in ${TILES:-128,64,8,2,wgmma}; do
  first=1
  for spec in ${SPECS:-llama2-70b-gptq}; do
    copy="$out/$(basename "$spec" .yaml)-${tiles//,/-}.yaml"
    with_tiles "$spec" "$tiles" "$copy"
    echo "== $(basename "$copy"): $(grep -A30 '^  sm_90:' "$copy" | grep -m1 prefill_attention)"
    if [ "${SELFTEST:-0}" = 1 ]; then
      $G selftest "$copy" --kernels prefill_attention --seed "${SEED:-$RANDOM}" > "$copy.selftest.txt" 2>&1 || status=1
      grep -E "FAIL|selftest (passed|FAILED)" "$copy.selftest.txt"
    fi
    [ -n "${POINTS:-}" ] || continue
    if [ "$first" = 1 ] && [ "${PEERS:-0}" = 1 ]; then
      bench_with_peers "prefill-$(basename "$copy" .yaml)" "$copy" --prefill-points "$POINTS" || status=1
    else
      $G bench "$copy" --prefill-points "$POINTS" --json 2> "$copy.err" | python3 -c '
import json, sys
for k in json.load(sys.stdin)["kernels"]:
    print("%-45s %9.1f us %6.0f TFLOP/s  %s" % (k["case"], k["median_us"], k.get("tflops", 0), "pass" if k.get("check_passed") else "CHECK FAILED"))' || { tail -3 "$copy.err"; status=1; }
    fi
    first=0
  done
done
exit $status
