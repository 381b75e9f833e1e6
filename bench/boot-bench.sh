#!/usr/bin/env bash
# Boot-to-init of the same stock Debian kernel and initramfs under vdevkit and under QEMU
# (-M microvm,acpi=on -accel kvm), in the same machine and run: median of N (default 5),
# and each VMM's own memory (resident memory without guest RAM, which both keep in one anonymous mapping). Runs
# inside the outer QEMU machine where the host has no hardware virtualization.
#   bench/boot-bench.sh [--arch arm64] BUILD_DIR [N]
# --arch arm64: BUILD_DIR is an aarch64 build (e.g. build-aarch64); the arm64 guest under the
# arm64 vdevkit and under Debian's arm64 QEMU 7.2 (-M virt,gic-version=3 -accel kvm; fetched by
# guest-tests/images/fetch-qemu-arm64.sh), in the arm64 outer machine; both with a 16550 UART
# (vdevkit's ser8250 at 0x9000000, QEMU's pl011: `quiet` keeps the console nearly silent).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
arch=amd64
if [ "${1:-}" = --arch ]; then arch=$2; shift 2; fi
build=$(cd "${1:?usage: boot-bench.sh [--arch arm64] BUILD_DIR [N]}" && pwd)
n=${2:-5}
export VDEVKIT_ARCH=$arch
eval "$("$top/guest-tests/images/fetch.sh")"
if [ "$arch" = amd64 ]; then
    command -v qemu-system-x86_64 >/dev/null || { echo "needs qemu-system-x86"; exit 1; }
else
    eval "$("$top/guest-tests/images/fetch-qemu-arm64.sh")"
fi

payload=$(mktemp -d /tmp/vdevkit-bench-XXXXXX)
trap 'rm -rf "$payload"' EXIT
cp "$build/vmm/vdevkit" "$payload/"
cp -P "$build"/core/libvdev.so* "$payload/"
mkdir -p "$payload/modules" "$payload/qemu-share"
cp "$build"/modules/vdev-*.so "$payload/modules/"
"$top/guest-tests/linux/build-initramfs.sh" "$payload/initrd.img"
if [ "$arch" = amd64 ]; then
    cp "$VDEVKIT_VMLINUZ" "$payload/bzImage"
    cp "$(command -v qemu-system-x86_64)" "$payload/"
    for f in bios-microvm.bin qboot.rom linuxboot_dma.bin linuxboot.bin kvmvapic.bin; do
        cp -L "/usr/share/qemu/$f" "$payload/qemu-share/" 2>/dev/null || true
    done
else
    cp "$VDEVKIT_VMLINUZ" "$payload/Image"
    # (its libraries: outer.sh stages them from that folder, VDEVKIT_EXTRA_ROOTS)
    cp "$VDEVKIT_QEMU_ARM64_ROOT/usr/bin/qemu-system-aarch64" "$payload/"
fi
cp "$top/bench/boot-bench-inner.sh" "$payload/"
echo "host load before: $(uptime)"
VDEVKIT_EXTRA_ROOTS=${VDEVKIT_QEMU_ARM64_ROOT:-} \
    "$top/guest-tests/harness/outer.sh" --arch "$arch" --timeout 1500 --payload "$payload" -- \
    env BENCH_ARCH="$arch" sh ./boot-bench-inner.sh "$n"
echo "host load after: $(uptime)"
