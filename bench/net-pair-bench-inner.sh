#!/bin/sh
# The measuring half of net-pair-bench.sh, run where /dev/kvm works (inside the outer machine).
#   net-pair-bench-inner.sh [N]
# Two guests, `alpha` (10.0.0.1, iperf3 server) and `beta` (10.0.0.2, client, measures), 256 MiB
# and 1 vCPU each, booting the tier-3 initramfs (build-initramfs.sh --net, scenario `net` with
# vdevkit.counters=1): ping, then iperf3 TCP client->server ("tx") and server->client ("rx",
# iperf3 -R), with the guests' NIC counters printed around each test.
# Variants (BENCH_VARIANTS, run N rounds alternating; BENCH_EXTRA, run once each after them):
#   vdevkit          virtio-net-pci + peer link; each VMM under `taskset -c CPU` (alpha 0, beta 1)
#                    and `cpu runmask CPU` (as guest-tests/linux/run-pair.sh does)
#   qemu-vhost       QEMU -M microvm,acpi=on,pcie=on -accel kvm, virtio-net-pci on
#                    -netdev tap,vhost=on, both taps (qa0, qb0) in one bridge br0 (libvirt's
#                    default for guests on one host: the kernel's vhost_net moves the frames);
#                    taskset the same; skipped without /dev/vhost-net
#   qemu-tap         the same with vhost=off (QEMU's main loop moves the frames)
#   qemu-stream      the same QEMUs linked by -netdev stream on 127.0.0.1 (no virtio-net header:
#                    no offloads for the guests); qemu-socket: -netdev socket
#   qemu             -netdev $BENCH_QEMU_NETDEV (stream, socket, vhost or tap; default stream)
#   *-swap           the roles swapped: alpha (CPU 0) is the client, beta (CPU 1) the server
#   vdevkit-vcpupin  no taskset: only the vCPU is pinned (`cpu runmask`), the NIC's data thread
#                    and the VMM's other threads float
#   vdevkit-nopin    neither (no taskset, no runmask): can wedge the nested outer machine
#   *-rxfirst        the client runs `iperf3 -R` first, then the client->server test
#   vdevkit-noofl    `peerfeats 0`: no offloads across the link (the sending NIC segments TSO
#                    frames and completes checksums), closer to QEMU's -netdev stream
#   vdevkit-*poll*   `poll-us $BENCH_POLL_US` (50): the data thread polls before it sleeps
#   vdevkit-*coal*   interrupt moderation: $BENCH_COAL (`coalesce-rx-us 100 coalesce-tx-us 100
#                    coalesce-adaptive`)
#   *-mmio           the NICs on virtio-mmio: vdevkit's at `loc 0xd0000000 intr ioapic:10` (x86:
#                    the IO-APIC's level line, found through ACPI), QEMU's a virtio-net-device on
#                    the microvm's own virtio-mmio transport (ACPI too)
#   *-mq             multiqueue, $BENCH_QUEUES (2) pairs: vdevkit `queues N`; QEMU
#                    -netdev tap,...,queues=N and virtio-net-pci,mq=on,vectors=2N+2
# BENCH_VCPUS (1): vCPUs per guest. With more, vCPU i runs on outer CPU i mod CPUs, for every
# VMM: vdevkit's `cpu runmask` (the VMM itself unpinned, as run-pair.sh does), QEMU's vCPU
# threads pinned with taskset once they exist (QEMU itself unpinned).
# BENCH_STREAMS (1): iperf3 -P N (the guests' vdevkit.streams).
# Suffixes combine (vdevkit-vcpupin-swap, qemu-vhost-swap-rxfirst). Before the rounds, a
# warm-up pair of the first variant whose figures do not count (BENCH_WARMUP=0: none).
# Costs per megabyte, the same way for every VMM, from outside the device: each guest's KVM
# counters (the outer kernel's debugfs, /sys/kernel/debug/kvm/PID-FD/: exits and their kinds,
# irq_injections), sampled when the client prints its counter line before and after each test
# (it rests 1 s after the first), and the guests' own (virtio_net's doorbell writes from
# `ethtool -S`, the NIC's interrupts from /proc/interrupts; the server's around each test it
# serves), divided by the MBytes iperf3's receiver reports (2^20 bytes).
# Prints one "RUN" line per pair with its costs, `vdevkit stat` of both NICs after the
# measurements, each VMM's threads' CPU time, a table of medians per variant and a table of
# the median costs per MB.
cd "${VDEVKIT_PAYLOAD:-.}" || exit 1
pid_alpha='' pid_beta='' # set by start_vdevkit, start_qemu
kvm_names='' # printed once
export LD_LIBRARY_PATH="$PWD" VDEVKIT_MODULE_PATH="$PWD/modules"
rt=$(mktemp -d /tmp/vdevkit-rt.XXXXXX)
export VDEVKIT_RUNTIME_DIR="$rt"
n=${1:-3}
secs=${NET_IPERF_SECS:-5}
variants=${BENCH_VARIANTS:-vdevkit-vcpupin qemu-vhost}
extra=${BENCH_EXTRA:-}
netdev=${BENCH_QEMU_NETDEV:-stream}
port=5555
pair_timeout=${BENCH_PAIR_TIMEOUT:-240}
warmup=${BENCH_WARMUP:-1}
vcpus=${BENCH_VCPUS:-1}
streams=${BENCH_STREAMS:-1}
queues=${BENCH_QUEUES:-2}
ncpu=$(nproc)
: > results.txt
: > costs.txt
echo "net-pair-bench: $(nproc) CPUs, iperf3 ${secs}s per direction, $n rounds of: $variants; once: ${extra:-nothing}; $vcpus vCPU(s) per guest, $streams iperf3 stream(s)"
echo "net-pair-bench: outer machine $(uname -r), $(date -u '+%Y-%m-%d %H:%M:%S UTC') at its start"

