#!/bin/sh
# Runs inside the outer machine (or directly on a KVM host): two vdevkit VMs, `alpha` (the
# writer) and `beta` (the reader), each pinned to its own CPU, each with a `vdev shmem` whose
# allow list takes test* and which creates test0 (64 MiB) when the VM starts; both boot the
# tier-3 initramfs built with --shmem and run the guest's `shmem` scenario (see /init):
#   alpha: the denied name gets NO_PERMISSION; attach test0, wait for beta, write a pattern
#          over the region and a message, notify; wait for beta's answer; 200 notification
#          round trips; wait for beta's detach
#   beta:  attach test0, wait for the notification, verify the pattern's checksum, read the
#          message, answer with a message and a notification, round trips; stay up
# Once beta has its result its VMM is killed (SIGKILL) and alpha must see beta's bit leave
# the attach bitmap (PCI: woken by the interrupt, through uio_pci_generic).
# Scenarios: pci (the device on PCI: BAR0 factory, BAR2 window, INTx) and mmio (`loc
# 0xd1000000 intr ioapic:11`; the guests poll). SHM_ONLY="pci" picks; SHM_PAGES (16384)
# the region's data pages; SHM_GUEST_QUIET=0 keeps the guests' boot messages.
# SHM_ARCH=arm64: arm64 guests (run-arm64-tests.sh): RAM at 0x40000000, the Image, the UART
# on the GIC, the MMIO device at `loc 0x0c000000 intr gic:64` found through the device tree's
# qvm,guest_shm node; SHM_VCPUS vCPUs each (default 1).
# Prints "shmem: NAME: PASS|FAIL ..." per scenario, the figures, and "N passed, M failed".
cd "${VDEVKIT_PAYLOAD:-.}" || exit 1
export LD_LIBRARY_PATH=$PWD VDEVKIT_MODULE_PATH=$PWD/modules
rt=$(mktemp -d /tmp/vdevkit-rt.XXXXXX)
export VDEVKIT_RUNTIME_DIR=$rt
pages=${SHM_PAGES:-16384}
mib=$((pages / 256))
quiet=loglevel=5
[ "${SHM_GUEST_QUIET:-1}" = 1 ] || quiet=
pair_timeout=${SHM_PAIR_TIMEOUT:-300}
ncpu=$(nproc)
pass=0
fail=0
vcpus=${SHM_VCPUS:-1}
if [ "${SHM_ARCH:-amd64}" = arm64 ]; then
    ram_line="ram 0x40000000,256M" kernel=Image uart="vdev ser8250 loc mem:0x9000000 intr gic:1"
    mmio_factory=0xc000000 mmio_place="loc 0x0c000000 intr gic:64"
else
    ram_line="ram 256M" kernel=bzImage uart="vdev ser8250"
    mmio_factory=0xd1000000 mmio_place="loc 0xd1000000 intr ioapic:11"
fi
echo "shmem: runtime dir $rt, $ncpu CPUs, region test0 of $pages pages ($mib MiB)"

# conf SYSTEM CPU ROLE SHM_ARG DEVICE_PLACE
conf() {
    {
        echo "system $1"
        echo "$ram_line"
        i=0
        while [ $i -lt "$vcpus" ]; do echo "cpu runmask $2"; i=$((i + 1)); done
        echo "load $kernel"
        echo "initrd load initrd-shmem.img"
        echo "cmdline \"console=ttyS0 panic=-1 $quiet vdevkit.scenario=shmem vdevkit.role=$3" \
            "vdevkit.shm=$4 vdevkit.shmname=test0 vdevkit.pages=$pages vdevkit.denied=secret\""
        echo "$uart"
        echo "vdev shmem${5:+ $5} allow test* create test0,${mib}M"
    } > "$1.conf"
}

. ./vmm-procs.sh # start, vmm_pid, alive, check, guest_wedged

