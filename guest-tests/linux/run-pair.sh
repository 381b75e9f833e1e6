#!/bin/sh
# Runs inside the outer machine (or directly on a KVM host): two vdevkit VMs, `alpha` and
# `beta`, each pinned to its own CPU, joined by a virtio-net peer link (alpha's NIC `curly`,
# beta's `moe`), booting the tier-3 initramfs built with --net. Scenarios:
#   pair          MSI-X, MTU 1500: ping and iperf3 both ways; `vdevkit stat alpha` is polled
#                 while they run; beta powers off and alpha must see its link go down
#   pair-nomsi    pci=nomsi (INTx), MTU 4000: the same, but beta is killed (SIGKILL) after
#                 its measurements and alpha must see carrier 0
#   pair-mq       as `pair`, with 2 vCPUs per guest and `queues 2` (MQ, RSS): each guest must
#                 use 2 channels (ethtool -l); alpha turns RSS on (ethtool -X: `vdevkit stat
#                 alpha` must say `steering rss`), beta keeps automatic steering; iperf3 runs
#                 with -P 4 (with the control connection, 10 flows: all on one queue by
#                 chance about once in 2^9), and both rx queues of each guest must have
#                 taken interrupts (virtioN-input.0 and .1)
#   linkdown      (only with NET_ONLY) no traffic: beta is killed once both links are up
#   dual          two NICs each, one on PCI and one on virtio-mmio (`loc 0xd0000000
#                 intr ioapic:10`, found through ACPI), two links: alpha's PCI `curly` with
#                 beta's MMIO `moe` (10.0.0.0/24), alpha's MMIO `larry` with beta's PCI
#                 `shemp` (10.0.1.0/24); ping and iperf3 both ways on each link, and each
#                 guest's check of its MMIO NIC's interrupt line (init's net-dual)
#   dual-pci      (only with NET_ONLY) `dual` with all four NICs on PCI: the figures' baseline
#   pair-mmio     (only with NET_ONLY) as `pair`, but alpha's NIC is virtio-mmio and beta's PCI
#   pair-mmio2    (only with NET_ONLY) as `pair`, both NICs on virtio-mmio
#   host          alpha alone, its peer the host peer `vdevkit net-peer` here (vp0, 10.0.9.1;
#                 alpha 10.0.9.2): pings both ways, iperf3 both ways with offloads on (the
#                 host peer hands its TAP to alpha's NIC: `via-tap vp0`, `tap handed-over`) and
#                 off (host peer restarted with offload=off), the host peer SIGKILLed and
#                 restarted (the link returns), a ping captured on alpha's NIC (checked here,
#                 then printed base64 between VDEVKIT-PCAP-BEGIN/END for run-net-tests.sh's
#                 tshark); NET_HOST_IPERF_SECS (3) per iperf3 direction
#   tap           alpha alone, its NIC attached straight to a TAP made here (`tap vt0`, no
#                 host peer; vt0 10.0.9.1): ping and iperf3 both ways; vt0 deleted and made
#                 again (alpha's link goes down and comes back, alpha pings us once more)
# Prints "net: NAME: PASS|FAIL ..." per scenario, the figures, and "N passed, M failed".
#   world         alpha alone behind the host peer in a namespace "gw": bridged to a veth
#                 into namespace "world" (ping, iperf3 both ways), routed and masqueraded
#                 (nftables) to a second subnet in namespace "world2" (below)
# NET_ONLY="pair linkdown" picks scenarios (default: pair pair-nomsi pair-mq dual host tap world);
# NET_IPERF_SECS (5) per iperf3 direction;
# NET_GUEST_QUIET=0 keeps all the guests' boot messages on their consoles (default
# loglevel=5, warnings and worse only: each console byte is a VM exit, slow when nested; a
# failing guest prints its virtio/PCI dmesg);
# NET_COUNTERS=1: the pairs' guests print their counters around each iperf3 test
# (vdevkit.counters=1) and the harness prints what changed in both VMMs too (as `dual` always
# does: dual_snap, dual_counters_report);
# NET_MMIO_PLACE="loc ADDR intr PIC:LINE": where the x86 MMIO NICs go (default loc
# 0xd0000000 intr ioapic:10); NET_GUEST_SYSCTL=NAME=VALUE,...: kernel settings for the dual
# guests (vdevkit.sysctl=, set by /init first);
# NET_NO_NIC=1 boots the guests without the NIC (a harness check: they fail at no-eth0).
# NET_ARCH=arm64: arm64 guests (run-arm64-tests.sh): RAM at 0x40000000, the Image, the UART
# and virtio-mmio at QEMU virt's places on the GIC, NET_VCPUS vCPUs each (default 1), and
#   dual-same     as `dual`, but the links join like to like: alpha's PCI `curly` with beta's
#                 PCI `shemp`, alpha's MMIO `larry` with beta's MMIO `moe` (the DT's
#                 virtio,mmio node and the ECAM host's MSI-X through the ITS)
cd "${VDEVKIT_PAYLOAD:-.}" || exit 1
export LD_LIBRARY_PATH=$PWD VDEVKIT_MODULE_PATH=$PWD/modules
rt=$(mktemp -d /tmp/vdevkit-rt.XXXXXX)
export VDEVKIT_RUNTIME_DIR=$rt
secs=${NET_IPERF_SECS:-5}
host_secs=${NET_HOST_IPERF_SECS:-3}
quiet=loglevel=5
[ "${NET_GUEST_QUIET:-1}" = 1 ] || quiet=
pair_timeout=${NET_PAIR_TIMEOUT:-300}
default_scenarios="pair pair-nomsi pair-mq dual host tap world"
ncpu=$(nproc)
IP=$PWD/tools/ip # iproute2 (busybox ip has neither netns nor tuntap): tap and world
pass=0
fail=0
pair_hook= # a function wait_pair calls every second (dual: dual_snap)
# What differs between the guests' architectures: the lines of every configuration, the
# MMIO NIC's place, the interrupt chips /proc/interrupts names.
vcpus=${NET_VCPUS:-1}
if [ "${NET_ARCH:-amd64}" = arm64 ]; then
    ram_line="ram 0x40000000,256M" kernel=Image uart="vdev ser8250 loc mem:0x9000000 intr gic:1"
    mmio_place="loc 0x0a000000 intr gic:16"
    intx_chip=GICv3 msi_chip=ITS-MSI
