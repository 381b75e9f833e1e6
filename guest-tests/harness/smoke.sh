#!/usr/bin/env bash
# Proof that the harness gives a working hardware-assisted /dev/kvm: builds
# kvm-smoke.c (static) into a temporary payload and runs it through outer.sh
# (nested or direct, as outer.sh decides). Extra arguments go to outer.sh,
# e.g. smoke.sh --retry-env. Exit 0 when kvm-smoke reported "ok".
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
start=$(date +%s.%N)

payload=$(mktemp -d "${TMPDIR:-/tmp}/vdevkit-smoke.XXXXXX")
out=$payload.out
trap 'rm -rf "$payload" "$out"' EXIT

command -v gcc >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y gcc libc6-dev >&2
gcc -std=c11 -O2 -Wall -Wextra -Werror -static -o "$payload/kvm-smoke" "$here/kvm-smoke.c"

set +e
"$here/outer.sh" --timeout 300 "$@" --payload "$payload" -- ./kvm-smoke 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
set -e

wall=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
if [ "$rc" -eq 0 ] && grep -q '^kvm-smoke: ok' "$out"; then
    echo "smoke: PASS (wall ${wall}s)"
    exit 0
fi
echo "smoke: FAIL (outer.sh exit $rc, wall ${wall}s)"
[ "$rc" -ne 0 ] && exit "$rc"
exit 1
