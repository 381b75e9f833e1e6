#!/usr/bin/env bash
# Guest-to-guest networking under vdevkit and under QEMU, in ONE boot of the outer machine:
# N rounds (default 3) alternating a vdevkit pair (virtio-net-pci + peer link) and a QEMU 7.2
# pair (-M microvm,acpi=on,pcie=on -accel kvm, virtio-net-pci, -netdev stream on 127.0.0.1),
# the same Debian kernel and tier-3 initramfs (build-initramfs.sh --net), 256 MiB, 1 vCPU, each
# VMM pinned to its own outer CPU. Measures ping RTT (avg of 5) and iperf3 TCP both ways;
# prints a table of medians. See bench/net-pair-bench-inner.sh for the variants.
#   bench/net-pair-bench.sh [--arch arm64] BUILD_DIR [N]
# --arch arm64: BUILD_DIR is an aarch64 build; the arm64 guests in the arm64 outer machine,
# QEMU being Debian's arm64 7.2 (-M virt,gic-version=3), both guests' consoles a PL011.
# Environment: NET_IPERF_SECS (5), BENCH_VARIANTS ("vdevkit qemu"), BENCH_EXTRA (variants run
# once after the rounds, e.g. "vdevkit-swap vdevkit-vcpupin qemu-swap"), BENCH_QEMU_NETDEV
# (stream|socket).
# The `*-rxfirst` variants boot an initramfs whose client runs `iperf3 -R` first.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
arch=amd64
if [ "${1:-}" = --arch ]; then arch=$2; shift 2; fi
export VDEVKIT_ARCH=$arch
build=$(cd "${1:?usage: net-pair-bench.sh [--arch arm64] BUILD_DIR [N]}" && pwd)
n=${2:-3}
payload_tag=netbench
. "$top/bench/net-bench-payload.sh"
# The same initramfs with the client's two iperf3 tests in the other order (-R first), for
# the `*-rxfirst` variants: a second cpio archive appended, whose /init replaces the first's.
rxfirst=$(mktemp -d)
# shellcheck disable=SC2016  # the $ are sed's and /init's, not ours
sed -e '/^        tx=$(iperf3_run) || net_fail iperf3-tx$/{N;h;d}' \
    -e '/^        echo "VDEVKIT-METRIC iperf3-rx $rx Mbit\/s"$/G' \
    "$top/guest-tests/linux/init" > "$rxfirst/init"
chmod 0755 "$rxfirst/init"
# shellcheck disable=SC2016
r=$(grep -n 'rx=$(iperf3_run -R)' "$rxfirst/init" | cut -d: -f1)
# shellcheck disable=SC2016
t=$(grep -n 'tx=$(iperf3_run) ' "$rxfirst/init" | cut -d: -f1)
if [ -z "$r" ] || [ -z "$t" ] || [ "$r" -gt "$t" ]; then
    echo "net-pair-bench: could not reorder /init's iperf3 tests"
    exit 1
fi
cp "$payload/initrd-net.img" "$payload/initrd-net-rxfirst.img"
(cd "$rxfirst" && echo init | cpio -o -H newc -R 0:0 --quiet | gzip -9) >> "$payload/initrd-net-rxfirst.img"
rm -rf "$rxfirst"
cp "$top/bench/net-pair-bench-inner.sh" "$payload/"
nvar=$(( $(echo "${BENCH_VARIANTS:-vdevkit qemu}" | wc -w) * n + $(echo "${BENCH_EXTRA:-}" | wc -w) ))
echo "host load before: $(uptime)"
status=0
VDEVKIT_OUTER_SILENCE=${VDEVKIT_OUTER_SILENCE:-300} \
"$top/guest-tests/harness/outer.sh" --arch "$arch" --smp 2 --mem 2048 --timeout $((120 + nvar * 150)) \
    --payload "$payload" -- env BENCH_ARCH="$arch" NET_IPERF_SECS="${NET_IPERF_SECS:-5}" \
    BENCH_VARIANTS="${BENCH_VARIANTS:-vdevkit qemu}" BENCH_EXTRA="${BENCH_EXTRA:-}" \
    BENCH_QEMU_NETDEV="${BENCH_QEMU_NETDEV:-stream}" sh ./net-pair-bench-inner.sh "$n" || status=$?
echo "host load after: $(uptime)"
exit "$status"