else
    ram_line="ram 256M" kernel=bzImage uart="vdev ser8250"
    mmio_place=${NET_MMIO_PLACE:-loc 0xd0000000 intr ioapic:10}
    intx_chip=IO-APIC msi_chip=PCI-MSI
fi
# cpu_lines CPU: one vCPU pinned to CPU (the VMM's own CPU); NET_VCPUS > 1: vCPU i on outer
# CPU i mod N and the VMM unpinned (start_vmm): all of a guest's vCPUs and its device threads on
# one outer CPU made iperf3 ~50x slower on arm64 (IPIs between vCPUs sharing a CPU).
cpu_lines() {
    i=0
    while [ $i -lt "$vcpus" ]; do
        if [ "$vcpus" = 1 ]; then echo "cpu runmask $1"; else echo "cpu runmask $((i % ncpu))"; fi
        i=$((i + 1))
    done
}
start_vmm() {
    if [ "$vcpus" = 1 ]; then start "$@"; else start "$1" "$ncpu"; fi
}
echo "net: runtime dir $rt, $ncpu CPUs, iperf3 ${secs}s per direction (host: ${host_secs}s)"

# conf SYSTEM CPU NIC PEER_SYSTEM PEER_NIC MAC IP PEER_IP MTU SCENARIO ROLE EXTRA_CMDLINE [NIC_PLACE]
conf() {
    {
        echo "system $1"
        echo "$ram_line"
        cpu_lines "$2"
        echo "load $kernel"
        echo "initrd load initrd-net.img"
        echo "cmdline \"console=ttyS0 panic=-1 $quiet vdevkit.scenario=${10} vdevkit.role=${11}" \
            "vdevkit.ip=$7/24 vdevkit.peer=$8 vdevkit.mac=$6 vdevkit.mtu=$9 vdevkit.secs=$secs" \
            "${12}\""
        echo "$uart"
        [ "${NET_NO_NIC:-0}" = 1 ] || echo "vdev virtio-net name $3 peer $rt/$4/$5 mac $6 mtu $9${13:+ ${13}}"
    } > "$1.conf"
}

. ./vmm-procs.sh # start, vmm_pid, alive, check, guest_wedged

metrics() { grep -a 'VDEVKIT-METRIC' "$1.log" | tr -d '\r' | sed 's/VDEVKIT-METRIC //' | tr '\n' ';'; }

report_fail() {
    fail=$((fail + 1))
    echo "net: $1: FAIL: $2"
    for s in alpha beta; do
        [ -e "$s.log" ] || continue # (host, world: no beta)
        echo "    --- $s: VMM and guest lines that matter (full log: $s.log) ---"
        grep -aE 'vdevkit( [a-z-]+)?:|VDEVKIT-|virtio|eth0|PCI|MSI|link|BUG|WARNING|Call Trace' "$s.log" |
            tr -d '\r' | tail -n 40 | sed 's/^/    /'
        echo "    --- $s: console tail ---"
        tail -n 15 "$s.log" | tr -d '\r' | sed 's/^/    /'
    done
}

# The last `vdevkit stat alpha` that answered while the pair ran.
poll_stat() {
    if out=$(./vdevkit stat alpha 2>&1); then
        printf '%s\n' "$out" > stat-alpha.txt
    else
        printf '%s\n' "$out" > stat-alpha.err
    fi
}


# NIC ${1:-curly}'s line ("… rx N frames B bytes tx N frames B bytes …") counted frames
# both ways.
stat_ok() {
    frames=$(grep -a "virtio-net '${1:-curly}'" stat-alpha.txt 2>/dev/null |
        sed -n 's/.* rx \([0-9]*\) frames .* tx \([0-9]*\) frames .*/\1 \2/p')
    [ -n "$frames" ] && [ "${frames% *}" -gt 0 ] && [ "${frames#* }" -gt 0 ]
}

# wait_pair SCENARIO KILL: sets st_alpha, st_beta. KILL: no (beta ends by itself), ready
# (kill beta once both guests said "net-linkdown ready"), measured (once beta has a result).
wait_pair() {
    killed=0 waited=0 beta_gone= st_alpha=running st_beta=running wedged= wedged_at=0
    rm -f stat-alpha.txt stat-alpha.err
    while :; do
        check alpha
        check beta
        [ "$st_alpha" != running ] && [ "$st_beta" != running ] && break
        [ "$st_alpha" = running ] && poll_stat
        [ -z "$pair_hook" ] || $pair_hook
        if [ "$2" = ready ] && [ "$killed" = 0 ] &&
            grep -aq 'net-linkdown ready' alpha.log && grep -aq 'net-linkdown ready' beta.log; then
            bpid=$(vmm_pid beta)
            if [ -n "$bpid" ]; then
                echo "net: $1: both links up; killing beta (pid $bpid)"
                kill -KILL "$bpid"
                killed=1
            fi
        fi
        if [ "$2" = measured ] && [ "$killed" = 0 ] && grep -aq 'VDEVKIT-RESULT net' beta.log; then
            bpid=$(vmm_pid beta)
            if [ -n "$bpid" ]; then
                echo "net: $1: beta measured; killing it (pid $bpid)"
                kill -KILL "$bpid"
                killed=1
            fi
        fi
        for g in alpha beta; do
            if [ -z "$wedged" ] && guest_wedged $g; then
                wedged=$g
                wedged_at=$waited
                echo "net: $1: $g's kernel is wedged (soft lockup or panic); stopping the pair in 15 s"
            fi
        done
        if [ -n "$wedged" ] && [ $((waited - wedged_at)) -ge 15 ]; then
            for g in alpha beta; do
                gp=$(vmm_pid $g)
                [ -n "$gp" ] && kill -KILL "$gp"
            done
        fi
        # Once beta is gone, alpha has 60 s to notice the link went down and end.
        if [ "$st_beta" != running ] && [ -z "$beta_gone" ]; then beta_gone=$waited; fi
        if [ -n "$beta_gone" ] && [ $((waited - beta_gone)) -ge 60 ] && [ "$st_alpha" = running ]; then
            echo "net: $1: alpha still running 60 s after beta ended; stopping it"
            apid=$(vmm_pid alpha)
            [ -n "$apid" ] && kill -KILL "$apid"
        fi
        sleep 1
        waited=$((waited + 1))
    done
}

