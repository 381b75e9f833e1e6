#!/usr/bin/env bash
# Builds the tier-3 guest's initramfs: busybox, the scenario /init, the kernel modules the
# scenarios need (with their dependencies from modules.dep; /init loads them in order) and
# static guest test programs.
#   build-initramfs.sh [--net] [--shmem] OUT.cpio.gz [MODULE...]
#   (GUEST_PROGRAMS="a.c b.c": static programs)
# --net: the network scenarios' tools and drivers: iperf3 with its libraries (Debian's, from
# fetch.sh, in /usr/lib/x86_64-linux-gnu) and the virtio_pci/virtio_mmio/virtio_net modules (with
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
    libdir=$stage/usr/lib/$triplet
    mkdir -p "$libdir"
    install -m 0755 "$VDEVKIT_IPERF3_ROOT/usr/bin/iperf3" "$stage/usr/bin/iperf3"
    if [ "$arch" = arm64 ]; then
        # every library from fetch.sh's arm64 userland (readelf, not ldd)
        vdk_stage_elf_deps_cross "$stage" "$VDEVKIT_USERLAND_ROOT" "$stage/usr/bin/iperf3"
    else
        for lib in "$VDEVKIT_IPERF3_ROOT"/usr/lib/$triplet/*.so.[0-9]; do  # by soname
            cp -L "$lib" "$libdir/"
        done
        # The rest (libc, libcrypto) from the host through ldd; what is staged already is kept.
        LD_LIBRARY_PATH=$libdir vdk_stage_elf_deps "$stage" "$stage/usr/bin/iperf3"
        missing=$(LD_LIBRARY_PATH=$libdir ldd "$stage/usr/bin/iperf3" | grep 'not found' || true)
        [ -z "$missing" ] || vdk_die "iperf3 needs libraries we could not stage: $missing"
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
