#!/usr/bin/env bash
# Session 19, call 3 (issue #5): the committed decode kernels (K/V copies under L2's evict-first policy): decode
# selftests, generation on small-llama with and without wide tiles, the final tables with SDPA; then the same policy on
# the decode GEMMs' weight copies (GC_GEMM_ONCE=1, temporary): kernel sweep, GEMM selftest, end to end if time is left.
# As it ran, its checks and tables were written out here: the same commands (its count of FAIL lines printed bare),
# which tests/device/decode_checks.sh and tests/device/attention.sh hold now.
R=$OUT; export OUT=/tmp/w21; rm -rf /tmp/w21
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; cp "$out"/*.txt "$out"/*.md "$R"/ 2>/dev/null; }
source tests/device/decode_checks.sh
POINTS=1x4096,16x2048,64x1024,8x2048,32x2048 bash tests/device/attention.sh > /dev/null; mark tables $?
gm() {  # gm LABEL SPEC
  $G bench $2 --gemm-shapes 8192x10240,8192x8192,8192x57344,28672x8192,8192x32000 --rows 1,16,64 --json 2> "$out/$1.err" | python3 -c '
import json, sys
for k in json.load(sys.stdin)["kernels"]:
    if "prefill" in k["kernel"]: continue
    print("%-8s %-48s %-24s %8.1f us %7.0f GB/s %5.1f%%  %s" % (sys.argv[1], k["kernel"][-48:], k["case"][:24], k["median_us"], k["gb_per_s"], 100 * k["roofline_fraction"], "pass" if k.get("check_passed") else "CHECK FAILED"))' "$1" >> "$out/gemm-ab.txt"
}
gm base llama2-70b; GC_GEMM_ONCE=1 gm once llama2-70b; gm base2 llama2-70b; GC_GEMM_ONCE=1 gm once2 llama2-70b; mark "gemm ab" 0
GC_GEMM_ONCE=1 timeout 100 $G selftest llama2-70b --kernels gemm --seed $SEED > "$out/selftest-gemm-once.txt" 2>&1; mark "selftest gemm once" $?
if [ $((SECONDS - t0)) -lt 330 ]; then
  for v in 0 1; do GC_GEMM_ONCE=$v timeout 90 $G bench llama2-70b --synthetic --prompts 128 --batches 1,16 --steps 8 > "$out/e2e-once$v.txt" 2>&1; mark "e2e once=$v" $?; done
fi
mark done 0