# "VDEVKIT-GUEST mq irqs input.0=A input.1=B" of guest $1 has $2 rx queues, each with
# interrupts; sets mq_irqs_seen
mq_irqs_ok() {
    mq_irqs_seen=$(grep -a 'VDEVKIT-GUEST mq irqs' "$1.log" | tr -d '\r' | sed 's/.*mq irqs //' | head -1)
    q=0
    while [ $q -lt "$2" ]; do
        v=$(printf '%s\n' "$mq_irqs_seen" | tr ' ' '\n' | sed -n "s/^input\.$q=//p")
        [ -n "$v" ] && [ "$v" -gt 0 ] || return 1
        q=$((q + 1))
    done
}

# pair NAME EXTRA_CMDLINE EXPECT_IRQ MTU KILL_BETA(yes|no) [ALPHA_NIC_PLACE [BETA_NIC_PLACE]]
# PAIR_VCPUS=N: N vCPUs per guest for this pair; vdevkit.queues=N in EXTRA_CMDLINE: both
# guests' multiqueue checks (init's mq_channels, mq_irqs)
pair() {
    name=$1
    case " ${NET_ONLY:-$default_scenarios} " in *" $name "*) ;; *) return 0 ;; esac
    saved_vcpus=$vcpus
    vcpus=${PAIR_VCPUS:-$vcpus}
    after=
    [ "$5" = yes ] && after=vdevkit.after=wait
    conf alpha 0 curly beta moe 52:54:00:00:00:01 10.0.0.1 10.0.0.2 "$4" net server "$2" "${6:-}"
    conf beta 1 moe alpha curly 52:54:00:00:00:02 10.0.0.2 10.0.0.1 "$4" net client "$2 $after" "${7:-}"
    if [ "${NET_COUNTERS:-0}" = 1 ]; then
        sed -i 's/vdevkit.scenario=net /vdevkit.scenario=net vdevkit.counters=1 /' alpha.conf beta.conf
        rm -f dual-snap.txt
        snaps=0 pair_hook=dual_snap
        [ -d $kvmdbg ] || mount -t debugfs debugfs /sys/kernel/debug 2> /dev/null
    fi
    t0=$(date +%s)
    start_vmm alpha 0
    start_vmm beta 1
    if [ "$5" = yes ]; then wait_pair "$name" measured; else wait_pair "$name" no; fi
    pair_hook=
    secs_used=$(( $(date +%s) - t0 ))
    [ -s stat-alpha.txt ] && sed 's/^/    stat alpha: /' stat-alpha.txt
    [ "${NET_COUNTERS:-0}" != 1 ] || dual_counters_report
    [ -s stat-alpha.txt ] || [ ! -s stat-alpha.err ] || sed 's/^/    stat alpha failed: /' stat-alpha.err
    why=
    grep -aq 'VDEVKIT-RESULT net ok role=client' beta.log || why="$why beta-no-result($(grep -a 'VDEVKIT-RESULT' beta.log | tr -d '\r' | head -1))"
    grep -aq 'VDEVKIT-RESULT net ok role=server' alpha.log || why="$why alpha-no-result($(grep -a 'VDEVKIT-RESULT' alpha.log | tr -d '\r' | head -1))"
    [ "$st_alpha" = 0 ] || why="$why alpha-status=$st_alpha"
    if [ "$5" = yes ]; then
        [ "$killed" = 1 ] || why="$why beta-not-killed"
    else
        [ "$st_beta" = 0 ] || why="$why beta-status=$st_beta"
    fi
    grep -aq 'VDEVKIT-GUEST eth0 mac=52:54:00:00:00:01 mtu='"$4"' ' alpha.log || why="$why alpha-eth0-mac-or-mtu"
    grep -aq 'VDEVKIT-GUEST eth0 mac=52:54:00:00:00:02 mtu='"$4"' ' beta.log || why="$why beta-eth0-mac-or-mtu"
    irq=$(grep -a 'VDEVKIT-GUEST eth0' alpha.log | tr -d '\r' | sed -n 's/.*irq=//p' | head -1)
    case $irq in *"$3"*) ;; *) why="$why irq=$irq(expected-$3)" ;; esac
    stat_ok || why="$why no-nonzero-counters-in-'vdevkit stat alpha'"
    mq=
    case $2 in *vdevkit.queues=*)
        nq=$(printf '%s\n' "$2" | sed 's/.*vdevkit\.queues=\([0-9]*\).*/\1/')
        for g in alpha beta; do
            grep -aq "VDEVKIT-GUEST mq channels=$nq " $g.log || why="$why $g-channels($(grep -a 'VDEVKIT-GUEST mq channels' $g.log | tr -d '\r' | head -1))"
            mq_irqs_ok $g "$nq" || why="$why $g-rx-queue-without-interrupts($mq_irqs_seen)"
            mq="$mq $g:$mq_irqs_seen;"
        done
        steering=$(grep -ao 'queue-pairs [0-9]* active [0-9]* steering [a-z]*' stat-alpha.txt 2>/dev/null | head -1)
        case $2 in *vdevkit.rss=1*)
            case $steering in *"steering rss"*) ;; *) why="$why alpha-not-rss($steering)" ;; esac ;;
        esac
        mq=" rx queue interrupts:$mq alpha's NIC: $steering"
        ;;
    esac
    vcpus=$saved_vcpus
    if [ -z "$why" ]; then
        pass=$((pass + 1))
        echo "net: $name: PASS (${secs_used}s, irq $irq, mtu $4, alpha saw link down, alpha's NIC rx/tx frames $frames$mq) beta: $(metrics beta) alpha: $(metrics alpha)"
    else
        report_fail "$name" "$why (${secs_used}s)"
    fi
}

linkdown() {
    name=linkdown
    case " ${NET_ONLY:-$default_scenarios} " in *" $name "*) ;; *) return 0 ;; esac
    conf alpha 0 curly beta moe 52:54:00:00:00:01 10.0.0.1 10.0.0.2 4000 net-linkdown server ""
    conf beta 1 moe alpha curly 52:54:00:00:00:02 10.0.0.2 10.0.0.1 4000 net-linkdown client ""
    t0=$(date +%s)
    start_vmm alpha 0
    start_vmm beta 1
    wait_pair "$name" ready
    secs_used=$(( $(date +%s) - t0 ))
    why=
    [ "$killed" = 1 ] || why="$why never-both-ready"
    grep -aq 'VDEVKIT-RESULT net-linkdown ok' alpha.log || why="$why alpha-no-result($(grep -a 'VDEVKIT-RESULT' alpha.log | tr -d '\r' | head -1))"
    [ "$st_alpha" = 0 ] || why="$why alpha-status=$st_alpha"
    if [ -z "$why" ]; then
        pass=$((pass + 1))
        echo "net: $name: PASS (${secs_used}s) alpha saw carrier 0 after beta was killed; mtu 4000: $(grep -a 'VDEVKIT-GUEST eth0' alpha.log | tr -d '\r' | head -1)"
    else
        report_fail "$name" "$why (${secs_used}s)"
    fi
}

