#!/usr/bin/env bash
# Tier 3, passthrough (issue 17): a stock Debian guest under vdevkit is given an SR-IOV VF of
# the outer machine's igb NIC with `pass` (outer.sh --sriov: QEMU 10, intel-iommu, igb).
#   run-pass-tests.sh BUILD_DIR
# Inside (pass-scenario.sh): two VFs on igbvf; `pass ... mac M managed` makes the VMM set VF 0's
# MAC through the PF and bind VF 0 to vfio-pci; the guest must drive it with igbvf, see M and
# carrier, ping QEMU's user network through it and count MSI-X interrupts; after the VM the
# MAC and igbvf are back; after a SIGKILLed VMM `vdevkit hostdev-cleanup` brings them back.
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
"$here/build-initramfs.sh" "$payload/initrd-pass.img" igbvf igb ahci sd_mod
# the disk of the outer machine's AHCI controller (an MSI-only device, pass-scenario's ahci-msi)
disk=$(mktemp /tmp/vdevkit-pass-disk-XXXXXX)
trap 'rm -rf "$payload" "$disk"' EXIT
printf 'VDEVKIT-AHCI-DISK-%s' "$$" > "$disk"
truncate -s 1M "$disk"
echo "VDEVKIT-AHCI-DISK-$$" > "$payload/ahci-sig"
cp "$here/pass-scenario.sh" "$payload/"
cp -L "$(PATH=$PATH:/usr/sbin:/sbin command -v ip)" "$payload/tools/ip"

status=0
VDEVKIT_OUTER_MODULES="${VDEVKIT_OUTER_MODULES:-} igbvf" VDEVKIT_OUTER_AHCI_DISK="$disk" \
    "$here/../harness/outer.sh" --sriov --smp 2 --mem 2048 --timeout "${VDEVKIT_PASS_TIMEOUT:-600}" \
    --retry-env --payload "$payload" -- sh ./pass-scenario.sh || status=$?
[ "$status" -ne 125 ] || echo "pass: ENVIRONMENT FAILURE (the outer machine failed, not vdevkit)"
exit "$status"
