#!/usr/bin/env bash
# Tier 3, shared memory: two stock Debian guests share a `vdev shmem` region over PCI, then
# over MMIO (shmem/run-shmem-pair.sh), directly where the host has hardware virtualization,
# else inside the outer QEMU machine.
#   run-shmem-tests.sh BUILD_DIR
# Exits 77 (ctest: skipped) when the build has no shmem module. SHM_ONLY="pci" runs one
# scenario; SHM_PAGES sets the region's size in pages (default 16384: 64 MiB).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "${1:?usage: run-shmem-tests.sh BUILD_DIR}" && pwd)
eval "$("$here/../images/fetch.sh")"

# (the module's folder may hold only its internals while it is being written)
# (nm's output captured first: grep -q in the pipe could SIGPIPE it, which pipefail reports)
syms=$(nm -D "$build/modules/vdev-shmem.so" 2>/dev/null || true)
if ! grep -q ' vdev_module_shmem$' <<<"$syms"; then
    echo "shmem: SKIP: this build has no shmem module (vdev-shmem.so with vdev_module_shmem)"
    exit 77
fi

payload=$(mktemp -d /tmp/vdevkit-shmem-XXXXXX)
trap 'rm -rf "$payload"' EXIT
cp "$build/vmm/vdevkit" "$payload/"
cp -P "$build"/core/libvdev.so* "$payload/"
mkdir -p "$payload/modules"
cp "$build"/modules/vdev-*.so "$payload/modules/"
cp "$VDEVKIT_VMLINUZ" "$payload/bzImage"
"$here/build-initramfs.sh" --shmem "$payload/initrd-shmem.img"
cp "$here/shmem/run-shmem-pair.sh" "$here/vmm-procs.sh" "$payload/"

status=0
# Two guests of 256 MiB, one per outer vCPU, and the 64 MiB region in host shared memory.
VDEVKIT_OUTER_SILENCE=${VDEVKIT_OUTER_SILENCE:-300} \
"$here/../harness/outer.sh" --smp 2 --mem 2048 --timeout "${VDEVKIT_SHM_TIMEOUT:-900}" --retry-env \
    --payload "$payload" -- env SHM_ONLY="${SHM_ONLY:-}" SHM_PAGES="${SHM_PAGES:-16384}" \
    SHM_GUEST_QUIET="${SHM_GUEST_QUIET:-1}" sh ./run-shmem-pair.sh || status=$?
if [ "$status" -eq 125 ]; then
    echo "shmem: ENVIRONMENT FAILURE (the outer machine failed, not vdevkit)"
fi
exit "$status"
