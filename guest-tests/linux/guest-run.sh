#!/bin/sh
# Runs inside the outer machine (or directly): boots the test guest once per scenario under
# vdevkit and checks what it printed and how the VMM ended.
cd "${VDEVKIT_PAYLOAD:-.}"
export LD_LIBRARY_PATH=$PWD VDEVKIT_MODULE_PATH=$PWD/modules
pass=0
fail=0

# NAME CPUS SCENARIO EXPECTED_STATUS MUST_PRINT
run() {
    name=$1 cpus=$2 scenario=$3 want=$4 expect=$5
    conf=$name.conf
    {
        echo "system $name"
        echo "ram 256M"
        i=0
        while [ $i -lt "$cpus" ]; do echo "cpu runmask $((i % 2))"; i=$((i + 1)); done
        echo "load bzImage"
        echo "initrd load initrd.img"
        echo "cmdline \"console=ttyS0 panic=-1 vdevkit.scenario=$scenario\""
        echo "vdev ser8250"
    } > "$conf"
    start=$(date +%s)
    rc=0
    case " ${LINUX_ONLY:-$name} " in *" $name "*) ;; *) return 0 ;; esac
    timeout -k 5 "${LINUX_TEST_TIMEOUT:-150}" ./vdevkit run @"$conf" > "$name.log" 2>&1 || rc=$?
    secs=$(( $(date +%s) - start ))
    if [ "$rc" -eq "$want" ] && grep -q "$expect" "$name.log"; then
        pass=$((pass + 1))
        echo "linux: $name: PASS (status $rc, ${secs}s) $(grep -m1 'VDEVKIT-GUEST' "$name.log")"
    else
        fail=$((fail + 1))
        echo "linux: $name: FAIL (status $rc, expected $want and '$expect', ${secs}s); console tail:"
        tail -n 40 "$name.log" | sed 's/^/    /'
    fi
}

run boot-1cpu 1 boot 0 "VDEVKIT-RESULT boot ok cpus=1"
run boot-2cpu 2 boot 0 "VDEVKIT-RESULT boot ok cpus=2"
run reboot 1 reboot 3 "VDEVKIT-RESULT reboot ok"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
