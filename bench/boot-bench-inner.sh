#!/bin/sh
# The measuring half of boot-bench.sh, run where /dev/kvm works.
cd "${VDEVKIT_PAYLOAD:-.}"
export LD_LIBRARY_PATH=$PWD VDEVKIT_MODULE_PATH=$PWD/modules
n=${1:-5}
cmdline="console=ttyS0 quiet panic=-1 vdevkit.scenario=bench"
# Both VMMs pinned to outer CPU 0: an unpinned vCPU can hang the nested outer machine
# (guest-tests/harness), and it keeps the comparison fair.
if [ "${BENCH_ARCH:-amd64}" = arm64 ]; then
    cat > bench.conf <<CONF
ram 0x40000000,256M
cpu runmask 0
load Image
initrd load initrd.img
cmdline "$cmdline"
vdev ser8250 loc mem:0x9000000 intr gic:1
CONF
else
    cat > bench.conf <<CONF
ram 256M
cpu runmask 0
load bzImage
initrd load initrd.img
cmdline "$cmdline"
vdev ser8250
CONF
fi

# (exec: the measured pid must be the VMM, not the subshell running this function)
qemu() {
    if [ "${BENCH_ARCH:-amd64}" = arm64 ]; then
        exec taskset -c 0 ./qemu-system-aarch64 -M virt,gic-version=3 -accel kvm \
            -cpu host -smp 1 -m 256M \
            -nodefaults -no-user-config -display none -serial stdio -no-reboot \
            -kernel Image -initrd initrd.img -append "$(echo "$cmdline" | sed 's/ttyS0/ttyAMA0/')"
    else
        exec taskset -c 0 ./qemu-system-x86_64 -L qemu-share -M microvm,acpi=on -accel kvm \
            -cpu host -smp 1 -m 256M \
            -nodefaults -no-user-config -display none -serial stdio -no-reboot \
            -kernel bzImage -initrd initrd.img -append "$cmdline"
    fi
}

now_ms() { read -r up _ < /proc/uptime; echo "$up" | awk '{ printf "%d", $1 * 1000 }'; }

# one VMM run: prints "WALL_MS GUEST_UPTIME OWN_RSS_KB"
measure() {
    : > run.log # empty before the VMM starts: the poll below must not see the last run's log
    start=$(now_ms)
    "$@" >> run.log 2>&1 < /dev/null &
    pid=$!
    (sleep 120; kill -9 "$pid" 2>/dev/null) &
    watchdog=$!
    polls=0
    while ! grep -q "VDEVKIT-RESULT bench ok" run.log 2>/dev/null; do
        polls=$((polls + 1)); [ $polls -gt 2400 ] && break
        sleep 0.05
    done
    wall=$(( $(now_ms) - start ))
    # own memory: every resident page but guest RAM, which both VMMs keep in one anonymous
    # mapping of (at least) its size, 256 MiB, with transparent huge pages (QEMU's default
    # backend; vdevkit's); no other mapping of either is that large
    rss=$(awk '/^[0-9a-f]+-[0-9a-f]+ / { guest = 0 }
               /^Size:/ { guest = ($2 >= 262144) }
               /^Rss:/ { if (!guest) s += $2 } END { print s }' /proc/"$pid"/smaps 2>/dev/null)
    wait "$pid" || echo "  (exit $?: $(tail -n 3 run.log | tr '\n' ' '))" >&2
    kill "$watchdog" 2>/dev/null
    up=$(sed -n 's/.*VDEVKIT-GUEST .*uptime=\([0-9.]*\).*/\1/p' run.log | head -1)
    echo "$wall ${up:-?} ${rss:-?}"
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

: > vdevkit.txt; : > qemu.txt
i=0
while [ $i -lt "$n" ]; do
    echo "run $((i + 1)) of $n" >&2
    measure taskset -c 0 ./vdevkit run @bench.conf >> vdevkit.txt
    measure qemu >> qemu.txt
    i=$((i + 1))
done
echo "runs (wall ms to init's result line, guest uptime s, VMM RSS KiB):"
sed 's/^/  vdevkit /' vdevkit.txt
sed 's/^/  qemu    /' qemu.txt
vw=$(cut -d' ' -f1 vdevkit.txt | median); qw=$(cut -d' ' -f1 qemu.txt | median)
vu=$(cut -d' ' -f2 vdevkit.txt | median); qu=$(cut -d' ' -f2 qemu.txt | median)
vr=$(cut -d' ' -f3 vdevkit.txt | median); qr=$(cut -d' ' -f3 qemu.txt | median)
printf '\n%-10s %14s %16s %14s\n' "VMM" "wall to init" "guest uptime" "VMM RSS"
printf '%-10s %11s ms %14s s %10s KiB\n' vdevkit "$vw" "$vu" "$vr"
printf '%-10s %11s ms %14s s %10s KiB\n' qemu "$qw" "$qu" "$qr"
awk -v a="$vw" -v b="$qw" 'BEGIN { if (b > 0) printf "ratio vdevkit/qemu (wall): %.2f\n", a / b }'
