#!/usr/bin/env bash
# Tier 3, passthrough (issue 17): a stock Debian guest under vdevkit is given an SR-IOV VF of
# the outer machine's igb NIC with `pass` (outer.sh --sriov: QEMU 10, intel-iommu, igb).
#   run-pass-tests.sh BUILD_DIR
# Inside (pass-scenario.sh): two VFs; VF 0's MAC is set through the PF and VF 0 is bound to
# vfio-pci; the guest must drive it with igbvf, see that MAC and carrier, ping QEMU's user
# network through it and count MSI-X interrupts; after the VM the VF still holds the MAC.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "${1:?usage: run-pass-tests.sh BUILD_DIR}" && pwd)
eval "$("$here/../images/fetch.sh")"

payload=$(mktemp -d /tmp/vdevkit-pass-XXXXXX)
trap 'rm -rf "$payload"' EXIT
cp "$build/vmm/vdevkit" "$payload/"
cp -P "$build"/core/libvdev.so* "$payload/"
mkdir -p "$payload/modules" "$payload/tools"
cp "$build"/modules/vdev-*.so "$payload/modules/"
cp "$VDEVKIT_VMLINUZ" "$payload/bzImage"
"$here/build-initramfs.sh" "$payload/initrd-pass.img" igbvf
cp "$here/pass-scenario.sh" "$payload/"
cp -L "$(PATH=$PATH:/usr/sbin:/sbin command -v ip)" "$payload/tools/ip"

status=0
"$here/../harness/outer.sh" --sriov --smp 2 --mem 2048 --timeout "${VDEVKIT_PASS_TIMEOUT:-600}" \
    --retry-env --payload "$payload" -- sh ./pass-scenario.sh || status=$?
[ "$status" -ne 125 ] || echo "pass: ENVIRONMENT FAILURE (the outer machine failed, not vdevkit)"
exit "$status"
