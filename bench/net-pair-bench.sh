#!/usr/bin/env bash
# Guest-to-guest networking under vdevkit and under QEMU, in ONE boot of the outer machine:
# N rounds (default 3) alternating a vdevkit pair (virtio-net-pci + peer link) and a QEMU 7.2
# pair (-M microvm,acpi=on,pcie=on -accel kvm, virtio-net-pci, -netdev stream on 127.0.0.1),
# the same Debian kernel and tier-3 initramfs (build-initramfs.sh --net), 256 MiB, 1 vCPU, each
# VMM pinned to its own outer CPU. Measures ping RTT (avg of 5) and iperf3 TCP both ways;
# prints a table of medians. See bench/net-pair-bench-inner.sh for the variants.
#   bench/net-pair-bench.sh BUILD_DIR [N]
# Environment: NET_IPERF_SECS (5), BENCH_VARIANTS ("vdevkit qemu"), BENCH_EXTRA (variants run
# once after the rounds, e.g. "vdevkit-swap vdevkit-vcpupin qemu-swap"), BENCH_QEMU_NETDEV
# (stream|socket).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:?usage: net-pair-bench.sh BUILD_DIR [N]}" && pwd)
n=${2:-3}
eval "$("$top/guest-tests/images/fetch.sh")"
command -v qemu-system-x86_64 >/dev/null || { echo "needs qemu-system-x86"; exit 1; }
[ -n "${VDEVKIT_IPERF3_ROOT:-}" ] || { echo "needs iperf3 (fetch.sh could not fetch it)"; exit 1; }

payload=$(mktemp -d /tmp/vdevkit-netbench-XXXXXX)
trap 'rm -rf "$payload"' EXIT
cp "$build/vmm/vdevkit" "$payload/"
cp -P "$build"/core/libvdev.so* "$payload/"
mkdir -p "$payload/modules" "$payload/qemu-share"
cp "$build"/modules/vdev-*.so "$payload/modules/"
cp "$VDEVKIT_VMLINUZ" "$payload/bzImage"
"$top/guest-tests/linux/build-initramfs.sh" --net "$payload/initrd-net.img"
cp "$(command -v qemu-system-x86_64)" "$payload/"
for f in bios-microvm.bin qboot.rom linuxboot_dma.bin linuxboot.bin kvmvapic.bin; do
    cp -L "/usr/share/qemu/$f" "$payload/qemu-share/" 2>/dev/null || true
done
cp "$top/bench/net-pair-bench-inner.sh" "$payload/"
nvar=$(( $(echo "${BENCH_VARIANTS:-vdevkit qemu}" | wc -w) * n + $(echo "${BENCH_EXTRA:-}" | wc -w) ))
echo "host load before: $(uptime)"
status=0
VDEVKIT_OUTER_SILENCE=${VDEVKIT_OUTER_SILENCE:-300} \
"$top/guest-tests/harness/outer.sh" --smp 2 --mem 2048 --timeout $((120 + nvar * 150)) \
    --payload "$payload" -- env NET_IPERF_SECS="${NET_IPERF_SECS:-5}" \
    BENCH_VARIANTS="${BENCH_VARIANTS:-vdevkit qemu}" BENCH_EXTRA="${BENCH_EXTRA:-}" \
    BENCH_QEMU_NETDEV="${BENCH_QEMU_NETDEV:-stream}" sh ./net-pair-bench-inner.sh "$n" || status=$?
echo "host load after: $(uptime)"
exit "$status"
