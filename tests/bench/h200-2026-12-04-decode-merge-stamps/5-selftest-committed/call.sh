#!/usr/bin/env bash
# Session 23, call 5: the committed build's selftest of every kernel of both 70B specs and the small specs (call 2's
# selftests ran the variant), fresh seed, and the small model's greedy text with and without the wide twin. As it ran,
# these steps were inline, each selftest under `timeout 150`, which both 70B specs ran past before printing their
# tables; tests/device/decode_checks.sh now holds them (without the limit).
R=$OUT; export OUT=/tmp/w5; rm -rf /tmp/w5; mkdir -p /tmp/w5
t0=$SECONDS
mark() { echo "$1 rc $2 at $((SECONDS - t0))s"; (cd "$OUT" && tar czf "$R/r.tgz" *.txt 2>/dev/null); }
exec > "$OUT/log.txt" 2>&1
SELFTEST_KERNELS= source tests/device/decode_checks.sh
cat "$out/generate.txt"; mark done 0
