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
