#!/usr/bin/env bash
# Guest <-> host networking: vdevkit's host peer (`vdevkit net-peer`, TAP vp0) against QEMU's
# tap netdev (vhost off, and vhost on when vhost_net loads), in ONE boot of the outer machine.
# The same Debian kernel and tier-3 initramfs (build-initramfs.sh --net, scenario net-host:
# the guest serves iperf3), 256 MiB, 1 vCPU, the guest's VMM pinned to outer CPU 0; the host
# side (10.0.9.1) pings the guest (10.0.9.2) and runs iperf3 both ways against it. N rounds
# (default 2) alternating the variants; prints a RUN line per run and a table of medians.
#   bench/host-net-bench.sh BUILD_DIR [N]
# Environment: NET_IPERF_SECS (5), BENCH_VARIANTS ("vdevkit-vcpupin vdevkit-tap qemu-vhost"; also qemu-tap;
# vdevkit-relay: net-peer handoff=off; vdevkit-nooffload: offload=off; vdevkit-tap: the direct
# tap). Prints the costs per MiB moved too (VM exits, injected interrupts, CPU time by thread,
# frames). See host-net-bench-inner.sh.
# Needs qemu-system-x86 on this host: its binary, libraries (outer.sh stages them, ~50 MB
# in the outer machine's RAM) and the few ROMs a -kernel boot of microvm needs are copied in.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:?usage: host-net-bench.sh BUILD_DIR [N]}" && pwd)
n=${2:-2}
payload_tag=hostbench
. "$top/bench/net-bench-payload.sh"
# the host side's iperf3 (found through LD_LIBRARY_PATH=payload)
cp "$VDEVKIT_IPERF3_ROOT/usr/bin/iperf3" "$payload/"
for lib in "$VDEVKIT_IPERF3_ROOT"/usr/lib/x86_64-linux-gnu/*.so.[0-9]; do cp -L "$lib" "$payload/"; done
cp "$top/bench/host-net-bench-inner.sh" "$payload/"
# iproute2's ip for vdevkit-tap's `ip tuntap` (busybox ip has none); outer.sh stages its libraries
mkdir -p "$payload/tools"
p=$(PATH=$PATH:/usr/sbin:/sbin command -v ip) && cp -L "$p" "$payload/tools/ip"
variants=${BENCH_VARIANTS:-vdevkit-vcpupin vdevkit-tap qemu-vhost}
nvar=$(( $(echo "$variants" | wc -w) * n ))
echo "host load before: $(uptime)"
status=0
VDEVKIT_OUTER_SILENCE=${VDEVKIT_OUTER_SILENCE:-300} \
VDEVKIT_OUTER_MODULES="${VDEVKIT_OUTER_MODULES:-} tun vhost_net" \
"$top/guest-tests/harness/outer.sh" --smp 2 --mem 2048 --timeout $((120 + nvar * 200)) \
    --payload "$payload" -- env NET_IPERF_SECS="${NET_IPERF_SECS:-5}" \
    BENCH_VARIANTS="$variants" sh ./host-net-bench-inner.sh "$n" || status=$?
echo "host load after: $(uptime)"
exit "$status"
