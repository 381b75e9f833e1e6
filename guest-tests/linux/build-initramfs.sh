#!/usr/bin/env bash
# Builds the tier-3 guest's initramfs: busybox, the scenario /init, the kernel modules the
# scenarios need (with their dependencies from modules.dep; /init loads them in order) and
# static guest test programs.
#   build-initramfs.sh OUT.cpio.gz [MODULE...]      (GUEST_PROGRAMS="a.c b.c": static programs)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../images/lib.sh"
out=$1
shift
eval "$("$here/../images/fetch.sh")"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
vdk_stage_rootfs_layout "$stage"
vdk_busybox_install "$VDEVKIT_BUSYBOX" "$stage"
install -m 0755 "$here/init" "$stage/init"
if [ $# -gt 0 ]; then
    vdk_stage_modules "$VDEVKIT_MODDIR" "$stage" "$@"
fi
for src in ${GUEST_PROGRAMS:-}; do
    gcc -static -O2 -Wall -Wextra -Werror -o "$stage/usr/bin/$(basename "${src%.c}")" "$src"
done
vdk_mkcpio "$stage" "$out"