# BENCH_ARCH=arm64: arm64 guests, QEMU -M virt,gic-version=3 (its PL011 the console) and
# vdevkit with a pl011 in the same place.
if [ "${BENCH_ARCH:-amd64}" = arm64 ]; then
    console=ttyAMA0 ram_line="ram 0x40000000,256M" kernel=Image
    uart="vdev pl011 loc 0x9000000 intr gic:1"
else
    console=ttyS0 ram_line="ram 256M" kernel=bzImage uart="vdev ser8250"
fi

# The KVM counters of each VM (per VM, summed over its vCPUs) are in debugfs.
kvmdbg=/sys/kernel/debug/kvm
[ -d $kvmdbg ] || mount -t debugfs debugfs /sys/kernel/debug 2> /dev/null
[ -d $kvmdbg ] || echo "net-pair-bench: no $kvmdbg (debugfs): no exit or injection counts"

# The bridge of the tap variants, made by the first of them (STP off, no forwarding delay: a
# port forwards once it is up). Status 1 if it cannot be had.
bridge=
need_bridge() {
    [ -z "$bridge" ] || return 0
    [ -c /dev/net/tun ] && brctl addbr br0 2> /dev/null || return 1
    # (busybox's brctl has no stp or setfd here: sysfs)
    echo 0 > /sys/class/net/br0/bridge/stp_state
    echo 0 > /sys/class/net/br0/bridge/forward_delay
    ip link set br0 up
    bridge=br0
}

# cmdline NAME ROLE IP PEER_IP MAC: the guest's command line (the `net` scenario of /init).
cmdline() {
    echo "console=$console panic=-1 loglevel=5 vdevkit.scenario=net vdevkit.role=$2" \
        "vdevkit.ip=$3/24 vdevkit.peer=$4 vdevkit.mac=$5 vdevkit.mtu=1500 vdevkit.secs=$secs" \
        "vdevkit.after=wait vdevkit.counters=1$order vdevkit.streams=$streams"
}

