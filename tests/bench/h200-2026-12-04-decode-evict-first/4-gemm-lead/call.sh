#!/usr/bin/env bash
# Session 19, call 4: the decode GEMMs' weight copies under evict-first (GC_GEMM_ONCE=1, temporary), two shapes, rows 1 and 16.
R=$OUT; export OUT=/tmp/w22; rm -rf /tmp/w22
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
gm() {
  timeout 45 $G bench llama2-70b --gemm-shapes $2 --rows 1,16 --json 2> "$out/$1.err" | python3 -c '
import json, sys
for k in json.load(sys.stdin)["kernels"]:
    if "prefill" in k["kernel"]: continue
    print("%-8s %-48s %-24s %8.1f us %7.0f GB/s %5.1f%%  %s" % (sys.argv[1], k["kernel"][-48:], k["case"][:24], k["median_us"], k["gb_per_s"], 100 * k["roofline_fraction"], "pass" if k.get("check_passed") else "CHECK FAILED"))' "$1" >> "$out/gemm-ab.txt"
  echo "$1 $2 at $((SECONDS - t0))s"; cp "$out"/*.txt "$R"/
}
for s in 8192x57344 28672x8192; do gm base $s; GC_GEMM_ONCE=1 gm once $s; done
