#!/bin/sh
# The measuring half of net-pair-bench.sh, run where /dev/kvm works (inside the outer machine).
#   net-pair-bench-inner.sh [N]
# Two guests, `alpha` (10.0.0.1, iperf3 server) and `beta` (10.0.0.2, client, measures), 256 MiB
# and 1 vCPU each, booting the tier-3 initramfs (build-initramfs.sh --net, scenario `net`):
# ping, then iperf3 TCP client->server ("tx") and server->client ("rx", iperf3 -R).
# Variants (BENCH_VARIANTS, run N rounds alternating; BENCH_EXTRA, run once each after them):
#   vdevkit          virtio-net-pci + peer link; each VMM under `taskset -c CPU` (alpha 0, beta 1)
#                    and `cpu runmask CPU` (as guest-tests/linux/run-pair.sh does)
#   qemu             QEMU -M microvm,acpi=on,pcie=on -accel kvm, virtio-net-pci, linked by
#                    -netdev $BENCH_QEMU_NETDEV (stream, or socket) on 127.0.0.1; taskset the same
#   *-swap           the roles swapped: alpha (CPU 0) is the client, beta (CPU 1) the server
#   vdevkit-vcpupin  no taskset: only the vCPU is pinned (`cpu runmask`), the NIC's data thread
#                    and the VMM's other threads float
#   vdevkit-nopin    neither (no taskset, no runmask): can wedge the nested outer machine
#   *-rxfirst        the client runs `iperf3 -R` first, then the client->server test
#   vdevkit-noofl    `peerfeats 0`: no offloads across the link (the sending NIC segments TSO
#                    frames and completes checksums), closer to QEMU's -netdev stream, which
#                    has no virtio-net header and so offers the guests no offloads at all
# Suffixes combine (vdevkit-vcpupin-swap, qemu-swap-rxfirst).
# Prints one "RUN" line per pair, `vdevkit stat` of both NICs after the measurements, and a
# table of medians per variant.
cd "${VDEVKIT_PAYLOAD:-.}" || exit 1
pid_alpha='' pid_beta='' # set by start_vdevkit, start_qemu
export LD_LIBRARY_PATH="$PWD" VDEVKIT_MODULE_PATH="$PWD/modules"
rt=$(mktemp -d /tmp/vdevkit-rt.XXXXXX)
export VDEVKIT_RUNTIME_DIR="$rt"
n=${1:-3}
secs=${NET_IPERF_SECS:-5}
variants=${BENCH_VARIANTS:-vdevkit qemu}
extra=${BENCH_EXTRA:-}
netdev=${BENCH_QEMU_NETDEV:-stream}
port=5555
pair_timeout=${BENCH_PAIR_TIMEOUT:-240}
: > results.txt
echo "net-pair-bench: $(nproc) CPUs, iperf3 ${secs}s per direction, $n rounds of: $variants; once: ${extra:-nothing}"

# BENCH_ARCH=arm64: arm64 guests, QEMU -M virt,gic-version=3 (its PL011 the console) and
# vdevkit with a pl011 in the same place.
if [ "${BENCH_ARCH:-amd64}" = arm64 ]; then
    console=ttyAMA0 ram_line="ram 0x40000000,256M" kernel=Image
    uart="vdev pl011 loc 0x9000000 intr gic:1"
else
    console=ttyS0 ram_line="ram 256M" kernel=bzImage uart="vdev ser8250"
fi

# cmdline NAME ROLE IP PEER_IP MAC: the guest's command line (the `net` scenario of /init).
cmdline() {
    echo "console=$console panic=-1 loglevel=5 vdevkit.scenario=net vdevkit.role=$2" \
        "vdevkit.ip=$3/24 vdevkit.peer=$4 vdevkit.mac=$5 vdevkit.mtu=1500 vdevkit.secs=$secs" \
        "vdevkit.after=wait"
}