# dual_conf SYSTEM CPU ROLE MAC IP PEER_IP MAC2 IP2 PEER_IP2, then the two NIC lines.
dual_conf() {
    {
        echo "system $1"
        echo "$ram_line"
        cpu_lines "$2"
        echo "load $kernel"
        echo "initrd load initrd-net.img"
        echo "cmdline \"console=ttyS0 panic=-1 $quiet vdevkit.scenario=net-dual vdevkit.role=$3" \
            "vdevkit.mac=$4 vdevkit.ip=$5/24 vdevkit.peer=$6" \
            "vdevkit.mac2=$7 vdevkit.ip2=$8/24 vdevkit.peer2=$9 vdevkit.mtu=1500 vdevkit.secs=$secs" \
            "$allpci${NET_GUEST_SYSCTL:+ vdevkit.sysctl=$NET_GUEST_SYSCTL}\""
        echo "$uart"
    } > "$1.conf"
}

# ---- dual: the counters around each of the client's tests ----
# The client (beta) prints VDEVKIT-COUNTERS POINT@pci|mmio|cpu lines before its first test
# and after each (init's dual_counters) and rests 1 s; at each new point dual_snap writes
# what the VMMs saw into dual-snap.txt: `vdevkit stat` of both NICs of both guests and
# each VM's KVM counters (outer debugfs, summed over its vCPUs) as "POINT WHO k=v ..." lines;
# dual_counters_report prints both sides' deltas per test.
kvmdbg=/sys/kernel/debug/kvm
dual_snap() {
    ds_c=0
    for ds_p in $(grep -aE 'VDEVKIT-COUNTERS [^ ]*(@cpu|-begin|-end) ' beta.log | tr -d '\r' | awk '{ sub("@cpu", "", $2); print $2 }'); do
        ds_c=$((ds_c + 1))
        [ $ds_c -gt "$snaps" ] || continue
        snaps=$ds_c
        for ds_g in alpha beta; do
            # "virtio-net 'curly': ... rx N frames ... tx N frames ... kicks rx N tx N ctrl N
            # interrupts rx N tx N ctrl N ..." -> "POINT alpha:curly rx-frames=N ..."
            ./vdevkit stat $ds_g 2> /dev/null | tr -d "'" | awk -v p="$ds_p" -v g="$ds_g" '
                $1 == "virtio-net" { sub(":", "", $2); printf "%s %s:%s", p, g, $2
                    for (i = 3; i < NF; i++) {
                        if (($i == "rx" || $i == "tx") && $(i + 2) == "frames" && !seen[$i]++) printf " %s-frames=%s", $i, $(i + 1)
                        if ($i == "kicks" || $i == "interrupts")
                            printf " %s-rx=%s %s-tx=%s", $i, $(i + 2), $i, $(i + 4)
                        if ($i == "no-buffers" || $i == "ring-full") printf " %s=%s", $i, $(i + 1)
                    }
                    printf "\n"; delete seen }' >> dual-snap.txt
            ds_pid=$(vmm_pid $ds_g)
            # each VMM thread's CPU time (user, system, of which guest: clock ticks) and its
            # voluntary (blocked) and involuntary (preempted) context switches
            for ds_t in /proc/"$ds_pid"/task/*; do
                sed 's/^.*) //' "$ds_t/stat" 2> /dev/null | awk -v t="${ds_t##*/}" '{ printf " t%s-user=%d t%s-sys=%d t%s-guest=%d", t, $12, t, $13, t, $41 }'
                awk -v t="${ds_t##*/}" '$1 == "voluntary_ctxt_switches:" { printf " t%s-vcs=%d", t, $2 }
                    $1 == "nonvoluntary_ctxt_switches:" { printf " t%s-nvcs=%d", t, $2 }' "$ds_t/status" 2> /dev/null
            done | sed "s/^/$ds_p $ds_g:threads/" >> dual-snap.txt
            echo >> dual-snap.txt
            for ds_d in "$kvmdbg/$ds_pid"-*; do
                [ -d "$ds_d" ] || continue
                printf '%s %s:kvm' "$ds_p" "$ds_g"
                for ds_k in exits irq_injections halt_exits halt_wakeup irq_exits irq_window_exits \
                    pf_taken mmio_exits io_exits insn_emulation host_state_reload fpu_reload; do
                    [ -r "$ds_d/$ds_k" ] && printf ' %s=%s' "$ds_k" "$(cat "$ds_d/$ds_k")"
                done
                echo
                break
            done >> dual-snap.txt
        done
    done
}
# dual_counters_report: per test (the interval that ends at each point), what changed: the
# VMMs' (dual-snap.txt) and the guests' (their VDEVKIT-COUNTERS lines).
dual_counters_report() {
    {
        [ -s dual-snap.txt ] && cat dual-snap.txt
        for g in alpha beta; do
            grep -a 'VDEVKIT-COUNTERS ' $g.log | tr -d '\r' | awk -v g=$g '{
                split($2, w, "@"); printf "%s %s:guest-%s", w[1], g, w[2]
                for (i = 3; i <= NF; i++) printf " %s", $i; printf "\n" }'
        done
    } | awk '{
        out = $1 " " $2
        for (i = 3; i <= NF; i++) {
            k = $i; v = k; sub("=.*", "", k); sub("^[^=]*=", "", v)
            key = $2 SUBSEP k
            if (v ~ /^[0-9]+$/ && (key in last)) out = out " " k "=+" (v - last[key])
            else out = out " " k "=" v
            if (v ~ /^[0-9]+$/) { first = !(key in last); last[key] = v }
        }
        if (!first) print "    counters " out
    }'
}

