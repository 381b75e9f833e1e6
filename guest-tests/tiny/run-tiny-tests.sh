#!/usr/bin/env bash
# Tier 2: runs every tiny test guest of a build (BUILD/guest-tests/tiny/NAME.elf + NAME.conf)
# under the vdevkit VMM, all in ONE run of guest-tests/harness/outer.sh (nested mode: one
# boot of the outer machine; direct mode: the host's /dev/kvm). Builds nothing.
#
#   run-tiny-tests.sh BUILD_DIR [OUTER.SH OPTION...]       (e.g. --retry-env)
#
# A test passes when `vdevkit run @NAME.conf` exits with the status its .conf names
# ("# tiny-expect-status: N", default 0) and its output contains every
# "# tiny-expect-log: TEXT" of the .conf. Prints "tiny: NAME: PASS|FAIL (status S, expected E)"
# per test, the timings, then last "N passed, M failed". Exit: 0 all passed, 1 a test failed,
# 125 environment failure (outer machine broken; no verdict on the tests), 2 usage.
#
# Environment: TINY_TIMEOUT (outer.sh budget, seconds, default 600), TINY_TEST_TIMEOUT (per
# guest, default 60), TINY_ONLY (space-separated test names), TINY_LOG (where the full log is
# kept; default BUILD_DIR/guest-tests/tiny/last-run.log).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -ge 1 ] || { sed -n '6p' "${BASH_SOURCE[0]}" | sed 's/^# *//' >&2; exit 2; }
build=$(realpath "$1"); shift
tiny=$build/guest-tests/tiny
log=${TINY_LOG:-$tiny/last-run.log}

for f in "$build/vmm/vdevkit" "$build/core/libvdev.so.0" "$build/modules/vdev-testdev.so"; do
    [ -e "$f" ] || { echo "run-tiny-tests: $f missing: build the project first" >&2; exit 2; }
done
if [ -n "${TINY_ONLY:-}" ]; then
    read -r -a names <<<"$TINY_ONLY"
else
    names=()
    for elf in "$tiny"/*.elf; do [ -e "$elf" ] && names+=("$(basename "$elf" .elf)"); done
fi
[ ${#names[@]} -gt 0 ] || { echo "run-tiny-tests: no tiny guests in $tiny: build the project first" >&2; exit 2; }

# The payload: the VMM, its library and modules, the guests and their configs, the inner script.
payload=$(mktemp -d "${TMPDIR:-/tmp}/vdevkit-tiny.XXXXXX")
trap 'rm -rf "$payload"' EXIT
mkdir -p "$payload/lib" "$payload/tests"
cp "$build/vmm/vdevkit" "$payload/"
cp -a "$build/core"/libvdev.so* "$payload/lib/"
cp -rL "$build/modules" "$payload/modules"
for n in "${names[@]}"; do
    cp "$tiny/$n.elf" "$tiny/$n.conf" "$payload/tests/" ||
        { echo "run-tiny-tests: $n: no $n.elf/$n.conf in $tiny" >&2; exit 2; }
done
# Runs in the outer machine (busybox sh) or on the host, cwd = the payload.
cat > "$payload/inner.sh" <<'EOF'
#!/bin/sh
# inner.sh PER_TEST_TIMEOUT NAME...: each guest in turn, its output between markers.
export LD_LIBRARY_PATH="$PWD/lib" VDEVKIT_MODULE_PATH="$PWD/modules" VDEVKIT_DEBUG=1
per=$1; shift
echo "TINY-INNER mode=${VDEVKIT_HARNESS_MODE:-?} nproc=$(nproc)"
for name in "$@"; do
    read -r t0 _ < /proc/uptime
    timeout -k 5 "$per" ./vdevkit run "@tests/$name.conf" > "tests/$name.out" 2>&1 < /dev/null
    st=$?
    read -r t1 _ < /proc/uptime
    awk "BEGIN { exit !($t1 - $t0 >= $per) }" && echo "TINY-TIMEOUT $name"
    echo "TINY-BEGIN $name"
    cat "tests/$name.out"
    echo "TINY-END $name"
    echo "TINY-RESULT $name status=$st seconds=$(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }")"
done
EOF

echo "tiny: running ${#names[@]} guests through outer.sh (log: $log)" >&2
set +e
"$here/../harness/outer.sh" --timeout "${TINY_TIMEOUT:-300}" "$@" --payload "$payload" \
    -- sh inner.sh "${TINY_TEST_TIMEOUT:-60}" "${names[@]}" > "$log" 2>&1
rc=$?
set -e
tr -d '\r' < "$log" > "$log.tmp" && mv "$log.tmp" "$log"

conf_value() { sed -n "s/^# *$2: *//p" "$tiny/$1.conf"; }

passed=0 failed=0 times=()
for n in "${names[@]}"; do
    expected=$(conf_value "$n" tiny-expect-status | tail -1)
    expected=${expected:-0}
    result=$(grep -E "^TINY-RESULT $n status=" "$log" | tail -1 || true)
    status=none why=
    if [ "$rc" -ne 125 ] && [ -n "$result" ]; then
        status=${result#*status=} && status=${status%% *}
        times+=("$n ${result##*seconds=}s")
        out=$(sed -n "/^TINY-BEGIN $n\$/,/^TINY-END $n\$/p" "$log")
        [ "$status" = "$expected" ] || why="exit status $status, expected $expected"
        grep -q "^TINY-TIMEOUT $n\$" "$log" && why="$why (timed out after ${TINY_TEST_TIMEOUT:-60}s)"
        while IFS= read -r want; do
            [ -z "$want" ] || grep -qF -- "$want" <<<"$out" || why="${why:+$why; }no \"$want\" in the output"
        done < <(conf_value "$n" tiny-expect-log)
    else
        why="no result (outer.sh status $rc)"
    fi
    if [ -z "$why" ]; then
        echo "tiny: $n: PASS (status $status, expected $expected)"
        passed=$((passed + 1))
    else
        echo "tiny: $n: FAIL (status $status, expected $expected)"
        failed=$((failed + 1))
        if grep -q "^TINY-BEGIN $n\$" "$log"; then
            echo "tiny: $n: $why; its output:"
            sed -n "/^TINY-BEGIN $n\$/,/^TINY-END $n\$/{/^TINY-/d;s/^/    | /;p}" "$log"
        else
            echo "tiny: $n: $why"
        fi >&2
    fi
done

boot=$(sed -n 's/.*COMMAND exited with status .*(outer boot \([0-9.]*s\), wall \([0-9.]*s\)).*/outer boot \1, outer.sh wall \2/p' "$log" | tail -1)
mode=$(sed -n 's/^TINY-INNER mode=\([a-z?]*\).*/\1/p' "$log" | tail -1)
joined=$(IFS=,; echo "${times[*]:-none}")
echo "tiny: times: mode ${mode:-unknown}${boot:+, $boot}; ${joined//,/, }"
if [ "$rc" -eq 125 ]; then
    echo "tiny: ENVIRONMENT FAILURE (outer.sh status 125): the tests did not run; see $log"
    grep -E '^outer.sh: ENVIRONMENT FAILURE' "$log" | sed 's/^/    /' >&2 || true
elif [ "$rc" -eq 124 ]; then
    echo "tiny: the run timed out (TINY_TIMEOUT=${TINY_TIMEOUT:-300}); see $log" >&2
fi
echo "$passed passed, $failed failed"
[ "$rc" -eq 125 ] && exit 125
[ "$failed" -eq 0 ]
