#!/bin/sh
# Runs inside the outer machine (or directly): boots the test guest once per scenario under
# vdevkit and checks what it printed and how the VMM ended.
cd "${VDEVKIT_PAYLOAD:-.}"
export LD_LIBRARY_PATH=$PWD VDEVKIT_MODULE_PATH=$PWD/modules
pass=0
fail=0

# NAME CPUS SCENARIO EXPECTED_STATUS MUST_PRINT [DEVICE]
# DEVICE: mc146818 or hpet, added to the VM and announced to the guest (vdevkit.rtc=1,
# vdevkit.hpet=1), whose /init then checks that Linux found it (rtc0 with the host's date;
# the ACPI HPET table and node).
run() {
    name=$1 cpus=$2 scenario=$3 want=$4 expect=$5 dev=${6:-}
    conf=$name.conf
    extra=
    case "$dev" in mc146818) extra=" vdevkit.rtc=1" ;; hpet) extra=" vdevkit.hpet=1" ;; esac
    {
        echo "system $name"
        echo "ram 256M"
        i=0
        while [ $i -lt "$cpus" ]; do echo "cpu runmask $((i % 2))"; i=$((i + 1)); done
        echo "load bzImage"
        echo "initrd load initrd.img"
        echo "cmdline \"console=ttyS0 panic=-1 vdevkit.scenario=$scenario$extra\""
        echo "vdev ser8250"
        [ -z "$dev" ] || echo "vdev $dev"
    } > "$conf"
    start=$(date +%s)
    rc=0
    case " ${LINUX_ONLY:-$name} " in *" $name "*) ;; *) return 0 ;; esac
    timeout -k 5 "${LINUX_TEST_TIMEOUT:-150}" ./vdevkit run @"$conf" > "$name.log" 2>&1 || rc=$?
    secs=$(( $(date +%s) - start ))
    # the RTC's date is the host's (base utc): within the run's seconds and some slack
    rtc_ok=true
    if [ "$dev" = mc146818 ]; then
        epoch=$(sed -n 's/.*VDEVKIT-GUEST rtc-epoch=\([0-9]*\).*/\1/p' "$name.log" | head -n 1)
        if [ -z "$epoch" ] || [ "$epoch" -lt $((start - 5)) ] || [ "$epoch" -gt $((start + secs + 5)) ]; then
            rtc_ok=false
            expect="$expect (and rtc-epoch within $start..$((start + secs)), got '${epoch}')"
        fi
    fi
    if [ "$rc" -eq "$want" ] && grep -q "$expect" "$name.log" && $rtc_ok; then
        pass=$((pass + 1))
        echo "linux: $name: PASS (status $rc, ${secs}s) $(grep -m1 'VDEVKIT-GUEST' "$name.log")"
    else
        fail=$((fail + 1))
        echo "linux: $name: FAIL (status $rc, expected $want and '$expect', ${secs}s); console tail:"
        tail -n 40 "$name.log" | sed 's/^/    /'
    fi
}

run boot-1cpu 1 boot 0 "VDEVKIT-RESULT boot ok cpus=1" hpet
run boot-2cpu 2 boot 0 "VDEVKIT-RESULT boot ok cpus=2" mc146818
run reboot 1 reboot 3 "VDEVKIT-RESULT reboot ok"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
