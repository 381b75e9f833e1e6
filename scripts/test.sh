#!/bin/bash
# The whole test suite, as CI runs it: dependencies, a normal build, a sanitizer build
# (ASan+UBSan), an aarch64 cross-build (~30 s), the install/embedding check and a short fuzzing run of every
# fuzz target. Each stage prints what it runs; the first failure stops it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

"$top/scripts/install-deps.sh"

echo "== format (clang-format --dry-run; scripts/format.sh fixes it)"
"$top/scripts/format.sh" --check

echo "== layers (scripts/check-layers.sh)"
"$top/scripts/check-layers.sh"

echo "== build (RelWithDebInfo)"
"$top/scripts/build.sh" "$top/build"
echo "== build (ASan+UBSan)"
"$top/scripts/build.sh" "$top/build-asan" -DVDEVKIT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug

echo "== cross-build for aarch64 (cmake/aarch64-linux-gnu.cmake; libvdev, modules, the arm64 vdevkit)"
sysroot=$("$top/scripts/install-cross-deps.sh")
VDEVKIT_ARM64_SYSROOT="$sysroot" "$top/scripts/build.sh" "$top/build-aarch64" \
    -DCMAKE_TOOLCHAIN_FILE="$top/cmake/aarch64-linux-gnu.cmake" -DVDEVKIT_TESTS=OFF
file -L "$top/build-aarch64/vmm/vdevkit" | grep -q "ARM aarch64"

echo "== ABI (scripts/check-abi.sh)"
"$top/scripts/check-abi.sh" "$top/build"

echo "== install and embed"
"$top/scripts/check-install.sh" "$top/build"

echo "== fuzz every surface (a short smoke run per target; scripts/fuzz.sh)"
"$top/scripts/fuzz.sh" --time 10 --seed 1 # campaigns explore; the gate repeats itself

echo "== fetch the guest kernel and busybox (cached)"
"$top/guest-tests/images/fetch.sh" >/dev/null

echo "== unit tests and tiny guests under ASan+UBSan (Linux guests run in the normal build)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd "$top/build-asan" && ctest --output-on-failure -LE tier3)

echo "== all tests: unit, tier 2 (tiny guests), tier 3 (stock Linux guests)"
(cd "$top/build" && ctest --output-on-failure)
