#!/usr/bin/env bash
# Session 17, call 1 (issue #5): the one-pass merge (items merged over the warps and pushed at once) against the previous
# tail: decode selftests (cluster path, and the global path forced on sm_90), A/B timings, per-CTA stamps of both.
R=$OUT; export OUT=/tmp/w7; rm -rf /tmp/w7
source tests/device/env.sh
exec > "$out/log.txt" 2>&1
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; cp "$out"/{log.txt,ab.txt,selftest.txt,stamps.txt} "$R"/ 2>/dev/null; }
SEED=$RANDOM; echo "seed $SEED"
for spec in llama2-70b llama2-70b-gptq tests/fixtures/specs/small-llama-fp8kv.yaml tests/fixtures/specs/coverage-bf16.yaml llama2-7b small-llama; do
  $G selftest "$spec" --kernels decode_attention --seed $SEED >> "$out/selftest.txt" 2>&1; mark "selftest $spec" $?
done
for spec in llama2-70b tests/fixtures/specs/small-llama-fp8kv.yaml tests/fixtures/specs/coverage-bf16.yaml; do
  GC_DECODE_NOCLUSTER=1 $G selftest "$spec" --kernels decode_attention --seed $SEED >> "$out/selftest.txt" 2>&1; mark "selftest global merge $spec" $?
done
grep -E "FAIL|selftest (passed|FAILED)" "$out/selftest.txt"
tm() {  # tm LABEL SPEC
  $G bench $2 --attention-points 1x4096,16x2048,64x1024 --json 2> "$out/$1.err" | python3 -c '
import json, sys
for k in json.load(sys.stdin)["kernels"]:
    print("%-10s %-40s %8.1f us %7.0f GB/s %5.1f%%  %s" % (sys.argv[1], k["case"], k["median_us"], k["gb_per_s"], 100 * k["roofline_fraction"], "pass" if k.get("check_passed") else "CHECK FAILED"))' "$1" >> "$out/ab.txt"
}
for round in 1 2; do
  tm fp8-new llama2-70b; GC_DECODE_OLD=1 tm fp8-old llama2-70b
  tm fp16-new llama2-70b-gptq; GC_DECODE_OLD=1 tm fp16-old llama2-70b-gptq; mark "timings $round" 0
done
for v in new old; do
  for p in 16x2048 1x4096; do
    if [ $v = old ]; then export GC_DECODE_OLD=1; else unset GC_DECODE_OLD; fi
    GC_DECODE_STAMPS=150 $G bench llama2-70b --attention-points $p > "$out/st-$v-$p.txt" 2> "$out/st-$v-$p.err"
    { echo "== $v llama2-70b $p"; python3 .device/stamps2.py "$out/st-$v-$p.txt"; } >> "$out/stamps.txt" 2>&1
  done
done; unset GC_DECODE_OLD; mark stamps 0
tar -C "$out" -czf "$R/raw.tgz" .
mark done 0