# dual [dual-pci|dual-same]: both guests with a PCI and an MMIO NIC, each link joining a PCI
# NIC to an MMIO NIC; dual-pci: the same with all four NICs on PCI (a baseline for the
# figures); dual-same: PCI to PCI and MMIO to MMIO.
dual() {
    name=${1:-dual}
    case " ${NET_ONLY:-$default_scenarios} " in *" $name "*) ;; *) return 0 ;; esac
    mmio=$mmio_place allpci=
    [ "$name" = dual-pci ] && mmio= allpci="vdevkit.allpci=1"
    dual_conf alpha 0 server 52:54:00:00:00:01 10.0.0.1 10.0.0.2 52:54:00:00:01:01 10.0.1.1 10.0.1.2
    if [ "$name" = dual-same ]; then # curly (PCI) - shemp (PCI), larry (MMIO) - moe (MMIO)
        echo "vdev virtio-net name curly peer $rt/beta/shemp mac 52:54:00:00:00:01" >> alpha.conf
        echo "vdev virtio-net $mmio name larry peer $rt/beta/moe mac 52:54:00:00:01:01" >> alpha.conf
        dual_conf beta 1 client 52:54:00:00:00:02 10.0.0.2 10.0.0.1 52:54:00:00:01:02 10.0.1.2 10.0.1.1
        echo "vdev virtio-net name shemp peer $rt/alpha/curly mac 52:54:00:00:00:02" >> beta.conf
        echo "vdev virtio-net $mmio name moe peer $rt/alpha/larry mac 52:54:00:00:01:02" >> beta.conf
    else
        echo "vdev virtio-net name curly peer $rt/beta/moe mac 52:54:00:00:00:01" >> alpha.conf
        echo "vdev virtio-net $mmio name larry peer $rt/beta/shemp mac 52:54:00:00:01:01" >> alpha.conf
        dual_conf beta 1 client 52:54:00:00:00:02 10.0.0.2 10.0.0.1 52:54:00:00:01:02 10.0.1.2 10.0.1.1
        echo "vdev virtio-net $mmio name moe peer $rt/alpha/curly mac 52:54:00:00:00:02" >> beta.conf
        echo "vdev virtio-net name shemp peer $rt/alpha/larry mac 52:54:00:00:01:02" >> beta.conf
    fi
    t0=$(date +%s)
    start_vmm alpha 0
    start_vmm beta 1
    rm -f dual-snap.txt
    snaps=0 pair_hook=dual_snap
    [ -d $kvmdbg ] || mount -t debugfs debugfs /sys/kernel/debug 2> /dev/null
    wait_pair "$name" no
    pair_hook=
    secs_used=$(( $(date +%s) - t0 ))
    [ -s stat-alpha.txt ] && sed 's/^/    stat alpha: /' stat-alpha.txt
    dual_counters_report
    why=
    grep -aq 'VDEVKIT-RESULT net-dual ok role=client' beta.log || why="$why beta-no-result($(grep -a 'VDEVKIT-RESULT' beta.log | tr -d '\r' | head -1))"
    grep -aq 'VDEVKIT-RESULT net-dual ok role=server' alpha.log || why="$why alpha-no-result($(grep -a 'VDEVKIT-RESULT' alpha.log | tr -d '\r' | head -1))"
    [ "$st_alpha" = 0 ] || why="$why alpha-status=$st_alpha"
    [ "$st_beta" = 0 ] || why="$why beta-status=$st_beta"
    # Each guest: the MMIO NIC on the interrupt controller's line, the PCI one on MSI-X.
    for g in alpha beta; do
        [ -n "$allpci" ] ||
            grep -aq "VDEVKIT-GUEST nic .* bus=mmio irq=$intx_chip," $g.log || why="$why $g-mmio-nic-not-on-$intx_chip"
        grep -aq "VDEVKIT-GUEST nic .* bus=pci irq=$msi_chip" $g.log || why="$why $g-pci-nic-not-on-$msi_chip"
    done
    stat_ok curly || why="$why no-nonzero-counters-for-curly"
    f1=$frames
    stat_ok larry || why="$why no-nonzero-counters-for-larry"
    if [ -z "$why" ]; then
        pass=$((pass + 1))
        lt=MMIO
        [ -z "$allpci" ] || lt=PCI
        echo "net: $name: PASS (${secs_used}s, alpha's NICs rx/tx frames: curly (PCI) $f1, larry ($lt) $frames) beta: $(metrics beta) alpha: $(metrics alpha)"
    else
        report_fail "$name" "$why (${secs_used}s)"
    fi
}


# alpha_ready MARKER: waits up to 240 s for MARKER on alpha's console while alpha runs
alpha_ready() {
    st_alpha=running
    i=0
    while ! grep -aq "$1" alpha.log && [ $i -lt 240 ]; do
        check alpha
        [ "$st_alpha" = running ] || break
        guest_wedged alpha && break
        sleep 1
        i=$((i + 1))
    done
    grep -aq "$1" alpha.log
}

