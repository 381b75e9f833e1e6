#!/usr/bin/env bash
# The passthrough outer machine (outer.sh --sriov) works: the igb PF makes two VFs, each alone
# in its IOMMU group; VF 0's MAC is set through the PF (iproute2's `ip ... vf 0 mac`, as
# libvirt does over rtnetlink); VF 0 binds to vfio-pci (driver_override) and /dev/vfio/GROUP
# appears. Exits 0 when all holds.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
payload=$(mktemp -d /tmp/vdevkit-sriov-XXXXXX)
trap 'rm -rf "$payload"' EXIT
mkdir -p "$payload/tools"
cp -L "$(PATH=$PATH:/usr/sbin:/sbin command -v ip)" "$payload/tools/ip"
cat > "$payload/smoke.sh" <<'INNER'
#!/bin/sh
set -e
IP=$PWD/tools/ip
link() { basename "$(readlink "$1")"; }
PF=$(ls /sys/bus/pci/drivers/igb/ | grep '^0000' | head -n 1)
nd=$(ls "/sys/bus/pci/devices/$PF/net")
echo "sriov: PF $PF ($nd), $(cat "/sys/bus/pci/devices/$PF/sriov_totalvfs") VFs possible"
$IP link set "$nd" up
echo 2 > "/sys/bus/pci/devices/$PF/sriov_numvfs"
VF0=$(link "/sys/bus/pci/devices/$PF/virtfn0") VF1=$(link "/sys/bus/pci/devices/$PF/virtfn1")
g0=$(link "/sys/bus/pci/devices/$VF0/iommu_group") g1=$(link "/sys/bus/pci/devices/$VF1/iommu_group")
gp=$(link "/sys/bus/pci/devices/$PF/iommu_group")
n0=$(ls "/sys/kernel/iommu_groups/$g0/devices" | wc -l)
echo "sriov: VFs $VF0 (group $g0, $n0 device) and $VF1 (group $g1); PF in group $gp"
[ "$n0" = 1 ] && [ "$g0" != "$g1" ] && [ "$g0" != "$gp" ]
$IP link set "$nd" vf 0 mac 00:11:22:33:44:55
$IP link show "$nd" | grep -q 'vf 0 .*link/ether 00:11:22:33:44:55'
echo "sriov: vf 0 mac 00:11:22:33:44:55 set through $nd"
[ ! -e "/sys/bus/pci/devices/$VF0/driver" ] || echo "$VF0" > "/sys/bus/pci/devices/$VF0/driver/unbind"
echo vfio-pci > "/sys/bus/pci/devices/$VF0/driver_override"
echo "$VF0" > /sys/bus/pci/drivers_probe
[ "$(link "/sys/bus/pci/devices/$VF0/driver")" = vfio-pci ] && [ -c "/dev/vfio/$g0" ]
echo "sriov: $VF0 bound to vfio-pci, /dev/vfio/$g0 ready"
INNER
"$here/outer.sh" --sriov --smp 2 --mem 2048 --timeout 300 --payload "$payload" -- sh ./smoke.sh
