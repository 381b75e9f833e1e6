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
#                      (the host peer hands its TAP to the NIC: net-peer's handoff=on)
#   VARIANT-devpin     (vdevkit-vcpupin, vdevkit-tap) the NIC's data thread pinned to CPU 1
#   VARIANT-coal, -poll (vdevkit ones) the NIC's interrupt moderation (BENCH_COAL) or busy
#                      polling (BENCH_POLL_US), as in net-pair-bench
#   vdevkit-relay      the same with handoff=off: every frame through the host peer's rings
#   vdevkit-nooffload  the same, the host peer with offload=off (no hand-over either)
#   vdevkit-tap        vdevkit's direct tap (`vdev virtio-net tap vt0`, made with ip tuntap):
#                      the NIC's data thread does the TAP I/O, no host peer; vCPU pinned
#   qemu-tap           QEMU -M microvm,acpi=on,pcie=on -accel kvm, virtio-net-pci on
#                      -netdev tap,ifname=qt0,script=no,downscript=no,vhost=off
#   qemu-vhost         the same with vhost=on (the kernel's vhost_net moves the rings; skipped
#                      without /dev/vhost-net)
# The host peer, iperf3 and vhost's worker are not pinned (the scheduler keeps them mostly on
# CPU 1). Prints one RUN line per run and a table of medians, then the costs per MB moved
# (medians), counted the same way for every stack from outside the guest: the VM's exits by
# kind and its injected interrupts (the outer kernel's KVM debugfs, summed over vCPUs), and
# the CPU time of the vCPU thread, of the device's data thread (vdevkit's `virtio-net`;
# QEMU's vhost worker `vhost-PID`), of the VMM's other threads and of the host peer process.
cd "${VDEVKIT_PAYLOAD:-.}" || exit 1
export LD_LIBRARY_PATH="$PWD" VDEVKIT_MODULE_PATH="$PWD/modules"
rt=$(mktemp -d /tmp/vdevkit-rt.XXXXXX)
export VDEVKIT_RUNTIME_DIR="$rt"
n=${1:-2}
secs=${NET_IPERF_SECS:-5}
variants=${BENCH_VARIANTS:-vdevkit-vcpupin vdevkit-tap qemu-vhost}
boot_timeout=${BENCH_BOOT_TIMEOUT:-240}
mac=52:54:00:00:00:01
: > results.txt
: > costs.txt
kvmdbg=/sys/kernel/debug/kvm
[ -d $kvmdbg ] || mount -t debugfs debugfs /sys/kernel/debug 2> /dev/null
[ -d $kvmdbg ] || echo "host-net-bench: no $kvmdbg (debugfs): no exit or injection counts"
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

# write_conf WIRE: alpha.conf, its vCPU pinned to CPU 0, its NIC on WIRE (`peer PATH`, `tap IF`)
write_conf() {
    {
        echo "system alpha"
        echo "ram 256M"
        echo "cpu runmask 0"
        echo "load bzImage"
        echo "initrd load initrd-net.img"
        echo "cmdline \"$(cmdline)\""
        echo "vdev ser8250"
        echo "vdev virtio-net name curly $1 mac $mac mtu 1500 $nic_extra"
    } > alpha.conf
}

# start_vdevkit OFFLOAD(on|off) [vcpu [HANDOFF(on|off)]]: the host peer (vp0) and the guest
# (vcpu: no taskset, only the vCPU pinned); sets hif, pid_guest, pid_hp
start_vdevkit() {
    ./vdevkit net-peer "peer=$rt/alpha/curly,bind=$rt/host/vp0,mac=52:54:00:00:09:01,offload=$1,handoff=${3:-on}" > net-peer.log 2>&1 &
    pid_hp=$!
    hif=vp0
    wait_if vp0 || return 1
    ip addr add 10.0.9.1/24 dev vp0
    write_conf "peer $rt/host/vp0"
    if [ "$2" = vcpu ]; then
        ./vdevkit run @alpha.conf > alpha.log 2>&1 < /dev/null &
    else
        taskset -c 0 ./vdevkit run @alpha.conf > alpha.log 2>&1 < /dev/null &
    fi
    pid_guest=$!
}