# cpu_lines CPU: vdevkit's vCPU lines (PIN none: unpinned; BENCH_VCPUS > 1: vCPU i on CPU i)
cpu_lines() {
    i=0
    while [ $i -lt "$vcpus" ]; do
        if [ "$2" = none ]; then
            echo "cpu"
        elif [ "$vcpus" = 1 ]; then
            echo "cpu runmask $1"
        else
            echo "cpu runmask $((i % ncpu))"
        fi
        i=$((i + 1))
    done
}

# pin_qemu_vcpus PID: with BENCH_VCPUS > 1, QEMU's "CPU i/KVM" threads to outer CPU i mod
# CPUs (in the background: they appear once QEMU has set up the machine)
pin_qemu_vcpus() {
    [ "$vcpus" -gt 1 ] || return 0
    (
        t=0
        while [ $t -lt 50 ]; do
            pinned=0
            for task in /proc/"$1"/task/*; do
                c=$(cat "$task/comm" 2> /dev/null) || continue
                case $c in "CPU "*/KVM)
                    i=${c#CPU }
                    i=${i%%/*}
                    taskset -pc $((i % ncpu)) "${task##*/}" > /dev/null 2>&1 && pinned=$((pinned + 1))
                    ;;
                esac
            done
            [ $pinned -ge "$vcpus" ] && exit 0
            sleep 0.1
            t=$((t + 1))
        done
    ) &
}

# start_vdevkit NAME CPU NIC PEER_NAME PEER_NIC ROLE IP PEER_IP MAC PIN(full|vcpu|none)
# ($nic_extra: more options for the NIC)
start_vdevkit() {
    {
        echo "system $1"
        echo "$ram_line"
        cpu_lines "$2" "${10}"
        echo "load $kernel"
        echo "initrd load initrd-net.img"
        echo "cmdline \"$(cmdline "$1" "$6" "$7" "$8" "$9")\""
        echo "$uart"
        echo "vdev virtio-net name $3 peer $rt/$4/$5 mac $9 mtu 1500 $nic_extra"
    } > "$1.conf"
    if [ "${10}" = full ] && [ "$vcpus" = 1 ]; then
        taskset -c "$2" ./vdevkit run @"$1.conf" > "$1.log" 2>&1 < /dev/null &
    else
        ./vdevkit run @"$1.conf" > "$1.log" 2>&1 < /dev/null &
    fi
    eval "pid_$1=$!"
}

# wait_if IF: the interface exists (10 s)
wait_if() {
    i=0
    while [ ! -e "/sys/class/net/$1" ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
    [ -e "/sys/class/net/$1" ]
}

# start_qemu NAME CPU ROLE IP PEER_IP MAC SERVER(on|off) BACKEND(stream|socket|vhost|tap)
start_qemu() {
    case $8 in
        socket)
            if [ "$7" = on ]; then nd="socket,id=n0,listen=127.0.0.1:$port"; else nd="socket,id=n0,connect=127.0.0.1:$port"; fi
            ;;
        vhost | tap)
            tif=q$(echo "$1" | cut -c1)0 # qa0, qb0
            vh=off
            [ "$8" = vhost ] && vh=on
            nd="tap,id=n0,ifname=$tif,script=no,downscript=no,vhost=$vh"
            ;;
        *) nd="stream,id=n0,server=$7,addr.type=inet,addr.host=127.0.0.1,addr.port=$port" ;;
    esac
    dev_mq= qcpus=$2
    if [ -n "$mq" ]; then
        nd="$nd,queues=$queues"
        dev_mq=",mq=on,vectors=$((2 * queues + 2))"
    fi
    [ "$vcpus" = 1 ] || qcpus=0-$((ncpu - 1)) # its vCPU threads are pinned below
    if [ "${BENCH_ARCH:-amd64}" = arm64 ]; then
        taskset -c "$qcpus" ./qemu-system-aarch64 -M virt,gic-version=3 -accel kvm \
            -cpu host -smp "$vcpus" -m 256M -nodefaults -no-user-config -display none -serial stdio \
            -no-reboot -kernel Image -initrd initrd-net.img -append "$(cmdline "$1" "$3" "$4" "$5" "$6")" \
            -netdev "$nd" -device "virtio-net-pci,netdev=n0,mac=$6,romfile=$dev_mq" \
            > "$1.log" 2>&1 < /dev/null &
    else
        qdev="virtio-net-pci,netdev=n0,mac=$6,romfile=$dev_mq"
        qglob=
        # (version 2 like vdevkit's: QEMU's virtio-mmio is legacy unless told otherwise)
        [ "$mmio" = 0 ] || qdev="virtio-net-device,netdev=n0,mac=$6" qglob="virtio-mmio.force-legacy=false"
        taskset -c "$qcpus" ./qemu-system-x86_64 -L qemu-share -M microvm,acpi=on,pcie=on -accel kvm \
            ${qglob:+-global "$qglob"} \
            -cpu host -smp "$vcpus" -m 256M -nodefaults -no-user-config -display none -serial stdio \
            -no-reboot -kernel bzImage -initrd initrd-net.img -append "$(cmdline "$1" "$3" "$4" "$5" "$6")" \
            -netdev "$nd" -device "$qdev" \
            > "$1.log" 2>&1 < /dev/null &
    fi
    eval "pid_$1=$!"
    pin_qemu_vcpus $!
    case $8 in
        vhost | tap)
            # QEMU made the tap; it joins the bridge
            wait_if "$tif" && brctl addif br0 "$tif" && ip link set "$tif" up
            ;;
    esac
}

