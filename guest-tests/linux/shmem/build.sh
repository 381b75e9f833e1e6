#!/bin/sh
# Builds the guest tool `gshm` (gshm_tool.c + the gshm library) as a static x86-64 binary
# with the host gcc and libpciaccess's static library (Debian: libpciaccess-dev).
#   shmem/build.sh OUT
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUT}
cc=${CC:-gcc}
# GSHM_SYSROOT: another architecture's libpciaccess-dev and zlib1g-dev unpacked there
# (scripts/install-cross-deps.sh), for CC=aarch64-linux-gnu-gcc
if [ -n "${GSHM_SYSROOT:-}" ]; then
    triplet=$("$cc" -dumpmachine)
    flags="-I$GSHM_SYSROOT/usr/include -L$GSHM_SYSROOT/usr/lib/$triplet -lpciaccess -lz"
else
    if ! pkg-config --exists pciaccess; then
        echo "error: libpciaccess not found (install libpciaccess-dev)" >&2
        exit 1
    fi
    flags="$(pkg-config --cflags pciaccess) $(pkg-config --static --libs pciaccess)"
fi
# shellcheck disable=SC2086 # the flags are several words on purpose
"$cc" -static -std=c11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
    -Wmissing-prototypes -o "$out" "$here/gshm_tool.c" "$here/gshm.c" $flags
