#!/bin/bash
# Builds (Release) and runs the benchmarks; each prints a table. Figures go to docs/performance.md.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/build.sh" "$top/build-release" -DCMAKE_BUILD_TYPE=Release -DVDEVKIT_TESTS=OFF >/dev/null
"$top/build-release/bench/bench_dispatch"
"$top/build-release/bench/bench_virtq"
"$top/build-release/bench/bench_peer_link"