# threads PID: each thread of the VMM as comm:cpu-seconds@last-CPU (where the time went), and
# the kernel's vhost workers for it (vhost-PID).
threads() {
    for t in /proc/"$1"/task/* $(grep -l "^vhost-$1\$" /proc/[0-9]*/comm 2> /dev/null | sed 's|/comm$||'); do
        # comm may hold spaces: take the fields after the closing parenthesis
        sed 's/^[0-9]* (\(.*\)) /\1|/' "$t/stat" 2> /dev/null | awk -F'|' -v hz=100 '{
            split($2, f, " "); gsub(/ /, "_", $1)
            printf "%s:%.1fs@cpu%s ", $1, (f[12] + f[13]) / hz, f[37] }'
    done
}

metric() { grep -a "VDEVKIT-METRIC $2 " "$1.log" | tr -d '\r' | awk '{ print $3 }' | tail -1; }

# kvm_snap MARKER: each VM's KVM counters now, as "name:value" lines in kvm.MARKER.NAME
# (the functions below use their own variable names: the caller's $i, $d, $g are not theirs)
kvm_snap() {
    for ks_g in alpha beta; do
        ks_p=$pid_alpha
        [ $ks_g = alpha ] || ks_p=$pid_beta
        for ks_d in "$kvmdbg/$ks_p"-*; do
            [ -d "$ks_d" ] || continue
            ks_m=$1
            set --
            for ks_f in "$ks_d"/*; do [ -f "$ks_f" ] && set -- "$@" "$ks_f"; done
            read -r ks_up _ < /proc/uptime
            { echo "uptime:$ks_up"; grep -Hs . "$@" | sed 's|^.*/||'; } > "kvm.$ks_m.$ks_g"
            set -- "$ks_m"
            break
        done
    done
}

# sample: a KVM snapshot for each VDEVKIT-COUNTERS line of the client's that is new since the
# last call ($markers of them were seen); status 0 once the client printed its result.
sample() {
    sa_lines=$(grep -ao -e 'VDEVKIT-COUNTERS [a-z]*-[a-z]*' -e 'VDEVKIT-RESULT net' "$client.log" 2> /dev/null)
    sa_c=0
    for sa_w in $sa_lines; do
        case $sa_w in *-begin | *-end) ;; *) continue ;; esac
        sa_c=$((sa_c + 1))
        [ $sa_c -gt "$markers" ] || continue
        kvm_snap "$sa_w"
        markers=$sa_c
    done
    case $sa_lines in *VDEVKIT-RESULT*) return 0 ;; esac
    return 1
}

