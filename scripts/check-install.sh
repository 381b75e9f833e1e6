#!/bin/bash
# Installs a build into a scratch prefix (not the configured one) and uses it as a user
# would, with only PKG_CONFIG_PATH or CMAKE_PREFIX_PATH pointing at it: no LD_LIBRARY_PATH,
# no VDEVKIT_MODULE_PATH, no pkg-config variables overridden.
#  - examples/embedder/minimal.c built with pkg-config and with CMake's find_package (shared
#    and static library), each run with the installed modules;
#  - the installed bin/vdevkit runs and loads a module;
#  - every C example of docs/embedding.md compiles (and the complete ones run):
#    scripts/check-doc-snippets.sh;
#  - nothing installed names the build host's paths (the build tree, libfdt's location).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
prefix=$(mktemp -d /tmp/vdevkit-install-XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
unset LD_LIBRARY_PATH VDEVKIT_MODULE_PATH PKG_CONFIG_LIBDIR
pcdir=$(dirname "$(find "$prefix" -name vdevkit.pc)")
export PKG_CONFIG_PATH="$pcdir"
fail() { echo "check-install: $*"; exit 1; }

moddir=$(pkg-config --variable=moduledir vdevkit)
test -f "$moddir/vdev-ser8250.so" || fail "no modules in $moddir"
fdt=$(sed -n 's/^FDT_LIBRARY:FILEPATH=//p' "$build/CMakeCache.txt")
grep -rlIF -e "$build" -e "$top" -e "${fdt:-/nonexistent}" "$pcdir" "$prefix"/lib*/cmake &&
    fail "the files above name the build host's paths"

# The installed VMM finds libvdev ($ORIGIN RUNPATH) and its modules (beside libvdev).
"$prefix/bin/vdevkit" --version >/dev/null || fail "bin/vdevkit does not run"
"$prefix/bin/vdevkit" run ram 16M vdev ser8250 dryrun >/dev/null ||
    fail "bin/vdevkit cannot load an installed module"

src="$top/examples/embedder/minimal.c"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror "$src" -o "$prefix/minimal-pc" $(pkg-config --cflags --libs vdevkit)

mkdir -p "$prefix/cmake-build"
cmake -S "$top/examples/embedder" -B "$prefix/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/cmake-build" >/dev/null

for exe in "$prefix/minimal-pc" "$prefix/cmake-build/minimal" "$prefix/cmake-build/minimal_static"; do
    # libvdev.a has no folder of its own: a static program is told where the modules are
    # (docs/embedding.md, module search)
    [[ $exe == *static ]] && env=(VDEVKIT_MODULE_PATH="$moddir") || env=()
    out=$(env "${env[@]}" "$exe" 2>&1) || fail "$exe failed: $out"
    echo "$out" | grep -q "testdev: hello from the guest" || fail "$exe printed: $out"
    echo "$out" | grep -q "stop requested: 7" || fail "$exe printed: $out"
done

# docs/embedding.md shows minimal.c whole: it must be the file.
awk '/^<!-- check: program minimal -->/ {m = 1; next} m && /^```c/ {on = 1; next}
     on && /^```/ {exit} on' "$top/docs/embedding.md" | diff -u "$src" - ||
    fail "docs/embedding.md's minimal program differs from $src"
"$top/scripts/check-doc-snippets.sh" "$top/docs/embedding.md"
echo "check-install: pkg-config and CMake embedders built and ran from $prefix with no extra variables"
