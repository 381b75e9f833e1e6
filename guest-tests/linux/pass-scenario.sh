#!/bin/sh
# Runs inside the passthrough outer machine (run-pass-tests.sh): VF 0 of the igb PF given to a
# guest with `pass ... mac M managed`, as libvirt's <interface type='hostdev' managed='yes'>.
#   vf0       the VMM sets VF 0's MAC through the PF and binds VF 0 to vfio-pci; the guest
#             drives it with igbvf (MAC M, carrier, ping, MSI-X); while it runs `ip link show
#             PF` shows M on vf 0; after it the MAC is back and VF 0 is on igbvf again
#   vf0-kill  the same VMM SIGKILLed while the guest runs: the MAC stays and the record is
#             left; `vdevkit hostdev-cleanup` sets the MAC back and gives VF 0 back to igbvf
#   vf-pair   two guests, VF 0 and VF 1 (MACs set through the PF), ping each other: the igb
#             switches frames between its VFs
#   ahci-msi  an MSI-only device (the outer machine's ich9-ahci) to a guest whose ahci driver
#             reads the disk's signature on MSI interrupts
#   pf-intx   the PF itself (its VFs gone), bound to vfio-pci by hand, given to a guest booted
#             with pci=nomsi: igb drives it on INTx (VFIO's INTx through the KVM irqfd and its
#             resampler), pings, and reads the ROM's 55 aa when the host shows one; then the PF
#             goes back to igb
cd "${VDEVKIT_PAYLOAD:-.}" || exit 1
export LD_LIBRARY_PATH=$PWD VDEVKIT_MODULE_PATH=$PWD/modules
IP=$PWD/tools/ip
MAC=00:11:22:33:44:55
pass=0
fail=0
link() { basename "$(readlink "$1")"; }
PF=$(ls /sys/bus/pci/drivers/igb/ | grep '^0000' | head -n 1)
nd=$(ls "/sys/bus/pci/devices/$PF/net")
$IP link set "$nd" up
echo 2 > "/sys/bus/pci/devices/$PF/sriov_numvfs"
VF=$(link "/sys/bus/pci/devices/$PF/virtfn0")
vf_mac() { $IP link show "$nd" | sed -n 's/.*vf 0 .*link\/ether \([0-9a-f:]*\).*/\1/p'; }
vf_driver() { if [ -e "/sys/bus/pci/devices/$VF/driver" ]; then link "/sys/bus/pci/devices/$VF/driver"; else echo none; fi; }
# The host's own setting for VF 0, which the VMM must put back: without one, igb hands an
# igbvf-driven VF a random MAC at some reset after the probe, so "the MAC before" would be
# whatever that race left (the library restores what it read when the VM started).
$IP link set "$nd" vf 0 mac 02:00:00:00:00:01
n=0
while [ ! -e "/sys/bus/pci/devices/$VF/net" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
sleep 1
orig_mac=$(vf_mac) orig_drv=$(vf_driver)
echo "pass: VF 0 $VF (group $(link "/sys/bus/pci/devices/$VF/iommu_group")) on $orig_drv, vf 0 mac $orig_mac"
cat > pass.conf <<CONF
system alpha
ram 256M
cpu
load bzImage
initrd load initrd-pass.img
cmdline "console=ttyS0 panic=-1 loglevel=5 vdevkit.scenario=pass vdevkit.mac=$MAC"
vdev ser8250
pass loc pci:0:3.0=pci:$VF mac $MAC managed
CONF

report() { # NAME WHY
    if [ -z "$2" ]; then
        pass=$((pass + 1))
        echo "pass: $1: PASS ($secs s) $(grep -a 'VDEVKIT-GUEST pass' pass.log | tr -d '\r' | sed 's/VDEVKIT-GUEST pass //' | tr '\n' ' ')"
    else
        fail=$((fail + 1))
        echo "pass: $1: FAIL:$2 ($secs s); log:"
        grep -aE 'vdevkit|vfio|hostdev|VDEVKIT-|igbvf|pass' pass.log | tr -d '\r' | tail -n 30 | sed 's/^/    /'
    fi
}

# vf0: the whole life of a managed VF
start=$(date +%s)
timeout -k 5 200 ./vdevkit run @pass.conf > pass.log 2>&1 &
vp=$!
seen=
while kill -0 "$vp" 2> /dev/null; do
    if [ -z "$seen" ] && grep -aq 'VDEVKIT-GUEST pass nic=' pass.log; then seen=$(vf_mac)/$(vf_driver); fi
    sleep 0.2
done
rc=0
wait "$vp" || rc=$?
secs=$(($(date +%s) - start))
why=
[ "$rc" = 0 ] || why="$why status=$rc"
grep -aq 'VDEVKIT-RESULT pass ok' pass.log || why="$why guest:$(grep -a 'VDEVKIT-RESULT' pass.log | tr -d '\r' | head -n 1)"
[ "$seen" = "$MAC/vfio-pci" ] || why="$why while-running:$seen(want-$MAC/vfio-pci)"
[ "$(vf_mac)/$(vf_driver)" = "$orig_mac/$orig_drv" ] || why="$why after:$(vf_mac)/$(vf_driver)(want-$orig_mac/$orig_drv)"
report vf0 "$why"
echo "    PF's vf 0 while the guest ran: $seen; after: $(vf_mac) on $(vf_driver)"

# vf0-kill: the VMM dies; the record brings the VF back
start=$(date +%s)
timeout -k 5 200 ./vdevkit run @pass.conf > pass.log 2>&1 &
vp=$!
n=0
while ! grep -aq 'VDEVKIT-GUEST pass nic=' pass.log && [ $n -lt 600 ] && kill -0 "$vp" 2> /dev/null; do
    sleep 0.2
    n=$((n + 1))
done
vmm=$(./vdevkit info alpha 2> /dev/null | sed -n 's/^pid //p')
kill -KILL "${vmm:-$vp}" 2> /dev/null
wait "$vp" 2> /dev/null
killed=$(vf_mac)/$(vf_driver)
records=$(ls /run/vdevkit/hostdev/ 2> /dev/null | tr '\n' ' ')
./vdevkit hostdev-cleanup > cleanup.txt 2>&1
crc=$?
secs=$(($(date +%s) - start))
why=
[ "$killed" = "$MAC/vfio-pci" ] || why="$why after-kill:$killed(want-$MAC/vfio-pci)"
[ "$crc" = 0 ] || why="$why cleanup-status=$crc"
[ "$(vf_mac)/$(vf_driver)" = "$orig_mac/$orig_drv" ] || why="$why after-cleanup:$(vf_mac)/$(vf_driver)"
report vf0-kill "$why"
echo "    after SIGKILL: $killed, records: $records; vdevkit hostdev-cleanup: $(tr '\n' ' ' < cleanup.txt); then: $(vf_mac) on $(vf_driver)"
# vf-pair: two guests, one VF each (VF 0 managed with MAC M, VF 1 already on vfio-pci with
# MAC M2 set here), ping each other through the igb's switch between its VFs
MAC2=00:11:22:33:44:66
VF1=$(link "/sys/bus/pci/devices/$PF/virtfn1")
$IP link set "$nd" vf 1 mac $MAC2
echo "$VF1" > "/sys/bus/pci/devices/$VF1/driver/unbind" 2> /dev/null
echo vfio-pci > "/sys/bus/pci/devices/$VF1/driver_override"
echo "$VF1" > /sys/bus/pci/drivers_probe
sed -e "s/vdevkit.mac=$MAC\"/vdevkit.mac=$MAC vdevkit.ip=10.0.3.1 vdevkit.peer=10.0.3.2\"/" pass.conf > pass-a.conf
sed -e "s/^system alpha/system beta/" \
    -e "s/vdevkit.mac=$MAC\"/vdevkit.mac=$MAC2 vdevkit.ip=10.0.3.2 vdevkit.peer=10.0.3.1\"/" \
    -e "s/^pass .*/pass loc pci:0:3.0=pci:$VF1/" pass.conf > pass-b.conf
start=$(date +%s)
timeout -k 5 200 ./vdevkit run @pass-a.conf > pass-a.log 2>&1 &
va=$!
timeout -k 5 200 ./vdevkit run @pass-b.conf > pass-b.log 2>&1
rb=$?
ra=0
wait "$va" || ra=$?
secs=$(($(date +%s) - start))
why=
[ "$ra/$rb" = 0/0 ] || why="$why status=$ra/$rb"
for g in a b; do
    grep -aq 'VDEVKIT-RESULT pass ok' pass-$g.log || why="$why $g:$(grep -a 'VDEVKIT-RESULT' pass-$g.log | tr -d '\r' | head -n 1)"
done
cat pass-a.log pass-b.log > pass.log
report vf-pair "$why"

# ahci-msi: an MSI-only device (QEMU's ich9-ahci, unbound in the outer machine) to a guest
# whose ahci driver must read the disk's first bytes on MSI
AHCI=
for dev in /sys/bus/pci/devices/*; do
    [ "$(cat "$dev/class")" = 0x010601 ] && AHCI=${dev##*/}
