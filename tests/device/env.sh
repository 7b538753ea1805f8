# Sourced by the device scripts: repository root, output folder ($OUT or ./device-out), the carried graphc (unpacked
# from .device/graphc.tar.gz on first use) as $G, and a kernel cache outside the tree.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out="${OUT:-device-out}"; mkdir -p "$out"
G=.device/graphc/graphc
[ -x "$G" ] || tar -C .device -xzf .device/graphc.tar.gz
export GRAPHC_CACHE_DIR="${GRAPHC_CACHE_DIR:-/tmp/graphc-kernels}"
