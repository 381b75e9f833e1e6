#!/usr/bin/env bash
# Builds the tier-3 guest's initramfs: busybox, the scenario /init, the kernel modules the
# scenarios need (with their dependencies from modules.dep; /init loads them in order) and
# static guest test programs.
#   build-initramfs.sh [--net] [--shmem] OUT.cpio.gz [MODULE...]
#   (GUEST_PROGRAMS="a.c b.c": static programs)
# --net: the network scenarios' tools and drivers: iperf3 and (amd64, when fetch.sh could get it)
# ethtool with their libraries (Debian's, from fetch.sh, in /usr/lib/x86_64-linux-gnu) and the virtio_pci/virtio_mmio/virtio_net modules (with
# failover/net_failover, their dependencies) unless the kernel has them built in.
# VDEVKIT_ARCH=arm64: an arm64 guest's (fetch.sh's arm64 kernel modules, busybox and iperf3;
# programs built with aarch64-linux-gnu-gcc).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../images/lib.sh"
# --shmem: the shmem scenarios' tool `gshm` (shmem/build.sh: static, libpciaccess) and the
# uio/uio_pci_generic modules it waits on for PCI interrupts.
net=0
shmem=0
while :; do
    case ${1:-} in
        --net) net=1; shift ;;
        --shmem) shmem=1; shift ;;
        *) break ;;
    esac
done
out=$1
shift
eval "$("$here/../images/fetch.sh")"
arch=${VDEVKIT_ARCH:-amd64}
case $arch in
    arm64) triplet=aarch64-linux-gnu guest_cc=aarch64-linux-gnu-gcc ;;
    *) triplet=x86_64-linux-gnu guest_cc=gcc ;;
esac
modules=("$@")
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
vdk_stage_rootfs_layout "$stage"
vdk_busybox_install "$VDEVKIT_BUSYBOX" "$stage"
install -m 0755 "$here/init" "$stage/init"
if [ "$net" = 1 ]; then
    [ -n "${VDEVKIT_IPERF3_ROOT:-}" ] || vdk_die "--net: no iperf3 (fetch.sh could not fetch it)"
    if [ "$arch" = arm64 ]; then
        mkdir -p "$stage/usr/lib/$triplet"
        install -m 0755 "$VDEVKIT_IPERF3_ROOT/usr/bin/iperf3" "$stage/usr/bin/iperf3"
        # every library from fetch.sh's arm64 userland (readelf, not ldd)
        vdk_stage_elf_deps_cross "$stage" "$VDEVKIT_USERLAND_ROOT" "$stage/usr/bin/iperf3"
    else
        # its libraries from the package tree, the rest (libc, libcrypto) from the host
        vdk_stage_fetched_program "$stage" "$VDEVKIT_IPERF3_ROOT" usr/bin/iperf3 || exit 1
        # ethtool -S: the NIC's kick counters for the benchmarks (/init's vdevkit.counters=1);
        # 0.6 MB, best effort (amd64)
        if [ -n "${VDEVKIT_ETHTOOL_ROOT:-}" ]; then
            vdk_stage_fetched_program "$stage" "$VDEVKIT_ETHTOOL_ROOT" usr/sbin/ethtool || exit 1
        fi
    fi
    # virtio_net pulls failover and net_failover in through modules.dep; built-in ones are
    # skipped (vdk_resolve_modules checks modules.builtin).
    # virtio_mmio: the MMIO NIC (pair-mmio), bound through ACPI (_HID LNRO0005).
    modules+=(virtio_pci virtio_mmio virtio_net)
fi
if [ "$shmem" = 1 ]; then
    if [ "$arch" = arm64 ]; then
        CC=$guest_cc GSHM_SYSROOT=$("$here/../../scripts/install-cross-deps.sh") \
            "$here/shmem/build.sh" "$stage/usr/bin/gshm"
    else
        "$here/shmem/build.sh" "$stage/usr/bin/gshm"
    fi
    modules+=(uio uio_pci_generic)
fi
if [ ${#modules[@]} -gt 0 ]; then
    vdk_stage_modules "$VDEVKIT_MODDIR" "$stage" "${modules[@]}"
fi
for src in ${GUEST_PROGRAMS:-}; do
    "$guest_cc" -static -O2 -Wall -Wextra -Werror -o "$stage/usr/bin/$(basename "${src%.c}")" "$src"
done
vdk_mkcpio "$stage" "$out"
