#!/bin/bash
# Builds the libFuzzer target for the configuration language with clang and runs it for
# SECONDS (default 60), seeded with the test configurations. A crash fails the run.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-60}
dir="$top/build-fuzz"
CC=clang "$top/scripts/build.sh" "$dir" -DVDEVKIT_FUZZ=ON -DVDEVKIT_TESTS=OFF -DCMAKE_C_COMPILER=clang
corpus="$dir/corpus"
mkdir -p "$corpus"
cp -n "$top"/tests/data/config/*.conf "$top"/examples/*.conf "$corpus"/ 2>/dev/null || true
cd "$dir"
ASAN_OPTIONS=detect_leaks=1 ./tests/fuzz/fuzz_config -max_total_time="$secs" -max_len=4096 \
    -print_final_stats=1 "$corpus" 2>&1 | tail -n 12
