#!/bin/sh
# Runs inside the passthrough outer machine (run-pass-tests.sh): VF 0 of the igb PF to a guest.
cd "${VDEVKIT_PAYLOAD:-.}" || exit 1
export LD_LIBRARY_PATH=$PWD VDEVKIT_MODULE_PATH=$PWD/modules
IP=$PWD/tools/ip
MAC=00:11:22:33:44:55
link() { basename "$(readlink "$1")"; }
PF=$(ls /sys/bus/pci/drivers/igb/ | grep '^0000' | head -n 1)
nd=$(ls "/sys/bus/pci/devices/$PF/net")
$IP link set "$nd" up
echo 2 > "/sys/bus/pci/devices/$PF/sriov_numvfs"
VF=$(link "/sys/bus/pci/devices/$PF/virtfn0")
before=$($IP link show "$nd" | sed -n 's/.*vf 0 .*link\/ether \([0-9a-f:]*\).*/\1/p')
$IP link set "$nd" vf 0 mac "$MAC"
[ ! -e "/sys/bus/pci/devices/$VF/driver" ] || echo "$VF" > "/sys/bus/pci/devices/$VF/driver/unbind"
echo vfio-pci > "/sys/bus/pci/devices/$VF/driver_override"
echo "$VF" > /sys/bus/pci/drivers_probe
echo "pass: VF 0 $VF (group $(link "/sys/bus/pci/devices/$VF/iommu_group")) on $(link "/sys/bus/pci/devices/$VF/driver"), vf 0 mac $before -> $MAC"
cat > pass.conf <<CONF
system alpha
ram 256M
cpu
load bzImage
initrd load initrd-pass.img
cmdline "console=ttyS0 panic=-1 loglevel=5 vdevkit.scenario=pass vdevkit.mac=$MAC"
vdev ser8250
pass loc pci:0:3.0=pci:$VF
CONF
start=$(date +%s)
rc=0
timeout -k 5 200 ./vdevkit run @pass.conf > pass.log 2>&1 || rc=$?
secs=$(($(date +%s) - start))
after=$($IP link show "$nd" | sed -n 's/.*vf 0 .*link\/ether \([0-9a-f:]*\).*/\1/p')
if [ "$rc" = 0 ] && grep -aq 'VDEVKIT-RESULT pass ok' pass.log && [ "$after" = "$MAC" ]; then
    echo "pass: vf0: PASS (status 0, ${secs}s) $(grep -a 'VDEVKIT-GUEST pass' pass.log | tr -d '\r' | sed 's/VDEVKIT-GUEST pass //' | tr '\n' ' ')"
    echo "1 passed, 0 failed"
    exit 0
fi
echo "pass: vf0: FAIL (status $rc, ${secs}s, PF's vf 0 mac after: $after); log:"
grep -aE 'vdevkit|vfio|VDEVKIT-|igbvf|pass' pass.log | tr -d '\r' | tail -n 40 | sed 's/^/    /'
tail -n 20 pass.log | tr -d '\r' | sed 's/^/    /'
echo "0 passed, 1 failed"
exit 1
