#!/bin/sh
# The measuring half of host-net-bench.sh, run where /dev/kvm works (inside the outer machine).
#   host-net-bench-inner.sh [N]
# One guest at a time, `alpha` (10.0.9.2, 256 MiB, 1 vCPU, scenario net-host of the tier-3
# /init: it serves iperf3), its VMM under `taskset -c 0`; the host side is 10.0.9.1 on the
# stack's host interface. The host pings alpha (5) and runs iperf3 against it: host -> guest
# and guest -> host (-R), NET_IPERF_SECS each. Variants (BENCH_VARIANTS, N rounds alternating):
#   vdevkit            vdevkit (virtio-net-pci, `cpu runmask 0`) + `vdevkit net-peer` (TAP vp0)
#   vdevkit-vcpupin    the same without taskset: only the vCPU is pinned (`cpu runmask 0`),
#                      the NIC's data thread floats, as vhost's worker does for qemu-vhost
#   vdevkit-nooffload  the same, the host peer with offload=off
#   qemu-tap           QEMU -M microvm,acpi=on,pcie=on -accel kvm, virtio-net-pci on
#                      -netdev tap,ifname=qt0,script=no,downscript=no,vhost=off
#   qemu-vhost         the same with vhost=on (the kernel's vhost_net moves the rings; skipped
#                      without /dev/vhost-net)
# The host peer, iperf3 and vhost's worker are not pinned (the scheduler keeps them mostly on
# CPU 1). Prints one RUN line per run and a table of medians.
cd "${VDEVKIT_PAYLOAD:-.}" || exit 1
export LD_LIBRARY_PATH="$PWD" VDEVKIT_MODULE_PATH="$PWD/modules"
rt=$(mktemp -d /tmp/vdevkit-rt.XXXXXX)
export VDEVKIT_RUNTIME_DIR="$rt"
n=${1:-2}
secs=${NET_IPERF_SECS:-5}
variants=${BENCH_VARIANTS:-vdevkit-vcpupin qemu-tap qemu-vhost}
boot_timeout=${BENCH_BOOT_TIMEOUT:-240}
mac=52:54:00:00:00:01
: > results.txt
echo "host-net-bench: $(nproc) CPUs, iperf3 ${secs}s per direction, $n rounds of: $variants"

cmdline() {
    echo "console=ttyS0 panic=-1 loglevel=5 vdevkit.scenario=net-host vdevkit.role=server" \
        "vdevkit.ip=10.0.9.2/24 vdevkit.peer=10.0.9.1 vdevkit.mac=$mac vdevkit.mtu=1500"
}

# wait_if IF: the interface exists (10 s)
wait_if() {
    i=0
    while [ ! -e "/sys/class/net/$1" ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
    [ -e "/sys/class/net/$1" ]
}

# start_vdevkit OFFLOAD(on|off) [vcpu]: the host peer (vp0) and the guest (vcpu: no taskset,
# only the vCPU pinned); sets hif, pid_guest, pid_hp
start_vdevkit() {
    ./vdevkit net-peer "peer=$rt/alpha/curly,bind=$rt/host/vp0,mac=52:54:00:00:09:01,offload=$1" > net-peer.log 2>&1 &
    pid_hp=$!
    hif=vp0
    wait_if vp0 || return 1
    ip addr add 10.0.9.1/24 dev vp0
    {
        echo "system alpha"
        echo "ram 256M"
        echo "cpu runmask 0"
        echo "load bzImage"
        echo "initrd load initrd-net.img"
        echo "cmdline \"$(cmdline)\""
        echo "vdev ser8250"
        echo "vdev virtio-net name curly peer $rt/host/vp0 mac $mac mtu 1500"
    } > alpha.conf
    if [ "$2" = vcpu ]; then
        ./vdevkit run @alpha.conf > alpha.log 2>&1 < /dev/null &
    else
        taskset -c 0 ./vdevkit run @alpha.conf > alpha.log 2>&1 < /dev/null &
    fi
    pid_guest=$!
}

# start_qemu VHOST(on|off): QEMU makes the tap qt0 (with a virtio-net header, like our TAP)
start_qemu() {
    pid_hp=
    hif=qt0
    taskset -c 0 ./qemu-system-x86_64 -L qemu-share -M microvm,acpi=on,pcie=on -accel kvm \
        -cpu host -smp 1 -m 256M -nodefaults -no-user-config -display none -serial stdio \
        -no-reboot -kernel bzImage -initrd initrd-net.img -append "$(cmdline)" \
        -netdev "tap,id=n0,ifname=qt0,script=no,downscript=no,vhost=$1" \
        -device "virtio-net-pci,netdev=n0,mac=$mac,romfile=" > alpha.log 2>&1 < /dev/null &
    pid_guest=$!
    wait_if qt0 || return 1
    ip addr add 10.0.9.1/24 dev qt0
    ip link set qt0 up
}

# Mbit/s at the receiver of one host-side iperf3 run (-R: the guest sends). The guest's
# iperf3 server may still be closing the previous test (slow nested vCPU): "Connection reset
# by peer" on the control connection; up to 3 tries, 2 s apart, each counted in iperf.log.
host_iperf() {
    try=1
    while :; do
        out=$(timeout $((secs + 30)) ./iperf3 -c 10.0.9.2 -t "$secs" -f m "$@" 2>&1)
        echo "$out" | sed "s/^/    iperf3 (try $try): /" >> iperf.log
        v=$(echo "$out" | awk '/receiver/ { for (i = 2; i <= NF; i++) if ($i == "Mbits/sec") v = $(i - 1) } END { print v }')
        case $out in *"error -"*) v= ;; esac
        [ -n "$v" ] && { echo "$v"; return 0; }
        [ $try -lt 3 ] || return 1
        try=$((try + 1))
        sleep 2
    done
}

