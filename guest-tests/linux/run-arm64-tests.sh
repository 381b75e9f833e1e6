#!/usr/bin/env bash
# Tier 3 on ARM: stock Debian arm64 guests under the arm64 vdevkit, in one arm64 outer machine
# (guest-tests/harness/outer.sh --arch arm64; nested KVM with VHE under TCG on x86 hosts).
#   run-arm64-tests.sh [ARM64_BUILD_DIR]   (default: <source>/build-aarch64)
# Builds (or brings up to date) the aarch64 cross build there first (cmake/aarch64-linux-gnu.cmake,
# scripts/install-cross-deps.sh), the arm64 initramfs with the network and shmem tools
# (iperf3 from Debian's arm64 packages, gshm cross-compiled), then runs arm64-scenarios.sh
# inside: boot and reset, the two-NIC peer-linked pair, link down on a killed peer, shmem on
# MMIO and on PCI. Prints one line per scenario and "N passed, M failed".
# ARM64_ONLY="boot net shmem" picks the groups.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:-$top/build-aarch64}
export VDEVKIT_ARCH=arm64

sysroot=$("$top/scripts/install-cross-deps.sh")
VDEVKIT_ARM64_SYSROOT="$sysroot" "$top/scripts/build.sh" "$build" \
    -DCMAKE_TOOLCHAIN_FILE="$top/cmake/aarch64-linux-gnu.cmake" -DVDEVKIT_TESTS=OFF > /dev/null
build=$(cd "$build" && pwd)
file -L "$build/vmm/vdevkit" | grep -q "ARM aarch64" || { echo "arm64: $build holds no arm64 vdevkit"; exit 1; }
eval "$("$here/../images/fetch.sh")"

payload=$(mktemp -d /tmp/vdevkit-arm64-XXXXXX)
trap 'rm -rf "$payload"' EXIT
cp "$build/vmm/vdevkit" "$payload/"
cp -P "$build"/core/libvdev.so* "$payload/"
mkdir -p "$payload/modules"
cp "$build"/modules/vdev-*.so "$payload/modules/"
cp "$VDEVKIT_VMLINUZ" "$payload/Image"
# (the power button's modules; a program that reads MMIO with ldp)
GUEST_PROGRAMS="$here/arm64/mmio-ldp.c" "$here/build-initramfs.sh" "$payload/initrd.img" gpio_keys evdev
"$here/build-initramfs.sh" --net "$payload/initrd-net.img"
"$here/build-initramfs.sh" --shmem "$payload/initrd-shmem.img"
cp "$here/arm64-scenarios.sh" "$here/run-pair.sh" "$here/vmm-procs.sh" \
    "$here/shmem/run-shmem-pair.sh" "$payload/"

status=0
# Two guests of 256 MiB with 2 vCPUs each on the outer machine's 2 vCPUs; the payload
# (~60 MB) lives in outer RAM.
"$here/../harness/outer.sh" --arch arm64 --smp 2 --mem 2048 --timeout "${VDEVKIT_ARM64_TIMEOUT:-900}" \
    --retry-env --payload "$payload" -- env ARM64_ONLY="${ARM64_ONLY:-}" sh ./arm64-scenarios.sh ||
    status=$?
if [ "$status" -eq 125 ]; then
    echo "arm64: ENVIRONMENT FAILURE (the outer machine failed, not vdevkit)"
fi
exit "$status"