# start_tap: vdevkit's direct tap on vt0 (made here, as root would once); vCPU pinned only
start_tap() {
    pid_hp=
    hif=vt0
    [ -x tools/ip ] || return 1 # iproute2 (busybox ip has no tuntap)
    tools/ip tuntap add vt0 mode tap || return 1
    tools/ip link set vt0 up
    tools/ip addr add 10.0.9.1/24 dev vt0
    write_conf "tap vt0"
    ./vdevkit run @alpha.conf > alpha.log 2>&1 < /dev/null &
    pid_guest=$!
}

# start_qemu VHOST(on|off): QEMU makes the tap qt0 (with a virtio-net header, like our TAP)
start_qemu() {
    pid_hp=
    hif=qt0
    taskset -c 0 ./qemu-system-x86_64 -L qemu-share -M microvm,acpi=on,pcie=on -accel kvm \
        -name alpha,debug-threads=on -cpu host -smp 1 -m 256M -nodefaults -no-user-config -display none -serial stdio \
        -no-reboot -kernel bzImage -initrd initrd-net.img -append "$(cmdline)" \
        -netdev "tap,id=n0,ifname=qt0,script=no,downscript=no,vhost=$1" \
        -device "virtio-net-pci,netdev=n0,mac=$mac,romfile=" > alpha.log 2>&1 < /dev/null &
    pid_guest=$!
    wait_if qt0 || return 1
    ip addr add 10.0.9.1/24 dev qt0
    ip link set qt0 up
}

# cpu_ticks: "name:ticks" of the guest's VMM threads by what they do (vcpu: its vCPU thread,
# vdevkit's `vcpuN` or QEMU's `CPU N/KVM`; dev: the NIC's data thread, vdevkit's `virtio-net`
# or QEMU's vhost worker kthread `vhost-PID`; vmm: the VMM's other threads) and of the host
# peer (helper). utime + stime, USER_HZ ticks.
cpu_ticks() {
    ct_v=$(grep -l "^vhost-$pid_guest\$" /proc/[0-9]*/comm 2> /dev/null | sed 's|/comm$||')
    for ct_t in /proc/"$pid_guest"/task/* $ct_v; do
        sed 's/^[0-9]* (\(.*\)) /\1|/' "$ct_t/stat" 2> /dev/null | awk -F'|' '{
            split($2, f, " ")
            k = "vmm"
            if ($1 ~ /^vcpu[0-9]/ || $1 ~ /^CPU [0-9]*\/KVM/) k = "vcpu"
            else if ($1 == "virtio-net" || $1 ~ /^vhost-/) k = "dev"
            print k, f[12] + f[13] }'
    done
    if [ -n "$pid_hp" ]; then
        for ct_t in /proc/"$pid_hp"/task/*; do
            sed 's/^[0-9]* (\(.*\)) /\1|/' "$ct_t/stat" 2> /dev/null | awk -F'|' '{
                split($2, f, " "); print "helper", f[12] + f[13] }'
        done
    fi
}

# snap FILE: "name:value" lines: uptime, the VM's KVM counters, cpu-KIND ticks
snap() {
    {
        read -r sn_up _ < /proc/uptime
        echo "uptime:$sn_up"
        for sn_d in "$kvmdbg/$pid_guest"-*; do
            [ -d "$sn_d" ] || continue
            for sn_f in "$sn_d"/*; do [ -f "$sn_f" ] && echo "${sn_f##*/}:$(cat "$sn_f" 2> /dev/null)"; done
            break
        done
        cpu_ticks | awk '{ t[$1] += $2 } END { for (k in t) print "cpu-" k ":" t[k] }'
        # the frames the host interface saw: its rx are the guest's sends (TSO frames whole)
        for sn_k in rx_packets tx_packets; do
            echo "if-$sn_k:$(cat "/sys/class/net/$hif/statistics/$sn_k" 2> /dev/null)"
        done
    } > "$1"
}

