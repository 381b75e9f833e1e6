#!/usr/bin/env bash
# Fetch and cache what the outer (nested-KVM) machine boots: Debian's current
# kernel (whatever linux-image-amd64 depends on) with its modules, and a static
# busybox. Also installs the host tools the harness needs (qemu, cpio, depmod).
#
# Usage: fetch.sh            prints, on stdout, shell assignments to eval:
#   (VDEVKIT_ARCH=arm64 fetch.sh: the same for arm64 guests and the arm64 outer machine, from
#   Debian's arm64 packages (dpkg --add-architecture arm64), cached under <cache>/arm64/; the
#   kernel's vmlinuz is an uncompressed Image and VDEVKIT_VMLINUX is empty. It also prints
#   VDEVKIT_USERLAND_ROOT: libc6, libfdt1 and iperf3 with its libraries unpacked, the
#   libraries arm64 programs staged into a machine need (lib.sh: vdk_stage_elf_deps_cross).)
#   VDEVKIT_KVER=6.1.0-NN-amd64
#   VDEVKIT_VMLINUZ=<cache>/kernel/<pkg>/boot/vmlinuz-<kver>
#   VDEVKIT_VMLINUX=<cache>/kernel/<pkg>/boot/vmlinux-<kver>  (uncompressed ELF, PVH
#                   boot; empty if it could not be extracted)
#   VDEVKIT_MODDIR=<cache>/kernel/<pkg>/lib/modules/<kver>   (depmod already run)
#   VDEVKIT_BUSYBOX=<cache>/busybox/<deb>/bin/busybox
#   VDEVKIT_IPERF3_ROOT=<cache>/iperf3/<deb>   (iperf3, libiperf0, libsctp1 extracted:
#                   usr/bin/iperf3, usr/lib/x86_64-linux-gnu/; empty if it could not be fetched)
#   VDEVKIT_ETHTOOL_ROOT=<cache>/ethtool/<deb> (ethtool and libmnl0 extracted: usr/sbin/ethtool,
#                   usr/lib/x86_64-linux-gnu/; the guests' NIC counters for the benchmarks; empty
#                   if it could not be fetched, and for arm64)
# Progress goes to stderr. Cache: ${VDEVKIT_CACHE:-$HOME/.cache/vdevkit}.
# Idempotent: a second run only asks apt-cache which kernel is current (~0.1 s).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"
export PATH=$PATH:/usr/sbin:/sbin   # depmod

arch=${VDEVKIT_ARCH:-amd64}
cache=$(vdk_cache_dir)
case $arch in
    amd64) ;;
    arm64) cache=$cache/arm64 ;;
    *) vdk_die "VDEVKIT_ARCH must be amd64 or arm64 (got $arch)" ;;
esac
mkdir -p "$cache/kernel" "$cache/busybox"

vdk_ensure_host_tools
if [ "$arch" = arm64 ]; then
    command -v qemu-system-aarch64 > /dev/null || vdk_apt install -y --no-install-recommends qemu-system-arm
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        vdk_log "adding the arm64 architecture to dpkg (for apt-get download of arm64 packages)"
        dpkg --add-architecture arm64
        DEBIAN_FRONTEND=noninteractive apt-get update >&2
    fi
fi
# an arm64 package's name for apt-get download / apt-cache
apkg() { if [ "$arch" = arm64 ]; then printf '%s:arm64\n' "$1"; else printf '%s\n' "$1"; fi; }

# apt-get download into a scratch dir the _apt user can write (avoids apt's
# "Download is performed unsandboxed as root" warning), then move it into DEST.
download_deb() {
    local pkg=$1 dest=$2 tmp
    tmp=$(mktemp -d)
    chmod 0755 "$tmp"
    chown _apt "$tmp" 2>/dev/null || true
    (cd "$tmp" && vdk_apt download "$pkg")
    mv "$tmp"/*.deb "$dest/"
    rmdir "$tmp"
}

# Uncompressed ELF vmlinux from a bzImage whose payload is xz (Debian's is).
# QEMU boots such an ELF through its PVH entry point, which skips the in-guest
# decompression: ~3 s less per outer boot under TCG.
extract_vmlinux() {
    local in=$1 out=$2 off
    off=$(LC_ALL=C grep -abo $'\xfd7zXZ' "$in" | head -1 | cut -d: -f1)
    [ -n "$off" ] || return 1
    # --single-stream: the xz stream is followed by unrelated bytes, which xz
    # leaves unread (so no pipe here: tail's SIGPIPE would trip pipefail).
    xz -dc --single-stream < <(tail -c +$((off + 1)) "$in") > "$out.tmp" || return 1
    # Only worth it if the ELF has the PVH entry note (Xen note type 0x12).
    # (readelf output captured first: grep -q in a pipe would SIGPIPE it, and
    # pipefail would turn that into a failure.)
    local notes
    notes=$(readelf -n "$out.tmp" 2>/dev/null || true)
    if grep -q 'note type: (0x00000012)' <<<"$notes"; then
        mv "$out.tmp" "$out"
    else
        rm -f "$out.tmp"; return 1
    fi
}

# The real kernel package behind the linux-image-ARCH metapackage.
resolve_kernel_pkg() {
    apt-cache depends "$(apkg "linux-image-$arch")" 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { sub(/:.*/, "", $2); print $2; exit }'
}

