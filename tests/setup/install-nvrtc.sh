#!/usr/bin/env bash
# Fetches NVRTC 12.4 (Debian trixie non-free: libnvrtc12 + libnvrtc-builtins12.4) into a cache folder,
# without installing it over the system, so every emitted kernel can be compiled on a machine with no GPU.
# Prints the path of libnvrtc.so.12; export it as GRAPHC_NVRTC_PATH.
set -euo pipefail
dest="${GRAPHC_NVRTC_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/graphcompiler/nvrtc-12.4}"
lib=$(find "$dest" -name 'libnvrtc.so.12' 2>/dev/null | head -n 1 || true)
if [ -n "$lib" ] && [ -n "$(find "$dest" -name 'libnvrtc-builtins.so.12.4' 2>/dev/null | head -n 1)" ]; then
  echo "$lib"; exit 0
fi
if [ "$(id -u)" != 0 ]; then echo "install-nvrtc.sh: needs root to add the trixie apt source" >&2; exit 1; fi
list=/etc/apt/sources.list.d/graphc-trixie-nonfree.sources
pin=/etc/apt/preferences.d/graphc-trixie-nonfree
if [ ! -f "$list" ]; then
  uri=$(grep -hoE '^URIs: *[^ ]+' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1 | awk '{print $2}')
  [ -n "$uri" ] || uri=$(grep -hoE '^deb +[^ ]+' /etc/apt/sources.list 2>/dev/null | head -n 1 | awk '{print $2}')
  printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" > "$list"
  printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' > "$pin"
fi
apt-get update -qq -o Dir::Etc::sourcelist="$list" -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0 >&2
work=$(mktemp -d); chmod 755 "$work"
( cd "$work" && apt-get download -qq libnvrtc12 libnvrtc-builtins12.4 >&2 )
mkdir -p "$dest"
for deb in "$work"/*.deb; do dpkg -x "$deb" "$dest"; done
rm -rf "$work"
lib=$(find "$dest" -name 'libnvrtc.so.12' | head -n 1)
[ -n "$lib" ] || { echo "install-nvrtc.sh: libnvrtc.so.12 not found after unpacking into $dest" >&2; exit 1; }
echo "$lib"
