#!/bin/sh
# Builds the guest tool `gshm` (gshm_tool.c + the gshm library) as a static x86-64 binary
# with the host gcc and libpciaccess's static library (Debian: libpciaccess-dev).
#   shmem/build.sh OUT
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUT}
cc=${CC:-gcc}
if ! pkg-config --exists pciaccess; then
    echo "error: libpciaccess not found (install libpciaccess-dev)" >&2
    exit 1
fi
# shellcheck disable=SC2046 # pkg-config prints several words on purpose
"$cc" -static -std=c11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
    -Wmissing-prototypes -o "$out" "$here/gshm_tool.c" "$here/gshm.c" \
    $(pkg-config --cflags pciaccess) $(pkg-config --static --libs pciaccess)
