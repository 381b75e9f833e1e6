# Sourced by the network benchmarks (net-pair-bench.sh, host-net-bench.sh): checks what they
# need and stages the outer machine's payload they share in $payload (made here, removed on
# exit): vdevkit, libvdev and the modules of $build, the guest kernel, the tier-3 net
# initramfs, and QEMU with the few ROMs a -kernel boot of microvm needs (virtio-net-pci
# gets romfile=, no iPXE ROM). Needs $top, $build and a name for the temporary folder in
# $payload_tag. Leaves $payload set. With VDEVKIT_ARCH=arm64 ($build an aarch64 build): the
# arm64 kernel (Image) and initramfs, and Debian's arm64 QEMU (fetch-qemu-arm64.sh; its
# libraries go in through VDEVKIT_EXTRA_ROOTS, which this exports).
eval "$("$top/guest-tests/images/fetch.sh")"
if [ "${VDEVKIT_ARCH:-amd64}" = arm64 ]; then
    eval "$("$top/guest-tests/images/fetch-qemu-arm64.sh")"
    export VDEVKIT_EXTRA_ROOTS=$VDEVKIT_QEMU_ARM64_ROOT
else
    command -v qemu-system-x86_64 > /dev/null || { echo "needs qemu-system-x86"; exit 1; }
fi
[ -n "${VDEVKIT_IPERF3_ROOT:-}" ] || { echo "needs iperf3 (fetch.sh could not fetch it)"; exit 1; }

payload=$(mktemp -d "/tmp/vdevkit-$payload_tag-XXXXXX")
trap 'rm -rf "$payload"' EXIT
cp "$build/vmm/vdevkit" "$payload/"
cp -P "$build"/core/libvdev.so* "$payload/"
mkdir -p "$payload/modules" "$payload/qemu-share"
cp "$build"/modules/vdev-*.so "$payload/modules/"
"$top/guest-tests/linux/build-initramfs.sh" --net "$payload/initrd-net.img"
if [ "${VDEVKIT_ARCH:-amd64}" = arm64 ]; then
    cp "$VDEVKIT_VMLINUZ" "$payload/Image"
    cp "$VDEVKIT_QEMU_ARM64_ROOT/usr/bin/qemu-system-aarch64" "$payload/"
else
    cp "$VDEVKIT_VMLINUZ" "$payload/bzImage"
    cp "$(command -v qemu-system-x86_64)" "$payload/"
    for f in bios-microvm.bin qboot.rom linuxboot_dma.bin linuxboot.bin kvmvapic.bin; do
        cp -L "/usr/share/qemu/$f" "$payload/qemu-share/" 2> /dev/null || true
    done
fi
