#!/bin/bash
# What cross-compiling vdevkit for aarch64 needs on a Debian 12 x86-64 host (docs/arm64.md):
# the cross compiler and C library from apt, and arm64 libfdt unpacked into a sysroot folder
# (libfdt-dev is not multi-arch: installing libfdt-dev:arm64 would remove the host's
# libfdt-dev, which the native build needs). Idempotent; prints the sysroot folder.
#   scripts/install-cross-deps.sh [SYSROOT]   (default: $VDEVKIT_ARM64_SYSROOT or .cache/arm64-sysroot)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
sysroot=${1:-${VDEVKIT_ARM64_SYSROOT:-$top/.cache/arm64-sysroot}}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

missing=()
for p in gcc-aarch64-linux-gnu libc6-dev-arm64-cross; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $SUDO dpkg --add-architecture arm64
    $SUDO apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-cross-deps: installing ${missing[*]}" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# libpciaccess and zlib (static): the arm64 guest tool gshm (guest-tests/linux/shmem/build.sh)
if [ ! -e "$sysroot/usr/lib/aarch64-linux-gnu/libfdt.so" ] ||
    [ ! -e "$sysroot/usr/lib/aarch64-linux-gnu/libpciaccess.a" ]; then
    echo "install-cross-deps: unpacking libfdt-dev, libpciaccess-dev, zlib1g-dev (arm64) into $sysroot" >&2
    tmp=$(mktemp -d)
    chmod 0755 "$tmp"
    chown _apt "$tmp" 2>/dev/null || true
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && apt-get download -qq libfdt-dev:arm64 libfdt1:arm64 libpciaccess-dev:arm64 \
        libpciaccess0:arm64 zlib1g-dev:arm64 zlib1g:arm64)
    mkdir -p "$sysroot"
    for deb in "$tmp"/*.deb; do
        dpkg-deb -x "$deb" "$sysroot"
    done
fi
echo "$sysroot"
