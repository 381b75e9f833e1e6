#!/usr/bin/env bash
# Builds the tier-3 guest's initramfs: busybox, the scenario /init, and (later) the kernel
# modules and static test programs scenarios need. Usage: build-initramfs.sh OUT.cpio.gz
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../images/lib.sh"
out=$1
eval "$("$here/../images/fetch.sh")"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
vdk_stage_rootfs_layout "$stage"
vdk_busybox_install "$VDEVKIT_BUSYBOX" "$stage"
install -m 0755 "$here/init" "$stage/init"
vdk_mkcpio "$stage" "$out"