# ---- host: guest <-> this (outer) machine through the host peer `vdevkit net-peer` ----
# vp0 (10.0.9.1) is the host's end of alpha's NIC `curly` (10.0.9.2); the host peer runs on
# CPU 1, alpha on CPU 0. Needs the tun module (run-net-tests.sh loads it in the outer
# machine) and ./iperf3 (+ libiperf) in the payload.
hp_log=net-peer.log
# host_peer_start [,offload=off]: starts the host peer, waits for vp0, gives it its address.
host_peer_start() {
    if [ "$ncpu" -gt 1 ]; then
        taskset -c 1 ./vdevkit net-peer "peer=$rt/alpha/curly,bind=$rt/host/vp0,mac=52:54:00:00:09:01$1" >> "$hp_log" 2>&1 &
    else
        ./vdevkit net-peer "peer=$rt/alpha/curly,bind=$rt/host/vp0,mac=52:54:00:00:09:01$1" >> "$hp_log" 2>&1 &
    fi
    hp_pid=$!
    i=0
    while [ ! -e /sys/class/net/vp0 ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
    [ -e /sys/class/net/vp0 ] || return 1
    ip addr add 10.0.9.1/24 dev vp0
}
host_carrier() {
    i=0
    while [ "$(cat /sys/class/net/vp0/carrier 2>/dev/null)" != 1 ] && [ $i -lt "$1" ]; do sleep 0.2; i=$((i + 1)); done
    [ "$(cat /sys/class/net/vp0/carrier 2>/dev/null)" = 1 ]
}
# host_ping COUNT: the average RTT in ms (empty if a packet was lost)
host_ping() {
    ping -c "$1" -i 0.2 -W 2 10.0.9.2 2>&1 | sed -n 's|.*min/avg/max = [0-9.]*/\([0-9.]*\)/.*|\1|p'
}
# host_answers SECONDS: alpha answers one ping within SECONDS
host_answers() {
    i=0
    while [ $i -lt "$1" ]; do
        ping -c 1 -W 1 10.0.9.2 > /dev/null 2>&1 && return 0
        i=$((i + 1))
    done
    return 1
}
# host_iperf [-R]: Mbit/s at the receiver, host as the client (-R: alpha sends)
host_iperf() {
    out=$(timeout $((host_secs + 30)) ./iperf3 -c 10.0.9.2 -t "$host_secs" -f m "$@" 2>&1)
    echo "$out" | sed 's/^/    iperf3: /' >> host-iperf.log
    echo "$out" | awk '/receiver/ { for (i = 2; i <= NF; i++) if ($i == "Mbits/sec") v = $(i - 1) } END { if (v == "") exit 1; print v }'
}
# host_measure TAG: ping and iperf3 both ways, appended to $figs; failures to $why
host_measure() {
    r=$(host_ping 5)
    [ -n "$r" ] || why="$why $1:host-ping-lost"
    tx=$(host_iperf) || why="$why $1:iperf3-host-to-alpha"
    rx=$(host_iperf -R) || why="$why $1:iperf3-alpha-to-host"
    figs="$figs $1: ping ${r:-?} ms, host->alpha ${tx:-?} Mbit/s, alpha->host ${rx:-?} Mbit/s;"
}
host_scenario() {
    name=host
    case " ${NET_ONLY:-$default_scenarios} " in *" $name "*) ;; *) return 0 ;; esac
    # (direct mode on a KVM host may run us unprivileged)
    if [ "$(id -u)" != 0 ] || [ ! -c /dev/net/tun ]; then
        echo "net: $name: SKIP: the host peer needs root and /dev/net/tun"
        return 0
    fi
    why= figs=
    rm -f "$hp_log" host-iperf.log ping.pcap beta.log
    t0=$(date +%s)
    host_peer_start "" || why="$why no-vp0($(tail -n 3 "$hp_log" | tr '\n' ' '))"
    conf alpha 0 curly host vp0 52:54:00:00:00:01 10.0.9.2 10.0.9.1 1500 net-host server ""
    start alpha 0
    if ! alpha_ready 'net-host ready'; then
        why="$why alpha-not-ready($(grep -a 'VDEVKIT-RESULT' alpha.log | tr -d '\r' | head -1))"
    else
        t_ready=$(( $(date +%s) - t0 ))
        host_carrier 25 || why="$why vp0-no-carrier"
        host_measure offload-on
        # the host peer handed its TAP to alpha's NIC (handoff=on by default): alpha moved the
        # frames itself, the host peer none
        ./vdevkit stat alpha 2>&1 | grep -aq ' via-tap vp0' || why="$why no-tap-handoff"
        kill -USR1 "$hp_pid"
        sleep 0.5
        grep -aq ' tap handed-over' "$hp_log" || why="$why host-peer-not-handed-over"
        echo "    handed over: $(grep -a 'tap handed-over' "$hp_log" | tail -1 | cut -c1-160)"
        # offload=off: the host peer restarted without offloads (alpha relinks)
        kill -TERM "$hp_pid"
        wait "$hp_pid"
        # vp0 goes once alpha's NIC, which holds the handed-over TAP too, hears the link's
        # hang-up and closes it (at once, but not before this shell looks)
        i=0
        while [ -e /sys/class/net/vp0 ] && [ $i -lt 25 ]; do sleep 0.2; i=$((i + 1)); done
        [ ! -e /sys/class/net/vp0 ] || why="$why vp0-left-after-SIGTERM"
        host_peer_start ",offload=off" || why="$why no-vp0-offload-off"
        if host_carrier 150 && host_answers 60; then
            host_measure offload-off
        else
            why="$why no-relink-offload-off"
        fi
        # SIGKILL: vp0 goes with the process; a new host peer takes the endpoint over
        kill -KILL "$hp_pid"
        wait "$hp_pid" 2> /dev/null
        i=0
        while [ -e /sys/class/net/vp0 ] && [ $i -lt 25 ]; do sleep 0.2; i=$((i + 1)); done
        [ ! -e /sys/class/net/vp0 ] || why="$why vp0-left-after-SIGKILL"
        tk=$(date +%s)
        host_peer_start "" || why="$why no-vp0-after-SIGKILL"
        if host_carrier 150 && host_answers 60; then
            r=$(host_ping 5)
            [ -n "$r" ] || why="$why after-kill:host-ping-lost"
            figs="$figs after SIGKILL+restart: link back and ping in $(( $(date +%s) - tk ))s, ${r:-?} ms;"
        else
            why="$why no-relink-after-SIGKILL"
        fi
        # alpha pinged us after each relink (offload-off restart, SIGKILL restart)
        i=0
        while [ "$(grep -ac 'relinked n=[0-9]* ping ok' alpha.log)" -lt 2 ] && [ $i -lt 60 ]; do sleep 1; i=$((i + 1)); done
        [ "$(grep -ac 'relinked n=[0-9]* ping ok' alpha.log)" -ge 2 ] || why="$why alpha-relink-pings($(grep -a 'net-host relinked' alpha.log | tr -d '\r' | tr '\n' ' '))"
        # capture a ping on alpha's NIC; the file goes to the host through the console
        if ./vdevkit capture alpha curly "$PWD/ping.pcap" > capture.log 2>&1; then
            host_ping 3 > /dev/null
            ./vdevkit capture alpha curly off >> capture.log 2>&1 || why="$why capture-off-failed"
            sed 's/^/    capture: /' capture.log
            # pcap: 24-byte header, then 16 bytes + the frame per record; ICMP echo request
            # (type 8) and reply (0) at offset 34 of an IPv4 Ethernet frame (no options)
            types=$(od -An -v -tu1 ping.pcap | tr -s ' \n' '  ' | awk '{
                for (i = 1; i <= NF; i++) b[i - 1] = $i
                o = 24
                while (o + 16 <= NF) {
                    len = b[o + 8] + 256 * b[o + 9]; f = o + 16
                    if (b[f + 12] == 8 && b[f + 13] == 0 && b[f + 23] == 1) printf "%d ", b[f + 34]
                    o = f + len
                }
            }')
            echo "    capture: ICMP types in ping.pcap (inside the outer machine): $types"
            case " $types" in *" 8 "*) ;; *) why="$why capture-no-echo-request" ;; esac
            case " $types" in *" 0 "*) ;; *) why="$why capture-no-echo-reply" ;; esac
            echo "VDEVKIT-PCAP-BEGIN ping.pcap"
            base64 ping.pcap
            echo "VDEVKIT-PCAP-END"
        else
            why="$why capture-start-failed($(tr '\n' ' ' < capture.log))"
        fi
    fi
    ap=$(vmm_pid alpha)
    [ -n "$ap" ] && kill -KILL "$ap"
    check alpha
    kill -TERM "$hp_pid" 2> /dev/null
    wait "$hp_pid" 2> /dev/null
    secs_used=$(( $(date +%s) - t0 ))
    sed 's/^/    /' "$hp_log" | tail -n 12
    if [ -z "$why" ]; then
        pass=$((pass + 1))
        echo "net: $name: PASS (${secs_used}s, alpha ready after ${t_ready}s) alpha->host ping $(grep -a 'VDEVKIT-METRIC ping-rtt-avg' alpha.log | tr -d '\r' | head -1 | cut -d' ' -f3) ms;$figs"
    else
        [ -s host-iperf.log ] && tail -n 20 host-iperf.log
        report_fail "$name" "$why (${secs_used}s)$figs"
    fi
}

