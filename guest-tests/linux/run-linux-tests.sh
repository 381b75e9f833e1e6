#!/usr/bin/env bash
# Tier 3: stock Debian kernels booted by our VMM under KVM. Directly where the host has
# hardware virtualization, else inside the outer QEMU machine (guest-tests/harness/outer.sh).
#   run-linux-tests.sh BUILD_DIR
# Prints one line per scenario and a final "N passed, M failed"; exits non-zero on failure.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "${1:?usage: run-linux-tests.sh BUILD_DIR}" && pwd)
eval "$("$here/../images/fetch.sh")"

payload=$(mktemp -d /tmp/vdevkit-linux-XXXXXX)
trap 'rm -rf "$payload"' EXIT
cp "$build/vmm/vdevkit" "$payload/"
cp -P "$build"/core/libvdev.so* "$payload/"
mkdir -p "$payload/modules"
cp "$build"/modules/vdev-*.so "$payload/modules/"
cp "$VDEVKIT_VMLINUZ" "$payload/bzImage"
"$here/build-initramfs.sh" "$payload/initrd.img"
cp "$here/guest-run.sh" "$payload/"

status=0
"$here/../harness/outer.sh" --timeout "${VDEVKIT_LINUX_TIMEOUT:-600}" --retry-env \
    --payload "$payload" -- sh ./guest-run.sh || status=$?
if [ "$status" -eq 125 ]; then
    echo "linux: ENVIRONMENT FAILURE (the outer machine failed, not vdevkit)"
fi
exit "$status"