# gshm_line SYSTEM STEP: the guest's "gshm: STEP ok ..." line, without the prefix.
gshm_line() { grep -a "gshm: $2 " "$1.log" | tr -d '\r' | tail -n 1 | sed 's/^.*gshm: //'; }
field() { printf '%s\n' "$1" | tr ' ' '\n' | awk -v k="$2=" 'index($0, k) == 1 { print substr($0, length(k) + 1); exit }'; }

report_fail() {
    fail=$((fail + 1))
    echo "shmem: $1: FAIL: $2"
    for s in alpha beta; do
        echo "    --- $s: VMM and guest lines that matter (full log: $s.log) ---"
        grep -aE 'vdevkit|VDEVKIT-|gshm|shm|uio|BUG|WARNING|Call Trace' "$s.log" |
            tr -d '\r' | tail -n 40 | sed 's/^/    /'
        echo "    --- $s: console tail ---"
        tail -n 15 "$s.log" | tr -d '\r' | sed 's/^/    /'
    done
}

# wait_pair NAME: runs until both VMs ended; kills beta once it has its result and alpha
# has finished its round trips.
wait_pair() {
    killed=0 waited=0 beta_gone='' st_alpha=running st_beta=running wedged='' wedged_at=0
    killed_at='' listed=0
    while :; do
        check alpha
        check beta
        [ "$st_alpha" != running ] && [ "$st_beta" != running ] && break
        # the host's view, once, while both guests are attached
        if [ "$listed" = 0 ] && grep -aq 'gshm: wait-peers ok' alpha.log; then
            listed=1
            ./vdevkit shmem list > shmem-list.txt 2>&1 || rm -f shmem-list.txt
        fi
        # (and alpha is done with the round trips: it is waiting for the detach)
        if [ "$killed" = 0 ] && grep -aq 'VDEVKIT-RESULT shmem' beta.log &&
            grep -aqE 'gshm: ping |VDEVKIT-RESULT' alpha.log; then
            bpid=$(vmm_pid beta)
            if [ -n "$bpid" ]; then
                echo "shmem: $1: beta has its result; killing its VMM (pid $bpid, SIGKILL)"
                kill -KILL "$bpid"
                killed=1
                killed_at=$(date +%s)
            fi
        fi
        for g in alpha beta; do
            if [ -z "$wedged" ] && guest_wedged $g; then
                wedged=$g
                wedged_at=$waited
                echo "shmem: $1: $g's kernel is wedged; stopping the pair in 15 s"
            fi
        done
        if [ -n "$wedged" ] && [ $((waited - wedged_at)) -ge 15 ]; then
            for g in alpha beta; do
                gp=$(vmm_pid $g)
                [ -n "$gp" ] && kill -KILL "$gp"
            done
        fi
        if [ "$st_beta" != running ] && [ -z "$beta_gone" ]; then beta_gone=$waited; fi
        if [ -n "$beta_gone" ] && [ $((waited - beta_gone)) -ge 60 ] && [ "$st_alpha" = running ]; then
            echo "shmem: $1: alpha still running 60 s after beta ended; stopping it"
            apid=$(vmm_pid alpha)
            [ -n "$apid" ] && kill -KILL "$apid"
        fi
        sleep 1
        waited=$((waited + 1))
    done
    alpha_end=$(date +%s)
}

