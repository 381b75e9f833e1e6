#!/bin/bash
# Installs what building and testing vdevkit needs, from Debian 12's archive. Idempotent.
# The aarch64 cross-build's compiler and arm64 libfdt: scripts/install-cross-deps.sh.
set -euo pipefail

# tshark: test_net_capture reads its pcap files with it (17 packages, ~22 MB download,
# ~125 MB installed, ~45 s; no question asked with the noninteractive frontend).
packages=(build-essential clang-format cmake pkg-config check libfdt-dev libpciaccess-dev clang
          device-tree-compiler acpica-tools tshark
          nftables    # nft: copied into the outer machine for tier 3's `world` NAT
          abigail-tools) # abidw/abidiff: scripts/check-abi.sh compares libvdev's ABI
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
