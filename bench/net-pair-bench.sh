#!/usr/bin/env bash
# Guest-to-guest networking under vdevkit and under QEMU, in ONE boot of the outer machine:
# N rounds (default 3) alternating a vdevkit pair (virtio-net-pci + peer link) and a QEMU 7.2
# pair (-M microvm,acpi=on,pcie=on -accel kvm, virtio-net-pci on -netdev tap,vhost=on, both taps
# in one Linux bridge: libvirt's default for guests on one host), then once a QEMU pair linked by
# -netdev stream on 127.0.0.1. The same Debian kernel and tier-3 initramfs (build-initramfs.sh
# --net), 256 MiB, 1 vCPU, each VMM pinned to its own outer CPU. Measures ping RTT (avg of 5),
# iperf3 TCP both ways and, per MB moved, each guest's doorbell writes, NIC interrupts,
# interrupts injected and VM exits (KVM's counters in the outer kernel's debugfs); prints the
# medians. See bench/net-pair-bench-inner.sh for the variants and how the costs are counted.
#   bench/net-pair-bench.sh [--arch arm64] BUILD_DIR [N]
# --arch arm64: BUILD_DIR is an aarch64 build; the arm64 guests in the arm64 outer machine,
# QEMU being Debian's arm64 7.2 (-M virt,gic-version=3), both guests' consoles a PL011 (no
# ethtool in its initramfs: no kick counts).
# Environment: NET_IPERF_SECS (5), BENCH_VARIANTS ("vdevkit-vcpupin qemu-vhost": the vCPUs
# pinned, the device threads free, for both), BENCH_EXTRA (variants
# run once after the rounds; default "qemu-stream", "" for none; e.g. "vdevkit-swap qemu-tap"),
# BENCH_QEMU_NETDEV (the plain `qemu` variant's back-end: stream|socket|vhost|tap), BENCH_WARMUP
# (1: a pair of the first variant before the rounds, not counted; 0: none), BENCH_VCPUS (1:
# vCPUs per guest; more: vCPU i on outer CPU i for both VMMs), BENCH_STREAMS (1: iperf3 -P),
# BENCH_QUEUES (2: the pairs of the `-mq` variants, e.g. "vdevkit-vcpupin-mq qemu-vhost-mq").
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
arch=amd64
if [ "${1:-}" = --arch ]; then arch=$2; shift 2; fi
export VDEVKIT_ARCH=$arch
build=$(cd "${1:?usage: net-pair-bench.sh [--arch arm64] BUILD_DIR [N]}" && pwd)
n=${2:-3}
payload_tag=netbench
. "$top/bench/net-bench-payload.sh"
cp "$top/bench/net-pair-bench-inner.sh" "$payload/"
variants=${BENCH_VARIANTS:-vdevkit-vcpupin qemu-vhost}
extra=${BENCH_EXTRA-qemu-stream}
nvar=$(( $(echo "$variants" | wc -w) * n + $(echo "$extra" | wc -w) + 1 ))
echo "host load before: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(cat /proc/loadavg)"
t0=$(date +%s)
status=0
# tun, bridge and vhost_net: the tap variants (QEMU makes the taps, the bench the bridge)
VDEVKIT_OUTER_SILENCE=${VDEVKIT_OUTER_SILENCE:-300} \
VDEVKIT_OUTER_MODULES="${VDEVKIT_OUTER_MODULES:-} tun bridge vhost_net" \
"$top/guest-tests/harness/outer.sh" --arch "$arch" --smp 2 --mem 2048 --timeout $((120 + nvar * 150)) \
    --payload "$payload" -- env BENCH_ARCH="$arch" NET_IPERF_SECS="${NET_IPERF_SECS:-5}" \
    BENCH_VARIANTS="$variants" BENCH_EXTRA="$extra" BENCH_WARMUP="${BENCH_WARMUP:-1}" \
    BENCH_QEMU_NETDEV="${BENCH_QEMU_NETDEV:-stream}" BENCH_POLL_US="${BENCH_POLL_US:-50}" \
    BENCH_VCPUS="${BENCH_VCPUS:-1}" BENCH_STREAMS="${BENCH_STREAMS:-1}" BENCH_QUEUES="${BENCH_QUEUES:-2}" \
    BENCH_COAL="${BENCH_COAL:-coalesce-rx-us 100 coalesce-tx-us 100 coalesce-adaptive}" \
    sh ./net-pair-bench-inner.sh "$n" || status=$?
echo "host load after: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(cat /proc/loadavg) ($(($(date +%s) - t0)) s in all)"
exit "$status"
