#!/usr/bin/env bash
# Debian's arm64 QEMU (qemu-system-arm:arm64) with every library it needs, unpacked into a
# cached folder: the reference VMM that bench/boot-bench.sh --arch arm64 runs inside the arm64
# outer machine beside vdevkit. Prints VDEVKIT_QEMU_ARM64_ROOT=<folder> (its
# usr/bin/qemu-system-aarch64; stage it with lib.sh's vdk_stage_elf_deps_cross and the
# folder as ROOT). Idempotent; ~30 MB of packages the first time.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"
root=$(vdk_cache_dir)/arm64/qemu
if [ ! -f "$root/.complete" ]; then
    vdk_log "fetching qemu-system-arm:arm64 and its libraries"
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        dpkg --add-architecture arm64
        DEBIAN_FRONTEND=noninteractive apt-get update >&2
    fi
    tmp=$root.tmp
    rm -rf "$tmp" && mkdir -p "$tmp/deb"
    chmod 0777 "$tmp/deb"
    # QEMU and every library package it depends on, however deep (programs, data and
    # virtual packages left out: -kernel needs no firmware)
    mapfile -t pkgs < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances qemu-system-arm:arm64 2>/dev/null |
        grep -E '^(lib[a-z0-9.+-]*|zlib1g|qemu-system-arm)(:arm64)?$' | sed 's/:arm64$//' | sort -u)
    [ ${#pkgs[@]} -gt 10 ] || vdk_die "apt-cache knows no qemu-system-arm:arm64 (apt-get update?)"
    for p in "${pkgs[@]}"; do
        (cd "$tmp/deb" && apt-get download -qq "$p:arm64" 2>/dev/null) || true
    done
    for d in "$tmp"/deb/*.deb; do dpkg-deb -x "$d" "$tmp"; done
    rm -rf "$tmp/deb"
    [ -x "$tmp/usr/bin/qemu-system-aarch64" ] || vdk_die "qemu-system-arm:arm64 did not unpack"
    check=$(mktemp -d)
    vdk_stage_rootfs_layout "$check"
    (vdk_stage_elf_deps_cross "$check" "$tmp" "$tmp/usr/bin/qemu-system-aarch64") ||
        { rm -rf "$check"; vdk_die "qemu-system-aarch64's libraries are incomplete (see above)"; }
    rm -rf "$check"
    touch "$tmp/.complete"
    rm -rf "$root" && mv "$tmp" "$root"
fi
printf 'VDEVKIT_QEMU_ARM64_ROOT=%q\n' "$root"