# host_iperf DIR [ARGS]: Mbit/s at the receiver of one host-side iperf3 run, DIR (h2g: the
# guest receives; g2h: with -R, the guest sends) naming the snapshots kvm.DIR.b/e around it
# and mb.DIR (MiB moved). The guest's iperf3 server may still be closing the previous test
# (slow nested vCPU): "Connection reset by peer" on the control connection; up to 3 tries,
# 2 s apart, each counted in iperf.log.
host_iperf() {
    hi_dir=$1
    shift
    try=1
    while :; do
        snap "kvm.$hi_dir.b"
        out=$(timeout $((secs + 30)) ./iperf3 -c 10.0.9.2 -t "$secs" -f m "$@" 2>&1)
        snap "kvm.$hi_dir.e"
        echo "$out" | sed "s/^/    iperf3 (try $try): /" >> iperf.log
        v=$(echo "$out" | awk '/receiver/ { for (i = 2; i <= NF; i++) if ($i == "Mbits/sec") v = $(i - 1) } END { print v }')
        echo "$out" | awk '/receiver/ { for (i = 3; i <= NF; i++) {
                m = 0
                if ($i == "KBytes") m = 1 / 1024; else if ($i == "MBytes") m = 1; else if ($i == "GBytes") m = 1024
                if (m) { print $(i - 1) * m; exit } } }' > "mb.$hi_dir"
        case $out in *"error -"*) v= ;; esac
        [ -n "$v" ] && { echo "$v"; return 0; }
        [ $try -lt 3 ] || return 1
        try=$((try + 1))
        sleep 2
    done
}

# cost DIR: one line in costs.txt for the test DIR of the run just done: VARIANT DIR MB, then
# per MB: exits, pf, halt, irq, irqwin, io, other, user-mmio, injected, CPU ms of the
# vCPU, the device thread, the VMM's other threads, the host peer, and all of them, and the
# data frames the host interface counted (its rx for g2h, tx for h2g: their size, TSO or not)
cost() {
    [ -s "mb.$1" ] || return 0
    awk -v v="$v" -v dir="$1" -v mb="$(cat "mb.$1")" '
        { split($0, p, ":"); x[FILENAME == ARGV[1] ? "b" : "e", p[1]] = p[2] }
        function d(n) { return (("b", n) in x && ("e", n) in x) ? (x["e", n] - x["b", n]) / mb : "-" }
        function f(y) { return y == "-" ? "-" : sprintf("%.2f", y) }
        END {
            if (mb <= 0) exit
            ex = d("exits"); other = ex
            split("pf_taken halt_exits irq_exits irq_window_exits io_exits", kinds, " ")
            printf "%s %s %.1f %s", v, dir, mb, f(ex)
            for (i = 1; i <= 5; i++) { k = d(kinds[i]); printf " %s", f(k); if (k != "-" && other != "-") other -= k }
            printf " %s %s %s", f(other), f(d("mmio_exits")), f(d("irq_injections"))
            tot = 0
            split("vcpu dev vmm helper", cs, " ")
            for (i = 1; i <= 4; i++) { c = d("cpu-" cs[i]); if (c == "-") c = 0; c *= 10; tot += c; printf " %.2f", c }
            # frames per MiB on the host interface, in the direction of the data
            printf " %.2f %s\n", tot, f(d(dir == "g2h" ? "if-rx_packets" : "if-tx_packets"))
        }' "kvm.$1.b" "kvm.$1.e" >> costs.txt
}

# the costs of this run as text (the costs.txt lines after line FROM)
costs_text() {
    awk -v from="$1" 'NR > from {
        printf "    %s %s MiB: per MiB frames %s, exits %s = pf %s, halt %s, irq %s, irqwin %s, io %s, other %s (to user MMIO %s); injected %s; CPU ms vCPU %s, device %s, VMM other %s, host peer %s, all %s\n",
            $2, $3, $18, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17 }' costs.txt
}