# ---- tap: guest <-> this machine through a TAP the NIC attaches to itself (`tap vt0`) ----
# (iproute2's ip from the payload's tools/: busybox ip has no tuntap)
tap_make() {
    "$IP" tuntap add vt0 mode tap && "$IP" link set vt0 up && "$IP" addr add 10.0.9.1/24 dev vt0
}
tap_scenario() {
    name=tap
    case " ${NET_ONLY:-$default_scenarios} " in *" $name "*) ;; *) return 0 ;; esac
    if [ "$(id -u)" != 0 ] || [ ! -c /dev/net/tun ] || [ ! -x "$IP" ]; then
        echo "net: $name: SKIP: needs root, /dev/net/tun and iproute2's ip (tools/ip)"
        return 0
    fi
    why= figs=
    rm -f host-iperf.log beta.log
    t0=$(date +%s)
    "$IP" link del vt0 2> /dev/null
    tap_make || why="$why no-vt0"
    conf alpha 0 curly host vp0 52:54:00:00:00:01 10.0.9.2 10.0.9.1 1500 net-host server ""
    sed -i "s|peer $rt/host/vp0|tap vt0|" alpha.conf
    grep -q ' tap vt0 ' alpha.conf || why="$why conf-without-tap"
    start alpha 0
    if ! alpha_ready 'net-host ready'; then
        why="$why alpha-not-ready($(grep -a 'VDEVKIT-RESULT' alpha.log | tr -d '\r' | head -1))"
    else
        t_ready=$(( $(date +%s) - t0 ))
        host_answers 30 || why="$why no-answer"
        host_measure tap
        ./vdevkit stat alpha > tap-stat.log 2>&1
        grep -q "link up tap vt0" tap-stat.log || why="$why stat-not-tap($(tr '\n' ' ' < tap-stat.log))"
        # the interface goes away and comes back: the NIC re-attaches, alpha relinks
        tk=$(date +%s)
        "$IP" link del vt0
        sleep 2
        tap_make || why="$why no-vt0-again"
        i=0
        while ! grep -aq 'relinked n=1 ping ok' alpha.log && [ $i -lt 60 ]; do sleep 1; i=$((i + 1)); done
        if grep -aq 'relinked n=1 ping ok' alpha.log; then
            figs="$figs vt0 deleted and made again: alpha relinked and pinged in $(( $(date +%s) - tk ))s;"
        else
            why="$why no-relink($(grep -a 'net-host relinked' alpha.log | tr -d '\r' | tr '\n' ' '))"
        fi
    fi
    ap=$(vmm_pid alpha)
    [ -n "$ap" ] && kill -KILL "$ap"
    check alpha
    "$IP" link del vt0 2> /dev/null
    secs_used=$(( $(date +%s) - t0 ))
    if [ -z "$why" ]; then
        pass=$((pass + 1))
        echo "net: $name: PASS (${secs_used}s, alpha ready after ${t_ready}s) alpha->host ping $(grep -a 'VDEVKIT-METRIC ping-rtt-avg' alpha.log | tr -d '\r' | head -1 | cut -d' ' -f3) ms;$figs"
    else
        [ -s host-iperf.log ] && tail -n 20 host-iperf.log
        [ -s tap-stat.log ] && sed 's/^/    /' tap-stat.log
        report_fail "$name" "$why (${secs_used}s)$figs"
    fi
}

