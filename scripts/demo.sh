#!/bin/bash
# The main demo. Today: build vdevkit and print the machine that examples/guest.conf
# describes (a dry run). Two guests talking over virtio-net and shmem come with the
# virtio-net and shmem work.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
"$top/scripts/build.sh" "$top/build"
cd "$top"
exec "$top/build/vmm/vdevkit" run @examples/guest.conf dryrun
