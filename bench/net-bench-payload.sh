# Sourced by the network benchmarks (net-pair-bench.sh, host-net-bench.sh): checks what they
# need and stages the outer machine's payload they share in $payload (made here, removed on
# exit): vdevkit, libvdev and the modules of $build, the guest kernel, the tier-3 net
# initramfs, and QEMU with the few ROMs a -kernel boot of microvm needs (virtio-net-pci
# gets romfile=, no iPXE ROM). Needs $top, $build and a name for the temporary folder in
# $payload_tag. Leaves $payload set.
eval "$("$top/guest-tests/images/fetch.sh")"
command -v qemu-system-x86_64 > /dev/null || { echo "needs qemu-system-x86"; exit 1; }
[ -n "${VDEVKIT_IPERF3_ROOT:-}" ] || { echo "needs iperf3 (fetch.sh could not fetch it)"; exit 1; }

payload=$(mktemp -d "/tmp/vdevkit-$payload_tag-XXXXXX")
trap 'rm -rf "$payload"' EXIT
cp "$build/vmm/vdevkit" "$payload/"
cp -P "$build"/core/libvdev.so* "$payload/"
mkdir -p "$payload/modules" "$payload/qemu-share"
cp "$build"/modules/vdev-*.so "$payload/modules/"
cp "$VDEVKIT_VMLINUZ" "$payload/bzImage"
"$top/guest-tests/linux/build-initramfs.sh" --net "$payload/initrd-net.img"
cp "$(command -v qemu-system-x86_64)" "$payload/"
for f in bios-microvm.bin qboot.rom linuxboot_dma.bin linuxboot.bin kvmvapic.bin; do
    cp -L "/usr/share/qemu/$f" "$payload/qemu-share/" 2> /dev/null || true
done