kpkg=$(resolve_kernel_pkg)
if [ -z "$kpkg" ]; then
    vdk_log "apt-cache does not know linux-image-$arch; running apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update >&2 || true
    kpkg=$(resolve_kernel_pkg)
fi
if [ -z "$kpkg" ]; then
    # Offline and no package lists: fall back to the newest kernel already cached.
    kpkg=$(find "$cache/kernel" -mindepth 1 -maxdepth 1 -name 'linux-image-*' -printf '%f\n' | sort -V | tail -1)
    [ -n "$kpkg" ] || vdk_die "cannot resolve linux-image-$arch and nothing is cached"
    vdk_log "warning: cannot resolve linux-image-$arch; using cached $kpkg"
fi
kver=${kpkg#linux-image-}
kdir=$cache/kernel/$kpkg

if [ ! -f "$kdir/.complete" ]; then
    vdk_log "fetching kernel package $kpkg"
    rm -rf "$kdir.tmp" && mkdir -p "$kdir.tmp/deb"
    download_deb "$(apkg "$kpkg")" "$kdir.tmp/deb"
    dpkg -x "$kdir.tmp"/deb/*.deb "$kdir.tmp"
    rm -rf "$kdir.tmp/deb"                 # 70 MB we no longer need
    [ -f "$kdir.tmp/boot/vmlinuz-$kver" ] || vdk_die "$kpkg has no boot/vmlinuz-$kver"
    # Debian's package ships no modules.dep: depmod generates it for this tree.
    depmod -b "$kdir.tmp" "$kver"
    if [ "$arch" = amd64 ]; then
        extract_vmlinux "$kdir.tmp/boot/vmlinuz-$kver" "$kdir.tmp/boot/vmlinux-$kver" ||
            vdk_log "warning: could not extract vmlinux; the outer machine will boot vmlinuz"
    fi
    touch "$kdir.tmp/.complete"
    rm -rf "$kdir" && mv "$kdir.tmp" "$kdir"
fi

# busybox-static: any cached copy will do (it does not need to track updates).
bb=$(find "$cache/busybox" -mindepth 3 -maxdepth 3 -path '*/bin/busybox' ! -path '*.tmp/*' 2>/dev/null | sort -V | tail -1)
if [ -z "$bb" ]; then
    vdk_log "fetching busybox-static"
    tmp=$cache/busybox/.fetch.tmp
    rm -rf "$tmp" && mkdir -p "$tmp/deb"
    download_deb "$(apkg busybox-static)" "$tmp/deb"
    deb=$(ls "$tmp"/deb/*.deb)
    name=$(basename "$deb" .deb)
    dpkg -x "$deb" "$tmp/root"
    rm -rf "${cache:?}/busybox/$name" && mv "$tmp/root" "$cache/busybox/$name"
    rm -rf "$tmp"
    bb=$cache/busybox/$name/bin/busybox
fi
[ -x "$bb" ] || vdk_die "busybox not found at $bb"

# iperf3 for the network tests (tier 3 net pair): the program and the libraries the host
# may lack (libssl3 and libc come from the host through ldd, like every staged program).
# Best effort: without it the network tests say so and other tests are unaffected.
fetch_iperf3() {
    local tmp=$cache/iperf3/.fetch.tmp pkgs=(iperf3 libiperf0 libsctp1) deb name p
    if [ "$arch" = arm64 ]; then
        # the arm64 userland: nothing comes from the host (vdk_stage_elf_deps_cross)
        pkgs+=(libssl3 libc6 libfdt1 libgcc-s1)
    else
        /sbin/ldconfig -p 2>/dev/null | grep -q 'libssl\.so\.3 ' || pkgs+=(libssl3)
    fi
    rm -rf "$tmp" && mkdir -p "$tmp/deb" "$tmp/root"
    for p in "${pkgs[@]}"; do download_deb "$(apkg "$p")" "$tmp/deb" || return 1; done
    for deb in "$tmp"/deb/*.deb; do dpkg-deb -x "$deb" "$tmp/root" || return 1; done
    [ -x "$tmp/root/usr/bin/iperf3" ] || return 1
    name=$(basename "$(ls "$tmp"/deb/iperf3_*.deb)" .deb)
    rm -rf "${cache:?}/iperf3/$name" && mv "$tmp/root" "$cache/iperf3/$name"
    touch "$cache/iperf3/$name/.complete"
    rm -rf "$tmp"
}
mkdir -p "$cache/iperf3"
iperf3_root=$(find "$cache/iperf3" -mindepth 2 -maxdepth 2 -name .complete ! -path '*.tmp/*' -printf '%h\n' 2>/dev/null | sort -V | tail -1)
if [ -z "$iperf3_root" ]; then
    vdk_log "fetching iperf3 (for the network tests)"
    if fetch_iperf3; then
        iperf3_root=$(find "$cache/iperf3" -mindepth 2 -maxdepth 2 -name .complete ! -path '*.tmp/*' -printf '%h\n' | sort -V | tail -1)
    else
        vdk_log "warning: could not fetch iperf3; the network tests will be skipped"
        rm -rf "$cache/iperf3/.fetch.tmp"
    fi
fi

# ethtool for the network benchmarks (`ethtool -S`: virtio_net's per-queue kick counters in the
# guests, bench/net-pair-bench.sh) and libmnl0, which it needs (libc comes from the host through
# ldd). Best effort and amd64 only: without it the benchmarks print no kick counts.
fetch_ethtool() {
    local tmp=$cache/ethtool/.fetch.tmp deb name p
    rm -rf "$tmp" && mkdir -p "$tmp/deb" "$tmp/root"
    for p in ethtool libmnl0; do download_deb "$p" "$tmp/deb" || return 1; done
    for deb in "$tmp"/deb/*.deb; do dpkg-deb -x "$deb" "$tmp/root" || return 1; done
    # bookworm's package has /sbin/ethtool; later ones /usr/sbin (merged /usr)
    if [ -x "$tmp/root/sbin/ethtool" ]; then
        mkdir -p "$tmp/root/usr/sbin" && mv "$tmp/root/sbin/ethtool" "$tmp/root/usr/sbin/"
    fi
    [ -x "$tmp/root/usr/sbin/ethtool" ] || return 1
    name=$(basename "$(ls "$tmp"/deb/ethtool_*.deb)" .deb)
    rm -rf "${cache:?}/ethtool/$name" && mv "$tmp/root" "$cache/ethtool/$name"
    touch "$cache/ethtool/$name/.complete"
    rm -rf "$tmp"
}
ethtool_root=
if [ "$arch" = amd64 ]; then
    mkdir -p "$cache/ethtool"
    ethtool_root=$(find "$cache/ethtool" -mindepth 2 -maxdepth 2 -name .complete ! -path '*.tmp/*' -printf '%h\n' 2>/dev/null | sort -V | tail -1)
    if [ -z "$ethtool_root" ]; then
        vdk_log "fetching ethtool (for the network benchmarks)"
        if fetch_ethtool; then
            ethtool_root=$(find "$cache/ethtool" -mindepth 2 -maxdepth 2 -name .complete ! -path '*.tmp/*' -printf '%h\n' | sort -V | tail -1)
        else
            vdk_log "warning: could not fetch ethtool; the network benchmarks will print no kick counts"
            rm -rf "$cache/ethtool/.fetch.tmp"
        fi
    fi
fi

# Trees cached before vmlinux extraction existed get it now.
if [ "$arch" = amd64 ] && [ ! -f "$kdir/boot/vmlinux-$kver" ] && [ ! -f "$kdir/.no-vmlinux" ]; then
    extract_vmlinux "$kdir/boot/vmlinuz-$kver" "$kdir/boot/vmlinux-$kver" || touch "$kdir/.no-vmlinux"
fi
vmlinux=
[ -f "$kdir/boot/vmlinux-$kver" ] && vmlinux=$kdir/boot/vmlinux-$kver

vdk_log "fetch: kernel $kpkg ($kdir)"
vdk_log "fetch: busybox $bb"
vdk_log "fetch: iperf3 ${iperf3_root:-(none)}"
[ "$arch" != amd64 ] || vdk_log "fetch: ethtool ${ethtool_root:-(none)}"
printf 'VDEVKIT_KVER=%q\n' "$kver"
printf 'VDEVKIT_VMLINUZ=%q\n' "$kdir/boot/vmlinuz-$kver"
printf 'VDEVKIT_VMLINUX=%q\n' "$vmlinux"
printf 'VDEVKIT_MODDIR=%q\n' "$kdir/lib/modules/$kver"
printf 'VDEVKIT_BUSYBOX=%q\n' "$bb"
printf 'VDEVKIT_IPERF3_ROOT=%q\n' "$iperf3_root"
printf 'VDEVKIT_ETHTOOL_ROOT=%q\n' "$ethtool_root"
if [ "$arch" = arm64 ]; then
    [ -n "$iperf3_root" ] || vdk_die "arm64: could not fetch the arm64 userland (libc6, iperf3)"
    printf 'VDEVKIT_USERLAND_ROOT=%q\n' "$iperf3_root"
fi
