# Sourced by the device scripts: repository root, output folder ($OUT or ./device-out), the carried graphc (unpacked
# from .device/graphc.tar.gz on first use) as $G, and a kernel cache outside the tree.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out="${OUT:-device-out}"; mkdir -p "$out"
G=.device/graphc/graphc
[ -x "$G" ] || tar -C .device -xzf .device/graphc.tar.gz
export GRAPHC_CACHE_DIR="${GRAPHC_CACHE_DIR:-/tmp/graphc-kernels}"

# bench_with_peers LABEL SPEC OPTIONS…: graphc bench --json, PyTorch's peers on the same keys, and the joined table,
# under $out as LABEL.json, peer-LABEL.json and LABEL.md; the table is printed too.
bench_with_peers() {
  local label=$1 spec=$2; shift 2
  $G bench "$spec" "$@" --json > "$out/$label.json" 2> "$out/$label-err.txt" || return 1
  python3 tests/reference/peer_bench.py "$out/$label.json" > "$out/peer-$label.json" 2>> "$out/$label-err.txt" || return 1
  python3 tests/reference/bench_table.py "$out/$label.json" "$out/peer-$label.json" | tee "$out/$label.md"
}

# ncu_source LABEL KERNEL_REGEX COMMAND…: one launch of the kernel (the fourth) under Nsight Compute's --set full; its
# source page (SASS with executed counts and warp-state samples per instruction) as $out/LABEL-sass.csv, and
# tests/device/sass_blocks.py's summary, by code block and then in address order, as $out/LABEL-sass.txt.
# WARP_SAMPLING=0 samples warp states every 2^5 cycles, the finest (ncu's auto took about 1900 samples of a decode launch
# at 16 × 2048, 0 about 17000: enough to read a phase that runs once a CTA).
ncu_source() {
  local label=$1 regex=$2; shift 2
  timeout 240 ncu --clock-control none --kernel-name regex:"$regex" --launch-skip 3 --launch-count 1 --set full \
    --warp-sampling-interval "${WARP_SAMPLING:-auto}" \
    --import-source no -o "$out/$label" "$@" > "$out/$label-ncu.txt" 2>&1 || { echo "ncu --set full $label: exit $?"; return 1; }
  ncu -i "$out/$label.ncu-rep" --page source --csv --print-source sass > "$out/$label-sass.csv" && rm -f "$out/$label.ncu-rep"
  python3 tests/device/sass_blocks.py --in-order "$out/$label-sass.csv" 12 > "$out/$label-sass.txt"
}

# ab_lines LABEL SPEC OPTIONS…: graphc bench --json, one line a timed kernel (label, kernel, case, µs, GB/s, % of the copy
# bandwidth, its check) appended to $out/ab.txt: the same-call A/B tables of temporary variants, set by the caller's
# environment.
ab_lines() {
  local label=$1 spec=$2; shift 2
  $G bench "$spec" "$@" --json 2> "$out/$label.err" | python3 -c '
import json, sys
for k in json.load(sys.stdin)["kernels"]:
    print("%-14s %-48s %-34s %8.2f us %7.0f GB/s %5.1f%%  %s" % (sys.argv[1], k["kernel"][-48:], k["case"][:34], k["median_us"], k["gb_per_s"],
          100 * k["roofline_fraction"], "pass" if k.get("check_passed") else "CHECK FAILED"))' "$label" >> "$out/ab.txt"
}