# ---- world: guest <-> a small "world" of network namespaces behind the host peer ----
# Built here, inside the outer machine, with iproute2's ip (tools/ip in the payload; busybox
# ip has no netns) and nft (tools/nft, optional: the NAT part is skipped without it); no
# address leaves the outer machine. The recipes of networking.md's "Guest to world":
#   gw      vp0 (the host peer, netns=gw) and wgw in bridge br0 (10.0.9.1/24, alpha's gateway);
#           ngw 10.0.10.1/24; forwards, and masquerades what leaves by ngw (nftables)
#   world   weth 10.0.9.100/24 (wgw's other end): same subnet as alpha, through the bridge
#   world2  neth 10.0.10.100/24 (ngw's other end), no route back to 10.0.9.0/24: only NAT
#           makes its answers reach alpha
# Alpha (scenario net-world, 10.0.9.2, default route via 10.0.9.1) pings and runs iperf3
# both ways to world, then pings world2 and runs iperf3 to it; world2's iperf3 server must
# have seen the masqueraded address 10.0.10.1 and the nft rule must have counted packets.
inns() { ns=$1; shift; "$IP" netns exec "$ns" "$@"; }
world_setup() {
    mkdir -p /run/netns
    grep -q ' /run/netns ' /proc/mounts || mount -t tmpfs tmpfs /run/netns
    for ns in gw world world2; do "$IP" netns add $ns || return 1; done
    for ns in gw world world2; do inns $ns "$IP" link set lo up || return 1; done
    # the bridge, and the world's end of it
    inns gw "$IP" link add br0 type bridge &&
        inns gw "$IP" link add wgw type veth peer name weth netns world &&
        inns gw "$IP" link set wgw master br0 &&
        inns gw "$IP" link set wgw up &&
        inns gw "$IP" addr add 10.0.9.1/24 dev br0 &&
        inns gw "$IP" link set br0 up &&
        inns world "$IP" addr add 10.0.9.100/24 dev weth &&
        inns world "$IP" link set weth up || return 1
    [ "$nat" = 1 ] || return 0
    # the second subnet behind gw, and the NAT
    inns gw "$IP" link add ngw type veth peer name neth netns world2 &&
        inns gw "$IP" addr add 10.0.10.1/24 dev ngw &&
        inns gw "$IP" link set ngw up &&
        inns world2 "$IP" addr add 10.0.10.100/24 dev neth &&
        inns world2 "$IP" link set neth up &&
        inns gw sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward' || return 1
    printf '%s\n' 'table ip vdk_nat {' \
        '    chain postrouting {' \
        '        type nat hook postrouting priority srcnat; policy accept;' \
        '        oifname "ngw" counter masquerade' \
        '    }' '}' > nat.nft
    inns gw ./tools/nft -f nat.nft
}
world_teardown() {
    for p in $world_srv $world2_srv; do kill "$p" 2> /dev/null; done
    # deleting a namespace takes its veths and bridge with it
    for ns in gw world world2; do "$IP" netns del $ns 2> /dev/null; done
}
world_scenario() {
    name=world
    case " ${NET_ONLY:-$default_scenarios} " in *" $name "*) ;; *) return 0 ;; esac
    if [ "$(id -u)" != 0 ] || [ ! -c /dev/net/tun ] || [ ! -x "$IP" ]; then
        echo "net: $name: SKIP: needs root, /dev/net/tun and iproute2's ip (tools/ip)"
        return 0
    fi
    nat=0
    [ -x tools/nft ] && nat=1
    why= world_srv= world2_srv=
    rm -f "$hp_log" alpha.log beta.log world-iperf.log world2-iperf.log
    t0=$(date +%s)
    world_setup > world-setup.log 2>&1 || why="$why world-setup($(tail -n 3 world-setup.log | tr '\n' ' '))"
    inns world ./iperf3 -s --forceflush > world-iperf.log 2>&1 &
    world_srv=$!
    if [ "$nat" = 1 ]; then
        inns world2 ./iperf3 -s --forceflush > world2-iperf.log 2>&1 &
        world2_srv=$!
    fi
    # the host peer's vp0 is made in gw; then it joins the bridge
    if [ "$ncpu" -gt 1 ]; then
        taskset -c 1 ./vdevkit net-peer "peer=$rt/alpha/curly,bind=$rt/host/vp0,mac=52:54:00:00:09:01,netns=gw" >> "$hp_log" 2>&1 &
    else
        ./vdevkit net-peer "peer=$rt/alpha/curly,bind=$rt/host/vp0,mac=52:54:00:00:09:01,netns=gw" >> "$hp_log" 2>&1 &
    fi
    hp_pid=$!
    i=0
    while ! inns gw "$IP" link show vp0 > /dev/null 2>&1 && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
    inns gw "$IP" link set vp0 master br0 || why="$why vp0-not-in-gw($(tail -n 3 "$hp_log" | tr '\n' ' '))"
    [ ! -e /sys/class/net/vp0 ] || why="$why vp0-in-the-outer-namespace"
    natarg=
    [ "$nat" = 1 ] && natarg="vdevkit.nat=10.0.10.100"
    conf alpha 0 curly host vp0 52:54:00:00:00:01 10.0.9.2 10.0.9.1 1500 net-world client \
        "vdevkit.world=10.0.9.100 $natarg"
    sed -i "s/vdevkit.secs=$secs/vdevkit.secs=$host_secs/" alpha.conf
    start alpha 0
    st_alpha=running
    i=0 wedged_at=
    while [ "$st_alpha" = running ] && [ $i -lt 400 ]; do
        check alpha
        if [ -z "$wedged_at" ] && guest_wedged alpha; then wedged_at=$i; fi
        [ -n "$wedged_at" ] && [ $((i - wedged_at)) -ge 15 ] && break
        sleep 1
        i=$((i + 1))
    done
    if [ "$st_alpha" = running ]; then
        why="$why alpha-still-running-after-${i}s"
        ap=$(vmm_pid alpha)
        [ -n "$ap" ] && kill -KILL "$ap"
    fi
    check alpha
    secs_used=$(( $(date +%s) - t0 ))
    members=$(inns gw "$IP" -o link show master br0 2> /dev/null | awk -F': ' '{ print $2 }' | sed 's/@.*//' | tr '\n' ' ')
    for m in vp0 wgw; do
        case " $members" in *" $m "*) ;; *) why="$why $m-not-in-br0($members)" ;; esac
    done
    res=$(grep -a 'VDEVKIT-RESULT net-world' alpha.log | tr -d '\r' | head -1)
    case $res in *"net-world ok"*) ;; *) why="$why alpha-result(${res:-none})" ;; esac
    natfig="NAT skipped (no nft)"
    if [ "$nat" = 1 ]; then
        pk=$(inns gw ./tools/nft list table ip vdk_nat 2> /dev/null | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
        # (iperf3 flushes its log at exit too)
        kill "$world2_srv" 2> /dev/null
        wait "$world2_srv" 2> /dev/null
        [ -n "$pk" ] && [ "$pk" -gt 0 ] || why="$why nft-masquerade-counter(${pk:-none})"
        grep -q 'Accepted connection from 10.0.10.1,' world2-iperf.log || why="$why world2-did-not-see-10.0.10.1($(grep -a 'Accepted' world2-iperf.log | tr '\n' ' '))"
        natfig="NAT: world2 saw $(grep -a 'Accepted connection' world2-iperf.log | head -1 | sed 's/.*from \([0-9.]*\),.*/\1/'), masquerade rule counted ${pk:-?} packets"
    fi
    [ -s world-setup.log ] && sed 's/^/    setup: /' world-setup.log
    kill -TERM "$hp_pid" 2> /dev/null
    wait "$hp_pid" 2> /dev/null
    world_teardown
    sed 's/^/    /' "$hp_log" | tail -n 6
    if [ -z "$why" ]; then
        pass=$((pass + 1))
        echo "net: $name: PASS (${secs_used}s) br0 in gw: $members; $natfig; alpha: $(metrics alpha)"
    else
        report_fail "$name" "$why (${secs_used}s)"
    fi
}

pair pair "" MSI 1500 no
pair pair-nomsi "pci=nomsi" "$intx_chip" 4000 yes
PAIR_VCPUS=2
pair pair-mq "vdevkit.queues=2 vdevkit.streams=4 vdevkit.rss=1" MSI 1500 no "queues 2" "queues 2"
PAIR_VCPUS=
dual
dual dual-pci
dual dual-same
pair pair-mmio "" "$intx_chip" 1500 no "$mmio_place"
pair pair-mmio2 "" "$intx_chip" 1500 no "$mmio_place" "$mmio_place"
linkdown
host_scenario
tap_scenario
world_scenario
rm -rf "$rt"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
