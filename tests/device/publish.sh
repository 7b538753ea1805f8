#!/usr/bin/env bash
# Publishes graphc self-contained (trimmed, ~25 MB) into .device/graphc, the folder a device run carries:
#   bash tests/device/publish.sh, then run tests/device/run.sh on the GPU machine with carry [".device/graphc.tar.gz"].
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf .device/graphc
dotnet publish runtime -c Release -r linux-x64 --self-contained -p:GraphcPublish=true -o .device/graphc
# What travels to the device is capped (64 MiB with the tree): carry the compressed copy, .device/graphc.tar.gz.
tar -C .device -czf .device/graphc.tar.gz graphc
du -sh .device/graphc .device/graphc.tar.gz