# counters LOG MARKER NTH: the NTH VDEVKIT-COUNTERS line of LOG whose marker is MARKER, its
# fields after the marker
counters() {
    grep -a "VDEVKIT-COUNTERS $2 " "$1" | tr -d '\r' | sed -n "${3}p" | sed 's/.*VDEVKIT-COUNTERS [^ ]* //'
}

# cost DIR: one line in costs.txt per guest for the test DIR (tx|rx) of the run just done:
#   VARIANT DIR ROLE GUEST MB, then per MB: kicks kicks-tx kicks-rx nic-irqs injections exits
#   pf halt irq irqwin io invlpg other user-mmio emulated, exits per second (not per MB) and
#   the frames per MB the guest sent (sender) or received (receiver): their size, TSO or not;
#   then the NIC interrupts of its receive queue and of its transmit queue (MSI-X vectors)
# ROLE: sender or receiver. The server's counters: its first or second test (by $order_seen).
# A figure that could not be had is "-".
cost() {
    dir=$1
    nth=1
    [ "$(echo "$order_seen" | awk '{ print $1 }')" = "$dir" ] || nth=2
    mb=$(counters "$client.log" "$dir-end" 1 | sed -n 's/.*iperf3-mbytes=\([0-9.]*\).*/\1/p')
    [ -n "$mb" ] || return 0
    for cg in "$client" "$server"; do
        if [ "$cg" = "$client" ]; then
            gb=$(counters "$client.log" "$dir-begin" 1) ge=$(counters "$client.log" "$dir-end" 1)
        else
            gb=$(counters "$server.log" srv-begin $nth) ge=$(counters "$server.log" srv-end $nth)
        fi
        role=receiver
        if [ "$dir" = tx ] && [ "$cg" = "$client" ]; then role=sender; fi
        if [ "$dir" = rx ] && [ "$cg" = "$server" ]; then role=sender; fi
        { echo "B $gb"; echo "E $ge"; } | awk -v v="$v" -v dir="$dir" -v role="$role" -v g="$cg" -v mb="$mb" \
            -v kb="kvm.$dir-begin.$cg" -v ke="kvm.$dir-end.$cg" '
            function num(x) { return x ~ /^[0-9]+$/ }
            # guest counters: name=value fields
            $1 == "B" || $1 == "E" {
                for (i = 2; i <= NF; i++) {
                    split($i, kv, "="); gv[$1, kv[1]] = kv[2]
                    if ($1 == "E" && kv[1] ~ /^irq-/) irqnames[kv[1]] = 1
                }
            }
            function gd(name) {
                if (!num(gv["B", name]) || !num(gv["E", name])) return "-"
                return (gv["E", name] - gv["B", name]) / mb
            }
            function kd(name) {
                if (!((kb, name) in kv0) || !((ke, name) in kv0)) return "-"
                return (kv0[ke, name] - kv0[kb, name]) / mb
            }
            function f(x) { return x == "-" ? "-" : sprintf("%.2f", x) }
            END {
                for (k = 0; k < 2; k++) {
                    file = k ? ke : kb
                    while ((getline line < file) > 0) { split(line, p, ":"); kv0[file, p[1]] = p[2] }
                }
                kt = gd("kicks-tx"); kr = gd("kicks-rx")
                kicks = (kt == "-" || kr == "-") ? "-" : kt + kr
                # all of the NIC lines; those of its receive (input.N) and transmit (output.N) queues
                irqs = 0; ni = 0; irx = 0; itx = 0
                for (nm in irqnames) {
                    d = gd(nm)
                    if (d == "-") continue
                    irqs += d; ni++
                    if (nm ~ /^irq-input\./) irx += d
                    if (nm ~ /^irq-output\./) itx += d
                }
                if (!ni) irqs = irx = itx = "-"
                ex = kd("exits"); other = ex
                split("pf_taken halt_exits irq_exits irq_window_exits io_exits invlpg", kinds, " ")
                for (i = 1; i <= 6; i++) { kk[i] = kd(kinds[i]); if (kk[i] != "-" && other != "-") other -= kk[i] }
                printf "%s %s %s %s %s %s %s %s %s %s %s", v, dir, role, g, mb, f(kicks), f(kt), f(kr), f(irqs), f(kd("irq_injections")), f(ex)
                for (i = 1; i <= 6; i++) printf " %s", f(kk[i])
                dt = kv0[ke, "uptime"] - kv0[kb, "uptime"]
                printf " %s %s %s %s %s %s %s\n", f(other), f(kd("mmio_exits")), f(kd("insn_emulation")),
                    (ex == "-" || dt <= 0) ? "-" : sprintf("%.0f", ex * mb / dt), f(gd(role == "sender" ? "tx-packets" : "rx-packets")), f(irx), f(itx)
            }' >> costs.txt
    done
}