# start_vdevkit NAME CPU NIC PEER_NAME PEER_NIC ROLE IP PEER_IP MAC PIN(full|vcpu|none)
# ($nic_extra: more options for the NIC)
start_vdevkit() {
    {
        echo "system $1"
        echo "$ram_line"
        if [ "${10}" = none ]; then echo "cpu"; else echo "cpu runmask $2"; fi
        echo "load $kernel"
        echo "initrd load $initrd"
        echo "cmdline \"$(cmdline "$1" "$6" "$7" "$8" "$9")\""
        echo "$uart"
        echo "vdev virtio-net name $3 peer $rt/$4/$5 mac $9 mtu 1500 $nic_extra"
    } > "$1.conf"
    if [ "${10}" = full ]; then
        taskset -c "$2" ./vdevkit run @"$1.conf" > "$1.log" 2>&1 < /dev/null &
    else
        ./vdevkit run @"$1.conf" > "$1.log" 2>&1 < /dev/null &
    fi
    eval "pid_$1=$!"
}

# start_qemu NAME CPU ROLE IP PEER_IP MAC SERVER(on|off)
start_qemu() {
    if [ "$netdev" = socket ]; then
        if [ "$7" = on ]; then nd="socket,id=n0,listen=127.0.0.1:$port"; else nd="socket,id=n0,connect=127.0.0.1:$port"; fi
    else
        nd="stream,id=n0,server=$7,addr.type=inet,addr.host=127.0.0.1,addr.port=$port"
    fi
    if [ "${BENCH_ARCH:-amd64}" = arm64 ]; then
        taskset -c "$2" ./qemu-system-aarch64 -M virt,gic-version=3 -accel kvm \
            -cpu host -smp 1 -m 256M -nodefaults -no-user-config -display none -serial stdio \
            -no-reboot -kernel Image -initrd "$initrd" -append "$(cmdline "$1" "$3" "$4" "$5" "$6")" \
            -netdev "$nd" -device "virtio-net-pci,netdev=n0,mac=$6,romfile=" \
            > "$1.log" 2>&1 < /dev/null &
    else
        taskset -c "$2" ./qemu-system-x86_64 -L qemu-share -M microvm,acpi=on,pcie=on -accel kvm \
            -cpu host -smp 1 -m 256M -nodefaults -no-user-config -display none -serial stdio \
            -no-reboot -kernel bzImage -initrd "$initrd" -append "$(cmdline "$1" "$3" "$4" "$5" "$6")" \
            -netdev "$nd" -device "virtio-net-pci,netdev=n0,mac=$6,romfile=" \
            > "$1.log" 2>&1 < /dev/null &
    fi
    eval "pid_$1=$!"
}

