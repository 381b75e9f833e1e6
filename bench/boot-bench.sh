#!/usr/bin/env bash
# Boot-to-init of the same stock Debian kernel and initramfs under vdevkit and under QEMU
# (-M microvm,acpi=on -accel kvm), in the same machine and run: median of N (default 5),
# and each VMM's own memory (resident memory without guest RAM, which both keep in a memfd). Runs
# inside the outer QEMU machine where the host has no hardware virtualization.
#   bench/boot-bench.sh BUILD_DIR [N]
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:?usage: boot-bench.sh BUILD_DIR [N]}" && pwd)
n=${2:-5}
eval "$("$top/guest-tests/images/fetch.sh")"
command -v qemu-system-x86_64 >/dev/null || { echo "needs qemu-system-x86"; exit 1; }

payload=$(mktemp -d /tmp/vdevkit-bench-XXXXXX)
trap 'rm -rf "$payload"' EXIT
cp "$build/vmm/vdevkit" "$payload/"
cp -P "$build"/core/libvdev.so* "$payload/"
mkdir -p "$payload/modules" "$payload/qemu-share"
cp "$build"/modules/vdev-*.so "$payload/modules/"
cp "$VDEVKIT_VMLINUZ" "$payload/bzImage"
"$top/guest-tests/linux/build-initramfs.sh" "$payload/initrd.img"
cp "$(command -v qemu-system-x86_64)" "$payload/"
for f in bios-microvm.bin qboot.rom linuxboot_dma.bin linuxboot.bin kvmvapic.bin; do
    cp -L "/usr/share/qemu/$f" "$payload/qemu-share/" 2>/dev/null || true
done
cp "$top/bench/boot-bench-inner.sh" "$payload/"
"$top/guest-tests/harness/outer.sh" --timeout 1500 --payload "$payload" -- \
    sh ./boot-bench-inner.sh "$n"