done
if [ -n "$AHCI" ]; then
    [ ! -e "/sys/bus/pci/devices/$AHCI/driver" ] || echo "$AHCI" > "/sys/bus/pci/devices/$AHCI/driver/unbind"
    echo vfio-pci > "/sys/bus/pci/devices/$AHCI/driver_override"
    echo "$AHCI" > /sys/bus/pci/drivers_probe
    echo "pass: AHCI $AHCI (group $(link "/sys/bus/pci/devices/$AHCI/iommu_group"))"
    sed -e "s/^cmdline .*/cmdline \"console=ttyS0 panic=-1 loglevel=5 vdevkit.scenario=pass-disk vdevkit.sig=$(cat ahci-sig)\"/" \
        -e "s/^pass .*/pass loc pci:0:4.0=pci:$AHCI/" pass.conf > pass-ahci.conf
    start=$(date +%s)
    timeout -k 5 200 ./vdevkit run @pass-ahci.conf > pass.log 2>&1
    rc=$?
    secs=$(($(date +%s) - start))
    why=
    [ "$rc" = 0 ] || why="$why status=$rc"
    grep -aq 'VDEVKIT-RESULT pass ok' pass.log || why="$why guest:$(grep -a 'VDEVKIT-RESULT' pass.log | tr -d '\r' | head -n 1)"
    report ahci-msi "$why"
