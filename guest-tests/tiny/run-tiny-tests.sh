#!/usr/bin/env bash
# Tier 2: runs every tiny test guest of a build (BUILD/guest-tests/tiny/NAME.elf + NAME.conf)
# under the vdevkit VMM, all in ONE run of guest-tests/harness/outer.sh (nested mode: one
# boot of the outer machine; direct mode: the host's /dev/kvm). Builds nothing.
#
#   run-tiny-tests.sh BUILD_DIR [OUTER.SH OPTION...]       (e.g. --retry-env)
#
# A test passes when `vdevkit run @NAME.conf` exits with the status its .conf names
# ("# tiny-expect-status: N", default 0) and its output contains every
# "# tiny-expect-log: TEXT" of the .conf. A pair test also has NAME.peer.conf (same ELF or
# another): both VMs start at the same time with VDEVKIT_RUNTIME_DIR=<payload>/rt (fresh per
# test; their `peer` paths point there, relative to the .conf), and the peer's .conf must be
# met too; "# tiny-peer-runs: N" starts the peer again each time it ends, N runs in all
# (1 s apart: link down, then up), each run checked against its status;
# "# tiny-peer-kill-on: TEXT" kills every peer run but the last with SIGKILL once TEXT is in
# its output (expected status 137, "TINY-PEER-KILL N" in the output). Prints "tiny: NAME: PASS|FAIL (status S, expected E)"
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
    if [ -e "$tiny/$n.peer.conf" ]; then cp "$tiny/$n.peer.conf" "$payload/tests/"; fi
done
# Runs in the outer machine (busybox sh) or on the host, cwd = the payload.
cat > "$payload/inner.sh" <<'EOF'
#!/bin/sh
# inner.sh PER_TEST_TIMEOUT NAME...: each guest (or pair) in turn, its output between markers.
export LD_LIBRARY_PATH="$PWD/lib" VDEVKIT_MODULE_PATH="$PWD/modules" VDEVKIT_DEBUG=1
per=$1; shift
echo "TINY-INNER mode=${VDEVKIT_HARNESS_MODE:-?} nproc=$(nproc)"
# A zombie (exited, not yet waited for) is not alive.
alive() { [ -e "/proc/$1" ] && ! grep -qE '^[0-9]+ \(.*\) Z' "/proc/$1/stat" 2>/dev/null; }
# The VMM's pid under `timeout` pid $1 (busybox timeout execs it, coreutils forks it).
vmm_pid() {
    if [ "$(cat "/proc/$1/comm" 2>/dev/null)" = vdevkit ]; then echo "$1"; else
        awk '{ print $1 }' "/proc/$1/task/$1/children" 2>/dev/null; fi
}
# A pair's peer NAME RUNS [KILL_TEXT]: started again each time it ends; every run but the
# last is killed (SIGKILL) once KILL_TEXT shows in its output. Sets peer_st ("S1,S2...").
run_peer() {
    peer_st= i=1 out="tests/$1.peer.out"
    : > "$out"
    while [ "$i" -le "$2" ]; do
        [ "$i" -gt 1 ] && sleep 1
        echo "TINY-PEER-RUN $i" >> "$out"
        timeout -k 5 "$per" ./vdevkit run "@tests/$1.peer.conf" >> "$out" 2>&1 < /dev/null &
        p=$!
        if [ -n "$3" ] && [ "$i" -lt "$2" ]; then
            w=0
            while alive "$p" && ! grep -qF -- "$3" "$out" && [ "$w" -lt $((per * 10)) ]; do
                sleep 0.1
                w=$((w + 1))
            done
            vp=$(vmm_pid "$p")
            if alive "$p" && [ -n "$vp" ]; then
                echo "TINY-PEER-KILL $i (pid $vp)" >> "$out"
                kill -KILL "$vp"
            fi
        fi
        wait "$p"
        peer_st="$peer_st${peer_st:+,}$?"
        i=$((i + 1))
    done
}
for name in "$@"; do
    read -r t0 _ < /proc/uptime
    if [ -e "tests/$name.peer.conf" ]; then
        rm -rf rt && mkdir rt
        runs=$(sed -n 's/^# *tiny-peer-runs: *//p' "tests/$name.peer.conf" | tail -1)
        kill_on=$(sed -n 's/^# *tiny-peer-kill-on: *//p' "tests/$name.peer.conf" | tail -1)
        VDEVKIT_RUNTIME_DIR="$PWD/rt" timeout -k 5 "$per" ./vdevkit run "@tests/$name.conf" \
            > "tests/$name.out" 2>&1 < /dev/null &
        pid=$!
        VDEVKIT_RUNTIME_DIR="$PWD/rt" run_peer "$name" "${runs:-1}" "$kill_on"
        wait "$pid"
        st=$?
    else
        timeout -k 5 "$per" ./vdevkit run "@tests/$name.conf" > "tests/$name.out" 2>&1 < /dev/null
        st=$?
    fi
    read -r t1 _ < /proc/uptime
    awk "BEGIN { exit !($t1 - $t0 >= $per) }" && echo "TINY-TIMEOUT $name"
    echo "TINY-BEGIN $name"
    cat "tests/$name.out"
    echo "TINY-END $name"
    if [ -e "tests/$name.peer.conf" ]; then
        echo "TINY-BEGIN $name.peer"
        cat "tests/$name.peer.out"
        echo "TINY-END $name.peer"
        echo "TINY-RESULT $name.peer status=$peer_st"
    fi
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