# pair NAME SHM_ARG DEVICE_PLACE EXPECT_WAKE(interrupt|poll)
pair() {
    name=$1
    case " ${SHM_ONLY:-pci mmio} " in *" $name "*) ;; *) return 0 ;; esac
    conf alpha 0 writer "$2" "$3"
    conf beta 1 reader "$2" "$3"
    rm -f shmem-list.txt
    t0=$(date +%s)
    start alpha 0
    start beta 1
    wait_pair "$name"
    secs_used=$(($(date +%s) - t0))
    why=
    grep -aq 'VDEVKIT-RESULT shmem ok role=reader' beta.log || why="$why beta-no-result($(grep -a 'VDEVKIT-RESULT' beta.log | tr -d '\r' | head -1))"
    grep -aq 'VDEVKIT-RESULT shmem ok role=writer' alpha.log || why="$why alpha-no-result($(grep -a 'VDEVKIT-RESULT' alpha.log | tr -d '\r' | head -1))"
    [ "$st_alpha" = 0 ] || why="$why alpha-status=$st_alpha"
    [ "$killed" = 1 ] || why="$why beta-not-killed"
    wrote=$(gshm_line alpha write-pattern)
    checked=$(gshm_line beta checksum)
    [ -n "$checked" ] && [ "$(field "$wrote" checksum)" = "$(field "$checked" checksum)" ] ||
        why="$why checksums-differ(alpha:$(field "$wrote" checksum),beta:$(field "$checked" checksum))"
    wait_a=$(gshm_line alpha wait)
    detach=$(gshm_line alpha wait-detach)
    case "$(field "$wait_a" by) $(field "$detach" by)" in
        "$4 $4") ;;
        *) why="$why woken-by($(field "$wait_a" by),$(field "$detach" by);expected-$4)" ;;
    esac
    if [ "$name" = mmio ]; then
        # the guest found the device through the firmware's description (ACPI or the DT)
        acpi=$(grep -a 'VDEVKIT-GUEST shm-acpi-factory' alpha.log | tr -d '\r' | head -1)
        echo "shmem: $name: $acpi"
        case "$acpi" in *"factory=$2 expected=$2") ;; *) why="$why guest-did-not-find-the-factory-node" ;; esac
    fi
    if [ -z "$why" ]; then
        pass=$((pass + 1))
        echo "shmem: $name: PASS (${secs_used}s)"
        echo "    beta read:  \"$(gshm_line beta read-msg | sed 's/^read-msg ok "//; s/"$//')\""
        echo "    alpha read: \"$(gshm_line alpha read-msg | sed 's/^read-msg ok "//; s/"$//')\""
        check1=$(grep -a 'gshm: checksum ok' beta.log | tr -d '\r' | head -n 1 | sed 's/^.*gshm: //')
        first=$(grep -a 'gshm: write-pattern ok' alpha.log | tr -d '\r' | head -n 1 | sed 's/^.*gshm: //')
        echo "    alpha writes $mib MiB: $(field "$first" secs) s the first time (page faults)," \
            "$(field "$wrote" secs) s the second ($(field "$wrote" MiB/s) MiB/s);" \
            "beta checks them: $(field "$check1" secs) s the first time, $(field "$checked" secs) s" \
            "the second ($(field "$checked" MiB/s) MiB/s)"
        echo "    notification: beta's answer woke alpha by $(field "$wait_a" by);" \
            "round trip $(field "$(gshm_line alpha ping)" round-trip-us) us (mean of 200)"
        echo "    denied: $(grep -a 'NO_PERMISSION as expected' alpha.log | tr -d '\r' | sed 's/^.*gshm: //; s/as expected.*/as expected/' | head -n 1)"
        echo "    detach: alpha saw beta leave (left=$(field "$detach" left)," \
            "attached=$(field "$detach" attached), by $(field "$detach" by))" \
            "about $((alpha_end - ${killed_at:-$alpha_end}))s after the kill, and powered off"
    else
        report_fail "$name" "$why (${secs_used}s)"
    fi
    [ -s shmem-list.txt ] && sed 's/^/    vdevkit shmem list: /' shmem-list.txt
    for g in alpha beta; do
        echo "    $g's steps (guest uptime at its result: $(grep -a 'VDEVKIT-RESULT shmem' $g.log | tr -d '\r' | sed -n 's/.*uptime=//p' | head -n 1) s):"
        # (the VMM's own log lines may land inside a guest line: cut them off)
        grep -a 'gshm: ' $g.log | tr -d '\r' | sed 's/^.*gshm: /        /; s/\(as expected\).*/\1/'
    done
    return 0
}

pair pci pci "" interrupt
pair mmio "$mmio_factory" "$mmio_place" poll
rm -rf "$rt"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