one() {
    v=$1
    rm -f alpha.log iperf.log net-peer.log
    t0=$(date +%s)
    case $v in
        vdevkit) start_vdevkit on ;;
        vdevkit-vcpupin) start_vdevkit on vcpu ;;
        vdevkit-nooffload) start_vdevkit off ;;
        qemu-tap) start_qemu off ;;
        qemu-vhost)
            if [ ! -c /dev/vhost-net ]; then
                echo "RUN $v round $2: SKIP (no /dev/vhost-net: vhost_net did not load)"
                return 0
            fi
            start_qemu on
            ;;
        *) echo "RUN $v: unknown variant"; return 0 ;;
    esac
    waited=0
    while ! grep -aq 'net-host ready' alpha.log 2> /dev/null; do
        [ -e "/proc/$pid_guest" ] || break
        grep -aqE 'soft lockup|Kernel panic' alpha.log 2> /dev/null && break
        [ $waited -ge "$boot_timeout" ] && break
        sleep 1
        waited=$((waited + 1))
    done
    boot=$(( $(date +%s) - t0 ))
    ping= tx= rx=
    if grep -aq 'net-host ready' alpha.log; then
        ping=$(ping -c 5 -i 0.2 -W 2 10.0.9.2 2>&1 | sed -n 's|.*min/avg/max = [0-9.]*/\([0-9.]*\)/.*|\1|p')
        tx=$(host_iperf)
        rx=$(host_iperf -R)
    fi
    stats=
    [ -n "$pid_hp" ] && stats="
    stat alpha: $(./vdevkit stat alpha 2>&1 | grep -a virtio-net | tr -s ' ')"
    kill -KILL "$pid_guest" 2> /dev/null
    wait "$pid_guest" 2> /dev/null
    if [ -n "$pid_hp" ]; then
        kill -TERM "$pid_hp" 2> /dev/null
        wait "$pid_hp" 2> /dev/null
    fi
    # QEMU's tap goes with it; wait so the next variant's interface name is free
    i=0
    while [ -e "/sys/class/net/$hif" ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
    read -r load _ < /proc/loadavg
    if [ -n "$tx" ] && [ -n "$rx" ]; then
        echo "$v ${ping:--} $tx $rx" >> results.txt
        echo "RUN $v round $2: ping ${ping:-?} ms, host -> guest $tx Mbit/s, guest -> host (-R) $rx Mbit/s (guest ready after ${boot}s, outer load $load)$stats"
    else
        echo "RUN $v round $2: FAILED (ready after ${boot}s; tx '${tx}' rx '${rx}')$stats"
        tail -n 12 alpha.log | tr -d '\r' | sed 's/^/    console: /'
        [ -s iperf.log ] && tail -n 8 iperf.log
        [ -s net-peer.log ] && tail -n 4 net-peer.log | sed 's/^/    net-peer: /'
    fi
}

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "-" }'; }
col() { awk -v v="$1" -v c="$2" '$1 == v { print $c }' results.txt; }

round=1 # (not $i: the functions use it)
while [ $round -le "$n" ]; do
    for v in $variants; do one "$v" $round; done
    round=$((round + 1))
done

echo
printf '%-18s %5s %12s %16s %16s\n' variant runs "ping avg" "host -> guest" "guest -> host"
for v in $variants; do
    printf '%-18s %5s %9s ms %9s Mbit/s %9s Mbit/s\n' "$v" "$(col "$v" 1 | wc -l)" \
        "$(col "$v" 2 | median)" "$(col "$v" 3 | median)" "$(col "$v" 4 | median)"
done
for v in $variants; do
    printf 'host-net: %s ping %s ms, host->guest %s Mbit/s, guest->host %s Mbit/s (medians of %s)\n' "$v" \
        "$(col "$v" 2 | median)" "$(col "$v" 3 | median)" "$(col "$v" 4 | median)" "$(col "$v" 1 | wc -l)"
done
rm -rf "$rt"