# check VM: sets `status` and `why` (empty: as expected) for a VM (NAME or NAME.peer), from
# its TINY-RESULT line (a peer's status lists its runs: "0,0") and its output.
check_vm() {
    local vm=$1 result out runs want killed i
    expected=$(conf_value "$vm" tiny-expect-status | tail -1)
    expected=${expected:-0}
    runs=$(conf_value "$vm" tiny-peer-runs | tail -1)
    killed=137 # SIGKILL
    [ -n "$(conf_value "$vm" tiny-peer-kill-on)" ] || killed=$expected
    want=
    for ((i = 1; i < ${runs:-1}; i++)); do want="$want$killed,"; done
    want="$want$expected"
    expected=$want
    result=$(grep -E "^TINY-RESULT $vm status=" "$log" | tail -1 || true)
    status=none why=
    if [ "$rc" -ne 125 ] && [ -n "$result" ]; then
        status=${result#*status=} && status=${status%% *}
        out=$(sed -n "/^TINY-BEGIN $vm\$/,/^TINY-END $vm\$/p" "$log")
        [ "$status" = "$expected" ] || why="exit status $status, expected $expected"
        while IFS= read -r want; do
            [ -z "$want" ] || grep -qF -- "$want" <<<"$out" || why="${why:+$why; }no \"$want\" in the output"
        done < <(conf_value "$vm" tiny-expect-log)
    else
        why="no result (outer.sh status $rc)"
    fi
}

# Prints why VM failed and its output.
report_vm() {
    if grep -q "^TINY-BEGIN $1\$" "$log"; then
        echo "tiny: $1: $2; its output:"
        sed -n "/^TINY-BEGIN $1\$/,/^TINY-END $1\$/{/^TINY-BEGIN /d;/^TINY-END /d;s/^/    | /;p}" "$log"
    else
        echo "tiny: $1: $2"
    fi >&2
}

passed=0 failed=0 times=()
for n in "${names[@]}"; do
    check_vm "$n"
    result=$(grep -E "^TINY-RESULT $n status=" "$log" | tail -1 || true)
    [ -z "$result" ] || [ "$rc" -eq 125 ] || times+=("$n ${result##*seconds=}s")
    grep -q "^TINY-TIMEOUT $n\$" "$log" && why="$why (timed out after ${TINY_TEST_TIMEOUT:-60}s)"
    a_status=$status a_expected=$expected a_why=$why
    peer_why= peer_note=
    if [ -e "$tiny/$n.peer.conf" ]; then
        check_vm "$n.peer"
        peer_why=$why
        peer_note=", peer $status, expected $expected"
    fi
    if [ -z "$a_why" ] && [ -z "$peer_why" ]; then
        echo "tiny: $n: PASS (status $a_status, expected $a_expected$peer_note)"
        passed=$((passed + 1))
    else
        echo "tiny: $n: FAIL (status $a_status, expected $a_expected$peer_note)"
        failed=$((failed + 1))
        report_vm "$n" "${a_why:-as expected}"
        if [ -e "$tiny/$n.peer.conf" ]; then report_vm "$n.peer" "${peer_why:-as expected}"; fi
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
