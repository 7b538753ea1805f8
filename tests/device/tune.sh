#!/usr/bin/env bash
# Issue #9 on the device: graphc tune over a spec's kernel families ($SPEC, llama2-70b unless set) within a budget,
# --write-spec into a copy of the spec, and the end-to-end model bench with the spec's tiles and with the tuned ones (the
# runtime reading the tuning database), each with a per-kernel profile of one decode step. Steps as arguments, in order:
#   before  graphc bench --synthetic --tiles spec --profile   -> bench-spec-tiles.txt
#   tune    graphc tune SPEC --write-spec --budget $TUNE_BUDGET [--families $TUNE_FAMILIES] -> tune-SPEC.txt, tuning.json, SPEC.yaml
#   after   graphc bench --synthetic --tiles auto --profile   -> bench-tuned-tiles.txt
# The database lives in /tmp while the machine stays warm; a fresh machine takes .device/tuning.json (a carried copy).
source "$(dirname "$0")/env.sh"
export GRAPHC_TUNING_DB=/tmp/graphc-tuning.json
[ -f "$GRAPHC_TUNING_DB" ] || [ ! -f .device/tuning.json ] || cp .device/tuning.json "$GRAPHC_TUNING_DB"
bench="${BENCH_ARGS:---prompts 1024,4096 --batches 1,8,32,64}"
spec="${SPEC:-llama2-70b}"
status=0
for step in "$@"; do
  case $step in
    before) timeout "${BENCH_TIMEOUT:-150}" $G bench "$spec" --synthetic --tiles spec --profile $bench > "$out/bench-spec-tiles.txt" 2>&1 || status=1
            cat "$out/bench-spec-tiles.txt" ;;
    tune)   cp "specs/$spec.yaml" "$out/$spec.yaml"
            start=$SECONDS
            timeout "${TUNE_TIMEOUT:-540}" $G tune "$out/$spec.yaml" --write-spec --budget "${TUNE_BUDGET:-6.5m}" ${TUNE_FAMILIES:+--families "$TUNE_FAMILIES"} > "$out/tune-$spec.txt" 2>&1 || status=1
            echo "tune wall time: $((SECONDS - start)) s" >> "$out/tune-$spec.txt"
            cp "$GRAPHC_TUNING_DB" "$out/tuning.json"; cat "$out/tune-$spec.txt"; diff "specs/$spec.yaml" "$out/$spec.yaml" ;;
    after)  timeout "${BENCH_TIMEOUT:-150}" $G bench "$spec" --synthetic --tiles auto --profile $bench > "$out/bench-tuned-tiles.txt" 2>&1 || status=1
            cat "$out/bench-tuned-tiles.txt" ;;
    *) echo "tune.sh: unknown step '$step' (before, tune, after)"; exit 2 ;;
  esac
done
exit $status
