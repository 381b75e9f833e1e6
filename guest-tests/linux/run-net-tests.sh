#!/usr/bin/env bash
# Tier 3, network: two stock Debian guests on a virtio-net peer link (run-pair.sh), directly
# where the host has hardware virtualization, else inside the outer QEMU machine; and one
# guest with the host itself through `vdevkit net-peer` (scenario `host`), and one with a small
# world of namespaces behind the host peer: a bridge and a NAT (scenario `world`).
#   run-net-tests.sh BUILD_DIR
# Exits 77 (ctest: skipped) when the build has no virtio-net module or iperf3 could not be
# fetched. NET_NO_NIC=1 boots the pair without the NIC (checks the harness itself).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "${1:?usage: run-net-tests.sh BUILD_DIR}" && pwd)
eval "$("$here/../images/fetch.sh")"

# (the module's folder may hold only its internals while it is being written). grep reads
# all of nm's output: with pipefail, `grep -q` stopping early made nm die of SIGPIPE and the
# check fail on a good module (7 runs in 8 here).
if [ "${NET_NO_NIC:-0}" != 1 ] && ! nm -D "$build/modules/vdev-virtio-net.so" 2>/dev/null |
    grep ' vdev_module_virtio_net$' > /dev/null; then
    echo "net: SKIP: this build has no virtio-net module (vdev-virtio-net.so with vdev_module_virtio_net)"
    exit 77
fi
if [ -z "${VDEVKIT_IPERF3_ROOT:-}" ]; then
    echo "net: SKIP: iperf3 could not be fetched (see fetch.sh's warning)"
    exit 77
fi

payload=$(mktemp -d /tmp/vdevkit-net-XXXXXX)
trap 'rm -rf "$payload"' EXIT
cp "$build/vmm/vdevkit" "$payload/"
cp -P "$build"/core/libvdev.so* "$payload/"
mkdir -p "$payload/modules"
cp "$build"/modules/vdev-*.so "$payload/modules/"
cp "$VDEVKIT_VMLINUZ" "$payload/bzImage"
"$here/build-initramfs.sh" --net "$payload/initrd-net.img"
cp "$here/run-pair.sh" "$here/vmm-procs.sh" "$payload/"
# iperf3 for the host side of the `host` scenario (found through LD_LIBRARY_PATH=payload)
cp "$VDEVKIT_IPERF3_ROOT/usr/bin/iperf3" "$payload/"
for lib in "$VDEVKIT_IPERF3_ROOT"/usr/lib/x86_64-linux-gnu/*.so.[0-9]; do cp -L "$lib" "$payload/"; done
# `world`: iproute2's ip (namespaces, veth, bridge; busybox ip has none of them) and nft
# (the NAT; optional) from this host; outer.sh stages their libraries.
mkdir -p "$payload/tools"
for t in ip nft; do
    p=$(PATH=$PATH:/usr/sbin:/sbin command -v $t || true)
    if [ -n "$p" ]; then
        cp -L "$p" "$payload/tools/$t"
    else
        echo "net: note: no $t on this host; 'world' $([ $t = ip ] && echo 'is skipped' || echo 'skips its NAT part') (scripts/install-deps.sh installs it)"
    fi
done
log=$(mktemp /tmp/vdevkit-net-log.XXXXXX)
pcap=$(mktemp /tmp/vdevkit-net-pcap.XXXXXX)
trap 'rm -rf "$payload" "$log" "$pcap"' EXIT

status=0
# Two guests of 256 MiB, one per outer vCPU; the payload (~20 MB) lives in outer RAM.
# tun: the host peer's TAP (`host`, `world`); veth, bridge and nftables' NAT: `world`
# (libcrc32c, which nf_tables needs, finds crc32c only through a softdep: named here). The
# console is kept: the capture comes back on it.
VDEVKIT_OUTER_SILENCE=${VDEVKIT_OUTER_SILENCE:-300} \
VDEVKIT_OUTER_MODULES="${VDEVKIT_OUTER_MODULES:-} tun veth bridge crc32c_generic nf_tables nft_chain_nat nft_masq" \
"$here/../harness/outer.sh" --smp 2 --mem 2048 --timeout "${VDEVKIT_NET_TIMEOUT:-1300}" --retry-env \
    --payload "$payload" -- env NET_ONLY="${NET_ONLY:-}" NET_NO_NIC="${NET_NO_NIC:-0}" \
    NET_IPERF_SECS="${NET_IPERF_SECS:-5}" NET_HOST_IPERF_SECS="${NET_HOST_IPERF_SECS:-3}" \
    sh ./run-pair.sh 2>&1 | tee "$log" || status=$?
# `host`: the ping captured on alpha's NIC came back base64 on the console; Debian's tshark
# must read it and see the echo request and reply. Only the last complete block counts: an
# outer machine retried after an environment failure (outer.sh --retry-env) may have
# printed one already.
if grep -aq 'VDEVKIT-PCAP-BEGIN' "$log"; then
    tr -d '\r' < "$log" | awk '/^VDEVKIT-PCAP-BEGIN/ { cur = ""; on = 1; next }
        /^VDEVKIT-PCAP-END/ { if (on) last = cur; on = 0; next }
        on { cur = cur $0 "\n" }
        END { printf "%s", last }' | base64 -d > "$pcap" 2>/dev/null || true
    if ! command -v tshark > /dev/null; then
        echo "net: host-capture: SKIP: no tshark on this host (scripts/install-deps.sh installs it)"
    elif out=$(tshark -r "$pcap" -Y icmp 2>&1) && grep -q 'Echo (ping) request' <<<"$out" &&
        grep -q 'Echo (ping) reply' <<<"$out"; then
        echo "net: host-capture: PASS tshark -r read $(tshark -r "$pcap" 2>/dev/null | wc -l) frames; ICMP:"
        sed 's/^/    /' <<<"$out"
    else
        echo "net: host-capture: FAIL: tshark -r did not show an ICMP echo request and reply:"
        sed 's/^/    /' <<<"$out"
        [ "$status" -ne 0 ] || status=1
    fi
fi
if [ "$status" -eq 125 ]; then
    echo "net: ENVIRONMENT FAILURE (the outer machine failed, not vdevkit)"
fi
exit "$status"
