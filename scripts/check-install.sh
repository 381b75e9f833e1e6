#!/bin/bash
# Installs a build into a scratch prefix and builds a minimal embedder against it twice:
# with pkg-config and with CMake's find_package. Then runs it with an installed module.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
prefix=$(mktemp -d /tmp/vdevkit-install-XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib/x86_64-linux-gnu/pkgconfig"
pc() { pkg-config --define-variable=prefix="$prefix" "$@" vdevkit; }
moddir=$(pc --variable=moduledir)
test -f "$moddir/vdev-ser8250.so" || { echo "check-install: no modules in $moddir"; exit 1; }

src="$top/examples/embedder/minimal.c"
cc -std=c11 -Wall -Wextra -Werror "$src" -o "$prefix/minimal-pc" $(pc --cflags --libs)

mkdir -p "$prefix/cmake-build"
cmake -S "$top/examples/embedder" -B "$prefix/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/cmake-build" >/dev/null

libdir=$(pc --variable=libdir)
for exe in "$prefix/minimal-pc" "$prefix/cmake-build/minimal"; do
    # no VDEVKIT_MODULE_PATH: the loader finds <libdir>/vdevkit/modules beside libvdev
    out=$(LD_LIBRARY_PATH="$libdir" "$exe")
    echo "$out" | grep -q "testdev: hello from the guest" || {
        echo "check-install: $exe printed:"; echo "$out"; exit 1; }
    echo "$out" | grep -q "stop requested: 7" || { echo "$out"; exit 1; }
done
echo "check-install: pkg-config and CMake embedders built and ran"