else
    secs=0
    report ahci-msi " no-AHCI-controller-in-the-outer-machine"
fi

# pf-intx: INTx and the expansion ROM, on the PF
echo 0 > "/sys/bus/pci/devices/$PF/sriov_numvfs"
pf_mac=$(cat "/sys/class/net/$nd/address")
want_rom=0
[ -e "/sys/bus/pci/devices/$PF/rom" ] && want_rom=1
echo "$PF" > "/sys/bus/pci/devices/$PF/driver/unbind"
echo vfio-pci > "/sys/bus/pci/devices/$PF/driver_override"
echo "$PF" > /sys/bus/pci/drivers_probe
pf_driver() { if [ -e "/sys/bus/pci/devices/$PF/driver" ]; then link "/sys/bus/pci/devices/$PF/driver"; else echo none; fi; }
echo "pass: PF $PF (group $(link "/sys/bus/pci/devices/$PF/iommu_group")) on $(pf_driver), mac $pf_mac, ROM: $want_rom"
sed -e "s/^cmdline .*/cmdline \"console=ttyS0 panic=-1 loglevel=5 pci=nomsi vdevkit.scenario=pass vdevkit.mac=$pf_mac vdevkit.driver=igb vdevkit.chip=IO-APIC vdevkit.rom=$want_rom\"/" \
    -e "s/^pass .*/pass loc pci:0:3.0=pci:$PF/" pass.conf > pass-pf.conf
start=$(date +%s)
timeout -k 5 200 ./vdevkit run @pass-pf.conf > pass.log 2>&1
rc=$?
secs=$(($(date +%s) - start))
why=
[ "$rc" = 0 ] || why="$why status=$rc"
grep -aq 'VDEVKIT-RESULT pass ok' pass.log || why="$why guest:$(grep -a 'VDEVKIT-RESULT' pass.log | tr -d '\r' | head -n 1)"
echo "$PF" > /sys/bus/pci/drivers/vfio-pci/unbind
echo > "/sys/bus/pci/devices/$PF/driver_override"
echo "$PF" > /sys/bus/pci/drivers_probe
[ "$(pf_driver)" = igb ] || why="$why after:$(pf_driver)(want-igb)"
report pf-intx "$why"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