# threads PID: each thread of the VMM as comm:cpu-seconds@last-CPU (where the time went).
threads() {
    for t in /proc/"$1"/task/*; do
        # comm may hold spaces: take the fields after the closing parenthesis
        sed 's/^[0-9]* (\(.*\)) /\1|/' "$t/stat" 2>/dev/null | awk -F'|' -v hz=100 '{
            split($2, f, " "); gsub(/ /, "_", $1)
            printf "%s:%.1fs@cpu%s ", $1, (f[12] + f[13]) / hz, f[37] }'
    done
}

metric() { grep -a "VDEVKIT-METRIC $2 " "$1.log" | tr -d '\r' | awk '{ print $3 }' | tail -1; }

# one VARIANT ROUND: boots the pair, waits for the client's result, prints a RUN line.
one() {
    v=$1
    impl=${v%%-*}
    client=beta server=alpha
    case $v in *-swap*) client=alpha server=beta ;; esac
    pin=full
    case $v in *-vcpupin*) pin=vcpu ;; *-nopin*) pin=none ;; esac
    nic_extra=
    initrd="initrd-net.img"
    case $v in *-rxfirst*) initrd="initrd-net-rxfirst.img" ;; esac
    case $v in *-noofl*) nic_extra="peerfeats 0" ;; esac
    role_alpha=server role_beta=client
    [ "$client" = alpha ] && role_alpha=client role_beta=server
    rm -f alpha.log beta.log
    t0=$(date +%s)
    if [ "$impl" = qemu ]; then
        port=$((port + 1))
        start_qemu alpha 0 "$role_alpha" 10.0.0.1 10.0.0.2 52:54:00:00:00:01 on
        sleep 1 # the listening side first: QEMU 7.2 does not retry a refused connect
        start_qemu beta 1 "$role_beta" 10.0.0.2 10.0.0.1 52:54:00:00:00:02 off
    else
        start_vdevkit alpha 0 curly beta moe "$role_alpha" 10.0.0.1 10.0.0.2 52:54:00:00:00:01 $pin
        start_vdevkit beta 1 moe alpha curly "$role_beta" 10.0.0.2 10.0.0.1 52:54:00:00:00:02 $pin
    fi
    waited=0
    while ! grep -aq 'VDEVKIT-RESULT net' "$client.log" 2>/dev/null; do
        if [ ! -e "/proc/$pid_alpha" ] || [ ! -e "/proc/$pid_beta" ]; then break; fi
        grep -aqE 'soft lockup|Kernel panic' alpha.log beta.log 2>/dev/null && break
        [ $waited -ge "$pair_timeout" ] && break
        sleep 1
        waited=$((waited + 1))
    done
    secs_used=$(( $(date +%s) - t0 ))
    # the counters after the measurements (the client stays up: vdevkit.after=wait)
    stats=
    if [ "$impl" = vdevkit ]; then
        for s in alpha beta; do
            stats="$stats
    stat $s: $(./vdevkit stat $s 2>&1 | grep -a virtio-net | tr -s ' ')"
        done
    fi
    stats="$stats
    threads alpha: $(threads "$pid_alpha")
    threads beta: $(threads "$pid_beta")"
    kill -KILL "$pid_alpha" "$pid_beta" 2>/dev/null
    wait "$pid_alpha" "$pid_beta" 2>/dev/null
    ping=$(metric "$client" ping-rtt-avg) tx=$(metric "$client" iperf3-tx) rx=$(metric "$client" iperf3-rx)
    order=$(grep -ao 'VDEVKIT-METRIC iperf3-[rt]x' "$client.log" | sed 's/.*-//' | tr '\n' ' ')
    read -r load _ < /proc/loadavg
    if grep -aq 'VDEVKIT-RESULT net ok' "$client.log"; then
        echo "$v $ping $tx $rx" >> results.txt
        echo "RUN $v round $2: ping ${ping} ms, tx (client $client -> server $server) ${tx} Mbit/s, rx (-R, $server -> $client) ${rx} Mbit/s (order: ${order}; ${secs_used}s, outer load $load)$stats"
    else
        echo "RUN $v round $2: FAILED after ${secs_used}s: $(grep -a 'VDEVKIT-RESULT' "$client.log" | tr -d '\r' | head -1)$stats"
        for s in alpha beta; do
            echo "    --- $s console tail ---"
            tail -n 12 "$s.log" | tr -d '\r' | sed 's/^/    /'
        done
    fi
}

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "-" }'; }
col() { awk -v v="$1" -v c="$2" '$1 == v { print $c }' results.txt; }

i=1
while [ $i -le "$n" ]; do
    for v in $variants; do one "$v" $i; done
    i=$((i + 1))
done
for v in $extra; do one "$v" 1; done

echo
printf '%-18s %5s %12s %14s %14s\n' variant runs "ping avg" "tx c->s" "rx s->c (-R)"
for v in $variants $extra; do
    printf '%-18s %5s %9s ms %9s Mbit/s %9s Mbit/s\n' "$v" "$(col "$v" 1 | wc -l)" \
        "$(col "$v" 2 | median)" "$(col "$v" 3 | median)" "$(col "$v" 4 | median)"
done
for v in $variants; do
    printf 'net-pair: %s ping %s ms, tx %s Mbit/s, rx %s Mbit/s (medians of %s)\n' "$v" \
        "$(col "$v" 2 | median)" "$(col "$v" 3 | median)" "$(col "$v" 4 | median)" "$(col "$v" 1 | wc -l)"
done
rm -rf "$rt"