# the costs of this run (the lines cost added) as text
costs_text() {
    awk -v v="$v" -v from="$1" 'NR > from && $1 == v {
        printf "    %s %s MB, %s (%s): frames/MB %s, kicks/MB %s (tx %s, rx %s), NIC irqs/MB %s (rx %s, tx %s), injected/MB %s, exits/MB %s = pf %s, halt %s, irq %s, irqwin %s, io %s, invlpg %s, other %s (to user MMIO %s, emulated %s; %s exits/s)\n",
            $2, $5, $4, $3, $22, $6, $7, $8, $9, $23, $24, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21 }' costs.txt
}

# one VARIANT ROUND: boots the pair, waits for the client's result, prints a RUN line.
one() {
    v=$1
    impl=${v%%-*}
    client=beta server=alpha
    case $v in *-swap*) client=alpha server=beta ;; esac
    pin=full
    case $v in *-vcpupin*) pin=vcpu ;; *-nopin*) pin=none ;; esac
    nic_extra=
    order=
    case $v in *-rxfirst*) order=" vdevkit.order=rx-first" ;; esac
    case $v in *-noofl*) nic_extra="peerfeats 0" ;; esac
    # the NIC's levers against guest exits and interrupts (docs/virtio-net.md)
    case $v in *-poll*) nic_extra="$nic_extra poll-us ${BENCH_POLL_US:-50}" ;; esac
    case $v in *-coal*) nic_extra="$nic_extra ${BENCH_COAL:-coalesce-rx-us 100 coalesce-tx-us 100 coalesce-adaptive}" ;; esac
    mmio=0
    case $v in *-mmio*) mmio=1 nic_extra="$nic_extra loc 0xd0000000 intr ioapic:10" ;; esac
    mq=
    case $v in *-mq*) mq=1 nic_extra="$nic_extra queues $queues" ;; esac
    be=$netdev
    case $v in qemu-vhost*) be=vhost ;; qemu-tap*) be=tap ;; qemu-stream*) be=stream ;; qemu-socket*) be=socket ;; esac
    if [ "$impl" = qemu ] && { [ "$be" = vhost ] || [ "$be" = tap ]; }; then
        need_bridge || { echo "RUN $v round $2: SKIP (no bridge: tun or bridge did not load)"; return 0; }
        if [ "$be" = vhost ] && [ ! -c /dev/vhost-net ]; then
            echo "RUN $v round $2: SKIP (no /dev/vhost-net: vhost_net did not load)"
            return 0
        fi
    fi
    role_alpha=server role_beta=client
    [ "$client" = alpha ] && role_alpha=client role_beta=server
    rm -f alpha.log beta.log kvm.*
    t0=$(date +%s)
    if [ "$impl" = qemu ]; then
        port=$((port + 1))
        start_qemu alpha 0 "$role_alpha" 10.0.0.1 10.0.0.2 52:54:00:00:00:01 on "$be"
        sleep 1 # the listening side first: QEMU 7.2 does not retry a refused connect
        start_qemu beta 1 "$role_beta" 10.0.0.2 10.0.0.1 52:54:00:00:00:02 off "$be"
    else
        start_vdevkit alpha 0 curly beta moe "$role_alpha" 10.0.0.1 10.0.0.2 52:54:00:00:00:01 $pin
        start_vdevkit beta 1 moe alpha curly "$role_beta" 10.0.0.2 10.0.0.1 52:54:00:00:00:02 $pin
    fi
    # Polled every 0.5 s (the client rests 1 s after each first counter line); the other
    # checks every 2 s. Each poll is one grep: the outer CPUs are what the guests run on.
    ticks=0 markers=0
    while ! sample; do
        if [ $((ticks % 4)) = 0 ]; then
            if [ ! -e "/proc/$pid_alpha" ] || [ ! -e "/proc/$pid_beta" ]; then break; fi
            grep -aqE 'soft lockup|Kernel panic' alpha.log beta.log 2> /dev/null && break
            [ $ticks -ge $((pair_timeout * 2)) ] && break
        fi
        sleep 0.5
        ticks=$((ticks + 1))
    done
    secs_used=$(($(date +%s) - t0))
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
    kill -KILL "$pid_alpha" "$pid_beta" 2> /dev/null
    wait "$pid_alpha" "$pid_beta" 2> /dev/null
    # QEMU's taps go with it; wait so the next pair's names are free
    w=0
    while { [ -e /sys/class/net/qa0 ] || [ -e /sys/class/net/qb0 ]; } && [ $w -lt 50 ]; do sleep 0.2; w=$((w + 1)); done
    ping=$(metric "$client" ping-rtt-avg) tx=$(metric "$client" iperf3-tx) rx=$(metric "$client" iperf3-rx)
    order_seen=$(grep -ao 'VDEVKIT-METRIC iperf3-[rt]x' "$client.log" | sed 's/.*-//' | tr '\n' ' ')
    read -r load _ < /proc/loadavg
    if [ "$2" = 0 ]; then
        echo "WARM-UP $v (not counted): ping ${ping:-?} ms, tx ${tx:-?} Mbit/s, rx ${rx:-?} Mbit/s (${secs_used}s, outer load $load)"
        return 0
    fi
    if grep -aq 'VDEVKIT-RESULT net ok' "$client.log"; then
        echo "$v $ping $tx $rx" >> results.txt
        from=$(wc -l < costs.txt)
        for od in $order_seen; do cost "$od"; done
        if [ -z "$kvm_names" ] && [ -s "kvm.tx-end.$client" ]; then
            kvm_names=$(cut -d: -f1 "kvm.tx-end.$client" | tr '\n' ' ')
            echo "net-pair-bench: the KVM counters of a VM: $kvm_names"
        fi
        echo "RUN $v round $2: ping ${ping} ms, tx (client $client -> server $server) ${tx} Mbit/s, rx (-R, $server -> $client) ${rx} Mbit/s (order: ${order_seen}; ${secs_used}s, outer load $load)
