#!/bin/sh
# Runs inside the arm64 outer machine (run-arm64-tests.sh): the ARM tier-3 scenarios.
#   boot      a 2-vCPU guest to init and PSCI SYSTEM_OFF (status 0); one that resets
#             (PSCI SYSTEM_RESET, status 3); one with a pl011 at qvm's address (ttyAMA0);
#             SIGTERM presses the power button (gpio-keys KEY_POWER; status 0); each guest
#             found its UART through the DT; a guest's ldp on a device page stops the VM
#             with status 4 and a message naming the address (no valid ISV)
#   net       run-pair.sh's dual-same (2 vCPUs each: virtio-net on MMIO, found through the
#             DT's virtio,mmio node, peer-linked to MMIO; virtio-net on PCI behind the ECAM
#             host, MSI-X through the ITS, to PCI; ping and iperf3 both ways on each link; the
#             MMIO line's GIC interrupt counts) and linkdown (beta SIGKILLed: carrier 0)
#   shmem     run-shmem-pair.sh's pci and mmio (the DT's qvm,guest_shm node)
# ARM64_ONLY="boot net shmem" picks groups (default all).
cd "${VDEVKIT_PAYLOAD:-.}" || exit 1
export LD_LIBRARY_PATH=$PWD VDEVKIT_MODULE_PATH=$PWD/modules
only=${ARM64_ONLY:-boot net shmem}
pass=0
fail=0
want() { case " $only " in *" $1 "*) return 0 ;; esac; return 1; }

# boot NAME SCENARIO EXPECTED_STATUS MUST_PRINT [UART]: UART ser8250 (default: at QEMU virt's
# place, ttyS0) or pl011 (at qvm's Versatile Express place, as its ARM examples write it:
# ttyAMA0); the kernel must report that UART at that address (found through the DT). Scenario
# powerbutton: the VMM gets SIGTERM once the guest is ready and must end with 0.
boot() {
    if [ "${5:-ser8250}" = pl011 ]; then
        uart="vdev pl011 loc 0x1c090000 intr gic:37" console=ttyAMA0
        found="1c090000.pl011: ttyAMA0 at MMIO 0x1c090000 (irq = [0-9]*, base_baud = [0-9]*) is a PL011"
    else
        uart="vdev ser8250 loc mem:0x9000000 intr gic:1" console=ttyS0 found="ttyS0 at MMIO 0x9000000"
    fi
    {
        echo "system $1"
        echo "ram 0x40000000,256M"
        echo "cpu runmask 0"
        echo "cpu runmask 1"
        echo "load Image"
        echo "initrd load initrd.img"
        echo "cmdline \"console=$console panic=-1 vdevkit.scenario=$2 vdevkit.addr=0xa000000\""
        echo "$uart"
    } > "$1.conf"
    start=$(date +%s)
    rc=0
    if [ "$2" = powerbutton ]; then
        timeout -k 5 150 ./vdevkit run @"$1.conf" > "$1.log" 2>&1 &
        vp=$!
        n=0
        while ! grep -aq 'powerbutton ready' "$1.log" && [ $n -lt 600 ] && kill -0 "$vp" 2>/dev/null; do
            sleep 0.2
            n=$((n + 1))
        done
        kill -TERM "$vp" 2>/dev/null # (busybox timeout execs: $vp is the VMM)
        wait "$vp" || rc=$?
    else
        timeout -k 5 150 ./vdevkit run @"$1.conf" > "$1.log" 2>&1 || rc=$?
    fi
    secs=$(($(date +%s) - start))
    init_at=$(grep -a 'VDEVKIT-GUEST scenario=' "$1.log" | tr -d '\r' | sed -n 's/.* uptime=\([0-9.]*\).*/\1/p' | head -n 1)
    if [ "$rc" -eq "$3" ] && grep -aq "$4" "$1.log" && grep -aq "$found" "$1.log"; then
        pass=$((pass + 1))
        echo "arm64: $1: PASS (status $rc, ${secs}s, init at ${init_at}s guest uptime) $(grep -a -m1 'VDEVKIT-RESULT' "$1.log" | tr -d '\r')"
    else
        fail=$((fail + 1))
        echo "arm64: $1: FAIL (status $rc, expected $3 and '$4' and '$found', ${secs}s); console tail:"
        tail -n 40 "$1.log" | tr -d '\r' | sed 's/^/    /'
    fi
}

# group NAME SCRIPT ENV...: a pair script's own verdict lines, counted
group() {
    name=$1 script=$2
    shift 2
    out=$(env "$@" sh "./$script" 2>&1)
    rc=$?
    printf '%s\n' "$out"
    p=$(printf '%s\n' "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' | tail -n 1)
    if [ -n "$p" ]; then
        pass=$((pass + ${p% *}))
        fail=$((fail + ${p#* }))
    fi
    if [ "$rc" -ne 0 ] && { [ -z "$p" ] || [ "${p#* }" = 0 ]; }; then
        fail=$((fail + 1))
        echo "arm64: $name: FAIL ($script ended with status $rc)"
    fi
}

if want boot; then
    boot boot-2cpu boot 0 "VDEVKIT-RESULT boot ok cpus=2"
    boot reset reboot 3 "VDEVKIT-RESULT reboot ok"
    boot boot-pl011 boot 0 "VDEVKIT-RESULT boot ok cpus=2" pl011
    boot powerbutton powerbutton 0 "VDEVKIT-RESULT powerbutton ok" pl011
    boot nisv nisv 4 "MMIO access at 0xa000000 that KVM cannot decode"
fi
want net && group net run-pair.sh NET_ARCH=arm64 NET_VCPUS=2 NET_ONLY="dual-same linkdown"
want shmem && group shmem run-shmem-pair.sh SHM_ARCH=arm64 SHM_VCPUS=2
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
