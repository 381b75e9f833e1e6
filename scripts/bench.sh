#!/bin/bash
# Builds (Release) and runs the benchmarks; each prints a table. Figures go to docs/performance.md.
# --net also runs bench/net-pair-bench.sh (guest-to-guest vs QEMU with vhost-net, with the costs per
# MB; nested: ~6 minutes).
# --shmem also runs bench/shmem-bench.sh (shared memory between two tiny guests, PCI and MMIO; builds
# build-bench, Release with the tiny guests; nested: a few minutes).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/build.sh" "$top/build-release" -DCMAKE_BUILD_TYPE=Release -DVDEVKIT_TESTS=OFF >/dev/null
"$top/build-release/bench/bench_dispatch"
"$top/build-release/bench/bench_virtq"
"$top/build-release/bench/bench_peer_link"
"$top/build-release/bench/bench_net_path"
[ "${1:-}" != --net ] || "$top/bench/net-pair-bench.sh" "$top/build-release" "${2:-3}"
if [ "${1:-}" = --shmem ]; then
    "$top/scripts/build.sh" "$top/build-bench" -DCMAKE_BUILD_TYPE=Release -DVDEVKIT_TESTS=ON >/dev/null
    "$top/bench/shmem-bench.sh" "$top/build-bench" "${2:-3}"
fi