$(costs_text "$from")$stats"
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

# The first pair of an outer boot ran slow: in three boots on 2026-12-07 it moved 44-50 Mbit/s
# where the later rounds mostly moved 200-300 (vdevkit first each time; the QEMU pair after it
# was slow in one boot too). So a warm-up pair first, not counted.
[ "$warmup" = 0 ] || one "${variants%% *}" 0
round=1 # (not $i: the functions use it)
while [ $round -le "$n" ]; do
    for v in $variants; do one "$v" $round; done
    round=$((round + 1))
done
for v in $extra; do one "$v" 1; done

echo
printf '%-18s %5s %12s %14s %14s\n' variant runs "ping avg" "tx c->s" "rx s->c (-R)"
for v in $variants $extra; do
    printf '%-18s %5s %9s ms %9s Mbit/s %9s Mbit/s\n' "$v" "$(col "$v" 1 | wc -l)" \
        "$(col "$v" 2 | median)" "$(col "$v" 3 | median)" "$(col "$v" 4 | median)"
done

# The medians of each cost over a variant's runs, per direction and role; the exit kinds
# that dominate (their share of the median exits).
echo
echo "Per MB moved (iperf3's receiver MBytes, 2^20 bytes), medians over runs; each guest's"
echo "frames (sent by the sender, received by the receiver), kicks (virtio_net doorbell writes,"
echo "ethtool -S), NIC irqs of its rx and tx queues (/proc/interrupts), and its VM's KVM counters"
echo "(outer debugfs): interrupts injected, exits and their kinds:"
printf '%-18s %-3s %-9s %-5s %4s %7s %7s %13s %9s %8s  %s\n' variant dir role guest runs frames kicks "irqs rx/tx" injected exits "exit kinds (share of exits)"
rm -f costs-summary.txt
awk '
    { key = $1 " " $2 " " $3 " " $4; if (!(key in cnt)) order[++nk] = key; c = ++cnt[key]
      for (i = 5; i <= NF; i++) val[key, i, c] = $i }
    function med(key, i,   n, a, j, k, t, m) {
        n = 0
        for (j = 1; j <= cnt[key]; j++) if (val[key, i, j] != "-") a[++n] = val[key, i, j] + 0
        if (!n) return "-"
        for (j = 2; j <= n; j++) { t = a[j]; for (k = j - 1; k >= 1 && a[k] > t; k--) a[k + 1] = a[k]; a[k + 1] = t }
        return a[int((n + 1) / 2)]
    }
    END {
        split("pf halt irq irqwin io invlpg other", kn, " ")
        for (o = 1; o <= nk; o++) {
            key = order[o]; split(key, kp, " ")
            ex = med(key, 11)
            # the kinds, largest first
            kinds = ""
            for (i = 1; i <= 7; i++) { m[i] = med(key, 11 + i); used[i] = 0 }
            for (r = 1; r <= 3; r++) {
                b = 0
                for (i = 1; i <= 7; i++) if (!used[i] && m[i] != "-" && (b == 0 || m[i] > m[b])) b = i
                if (b && ex != "-" && ex > 0) { used[b] = 1; kinds = kinds sprintf("%s%s %.0f%%", r > 1 ? ", " : "", kn[b], 100 * m[b] / ex) }
            }
            printf "%-18s %-3s %-9s %-5s %4d %7s %7s %13s %9s %8s  %s\n", kp[1], kp[2], kp[3], kp[4], cnt[key],
                fm(med(key, 22), 1), fm(med(key, 6), 2), fm(med(key, 23), 1) "/" fm(med(key, 24), 1), fm(med(key, 10), 2), fm(ex, 1), kinds
            printf "net-pair-cost: %s %s %s %s frames %s kicks %s nic-irqs %s (rx %s tx %s) injected %s exits %s pf %s halt %s irq %s irqwin %s io %s invlpg %s other %s user-mmio %s emulated %s exits/s %s (per MB but exits/s, medians of %d)\n",
                kp[1], kp[2], kp[3], kp[4], med(key, 22), med(key, 6), med(key, 9), med(key, 23), med(key, 24), med(key, 10), ex, m[1], m[2], m[3], m[4], m[5], m[6], m[7],
                med(key, 19), med(key, 20), med(key, 21), cnt[key] > "costs-summary.txt"
        }
    }
    function fm(x, d) { return x == "-" ? x : sprintf("%." d "f", x) }' costs.txt
echo
[ ! -s costs-summary.txt ] || cat costs-summary.txt
for v in $variants; do
    printf 'net-pair: %s ping %s ms, tx %s Mbit/s, rx %s Mbit/s (medians of %s)\n' "$v" \
        "$(col "$v" 2 | median)" "$(col "$v" 3 | median)" "$(col "$v" 4 | median)" "$(col "$v" 1 | wc -l)"
done
echo "net-pair-bench: $(date -u '+%Y-%m-%d %H:%M:%S UTC') at its end, outer load $(cut -d' ' -f1-3 /proc/loadavg)"
[ -z "$bridge" ] || { ip link set br0 down; brctl delbr br0; }
rm -rf "$rt"