one() {
    v=$1
    rm -f alpha.log iperf.log net-peer.log kvm.* mb.*
    # -coal, -poll: the NIC's levers (docs/virtio-net.md), as in net-pair-bench
    nic_extra=
    case $v in *-poll*) nic_extra="poll-us ${BENCH_POLL_US:-50}" ;; esac
    case $v in *-coal*) nic_extra="$nic_extra ${BENCH_COAL:-coalesce-rx-us 100 coalesce-tx-us 100 coalesce-adaptive}" ;; esac
    vv=${v%-coal}
    vv=${vv%-poll}
    t0=$(date +%s)
    case $vv in
        vdevkit) start_vdevkit on ;;
        vdevkit-vcpupin | vdevkit-vcpupin-devpin) start_vdevkit on vcpu ;;
        vdevkit-relay) start_vdevkit on vcpu off ;;
        vdevkit-nooffload) start_vdevkit off ;;
        vdevkit-tap | vdevkit-tap-devpin) start_tap || { echo "RUN $v round $2: SKIP (ip tuntap add vt0 failed)"; return 0; } ;;
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
    # -devpin: the NIC's data thread on outer CPU 1, away from the vCPU (libvirt's emulatorpin)
    case $v in *-devpin)
        for t in /proc/"$pid_guest"/task/*; do
            [ "$(cat "$t/comm" 2> /dev/null)" = virtio-net ] && taskset -p -c 1 "${t##*/}" > /dev/null
        done ;;
    esac
    ping= tx= rx=
    if grep -aq 'net-host ready' alpha.log; then
        ping=$(ping -c 5 -i 0.2 -W 2 10.0.9.2 2>&1 | sed -n 's|.*min/avg/max = [0-9.]*/\([0-9.]*\)/.*|\1|p')
        tx=$(host_iperf h2g)
        rx=$(host_iperf g2h -R)
    fi
    stats=
    case $v in vdevkit*) stats="
    stat alpha: $(./vdevkit stat alpha 2>&1 | grep -a virtio-net | tr -s ' ')" ;; esac
    kill -KILL "$pid_guest" 2> /dev/null
    wait "$pid_guest" 2> /dev/null
    if [ -n "$pid_hp" ]; then
        kill -TERM "$pid_hp" 2> /dev/null
        wait "$pid_hp" 2> /dev/null
    fi
    [ "$hif" = vt0 ] && tools/ip link del vt0 2> /dev/null # persistent: made by us, not the VMM
    # QEMU's tap goes with it; wait so the next variant's interface name is free
    i=0
    while [ -e "/sys/class/net/$hif" ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
    read -r load _ < /proc/loadavg
    if [ -n "$tx" ] && [ -n "$rx" ]; then
        echo "$v ${ping:--} $tx $rx" >> results.txt
        from=$(wc -l < costs.txt)
        cost h2g
        cost g2h
        echo "RUN $v round $2: ping ${ping:-?} ms, host -> guest $tx Mbit/s, guest -> host (-R) $rx Mbit/s (guest ready after ${boot}s, outer load $load)
$(costs_text "$from")$stats"
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

# the medians of each cost over a variant's runs, per direction
echo
echo "costs per MiB moved (medians): VM exits by kind, interrupts injected, CPU ms by thread"
awk '{ k = $1 " " $2; n[k]++; for (i = 3; i <= NF; i++) c[k, i, n[k]] = $i; if (!(k in seen)) { seen[k] = 1; keys[++nk] = k } }
    function med(k, i,   m, a, j, t) {
        m = n[k]
        for (j = 1; j <= m; j++) a[j] = c[k, i, j]
        for (j = 1; j <= m; j++) for (t = j + 1; t <= m; t++) if (a[t] + 0 < a[j] + 0) { x = a[j]; a[j] = a[t]; a[t] = x }
        return a[int((m + 1) / 2)]
    }
    END {
        for (q = 1; q <= nk; q++) {
            k = keys[q]
            printf "host-net-cost: %s frames %s exits %s pf %s halt %s irq %s irqwin %s io %s other %s user-mmio %s injected %s cpu-ms vcpu %s device %s vmm %s host-peer %s all %s (per MiB, medians of %d)\n",
                k, med(k, 18), med(k, 4), med(k, 5), med(k, 6), med(k, 7), med(k, 8), med(k, 9), med(k, 10), med(k, 11), med(k, 12), med(k, 13), med(k, 14), med(k, 15), med(k, 16), med(k, 17), n[k]
        }
    }' costs.txt
