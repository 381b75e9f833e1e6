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
# its output (expected status 137, "TINY-PEER-KILL N" in the output);
# "# tiny-peer-pause: S" changes the 1 s between runs (0: none);
# "# tiny-peer-restart-on: TEXT" starts the next run only once TEXT, with %d replaced by the
# number of the run that ended, is in the main VM's output (it saw the peer go);
# "# tiny-peer-sample-main: KIB" samples the main VMM at each kill (VmRSS, open fds: a
# TINY-SAMPLE line) and fails the test if from the first kill to the last its RSS grew by more
# than KIB KiB or its fd count grew at all (the soak, pair_soak). "# tiny-timeout: S" in
# NAME.conf gives the main VM S seconds instead of TINY_TEST_TIMEOUT (and adds S to the outer
# budget). "# tiny-taskset: CPU" (either .conf) runs that whole VMM under `taskset -c CPU`
# (the stable setting for many VM starts, see nested-harness.md; `cpu runmask` pins only the
# vCPU threads). Prints "tiny: NAME: PASS|FAIL (status S, expected E)"
# per test, the timings, then last "N passed, M failed". Exit: 0 all passed, 1 a test failed,
# 125 environment failure (outer machine broken; no verdict on the tests), 2 usage.
#
# "# tiny-skip-sanitized: WHY" in NAME.conf: not run (SKIP) when vdevkit is a sanitizer build.
#
# Environment: TINY_TIMEOUT (outer.sh budget, seconds; default 300 plus the tiny-timeout of
# each test selected), TINY_TEST_TIMEOUT (per guest, default 60), TINY_ONLY (space-separated
# test names), TINY_SKIP (names left out), TINY_SANITIZED_ALL=1 (run tiny-skip-sanitized tests
# too), TINY_LOG (where the full log is kept; default BUILD_DIR/guest-tests/tiny/last-run.log).
# Exit 77 when every test selected was skipped.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The outer machine on one TCG thread: with QEMU 7.2's multi-threaded TCG, a loaded host
# (a CI neighbour; here: builds and fuzzers) wedged it in 3 of 4 runs (both outer CPUs
# silent or in soft lockups for minutes; the cause of CI stop 19's two tier-2 failures), and
# single-threaded it passed 4 of 4 under the same load, faster (51-60 s against 74 s).
export VDEVKIT_OUTER_ACCEL=${VDEVKIT_OUTER_ACCEL:-tcg,thread=single}
[ $# -ge 1 ] || { sed -n '6p' "${BASH_SOURCE[0]}" | sed 's/^# *//' >&2; exit 2; }
build=$(realpath "$1"); shift
tiny=$build/guest-tests/tiny
log=${TINY_LOG:-$tiny/last-run.log}

for f in "$build/vmm/vdevkit" "$build/core/libvdev.so" "$build/modules/vdev-testdev.so"; do
    [ -e "$f" ] || { echo "run-tiny-tests: $f missing: build the project first" >&2; exit 2; }
done
if [ -n "${TINY_ONLY:-}" ]; then
    read -r -a names <<<"$TINY_ONLY"
else
    names=()
    for elf in "$tiny"/*.elf; do [ -e "$elf" ] && names+=("$(basename "$elf" .elf)"); done
fi
[ ${#names[@]} -gt 0 ] || { echo "run-tiny-tests: no tiny guests in $tiny: build the project first" >&2; exit 2; }
if [ -n "${TINY_SKIP:-}" ]; then # left out (ctest runs the soak as its own test)
    kept=()
    for n in "${names[@]}"; do [[ " $TINY_SKIP " == *" $n "* ]] || kept+=("$n"); done
    names=("${kept[@]}")
    [ ${#names[@]} -gt 0 ] || { echo "run-tiny-tests: TINY_SKIP leaves no test" >&2; exit 2; }
fi
# "# tiny-skip-sanitized: WHY" in NAME.conf: not run when the VMM is a sanitizer build, unless
# TINY_SANITIZED_ALL=1 (the soak: see docs/testing.md).
sanitized=0
ldd "$build/vmm/vdevkit" 2>/dev/null | grep -q libasan && sanitized=1
skipped=()
if [ "$sanitized" = 1 ] && [ "${TINY_SANITIZED_ALL:-0}" != 1 ]; then
    kept=()
    for n in "${names[@]}"; do
        why=$(sed -n 's/^# *tiny-skip-sanitized: *//p' "$tiny/$n.conf" 2>/dev/null | tail -1)
        if [ -n "$why" ]; then
            echo "tiny: $n: SKIP (sanitizer build: $why; TINY_SANITIZED_ALL=1 runs it)"
            skipped+=("$n")
        else
            kept+=("$n")
        fi
    done
    names=("${kept[@]}")
    if [ ${#names[@]} -eq 0 ]; then
        echo "0 passed, 0 failed, ${#skipped[@]} skipped"
        exit 77 # ctest: SKIP_RETURN_CODE
    fi
fi

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
# A zombie (exited, not yet waited for) is not alive. (Shell builtins only: this runs in
# polling loops, and every process started in the outer machine costs milliseconds.)
alive() {
    [ -e "/proc/$1" ] && read -r _ _ state _ < "/proc/$1/stat" 2>/dev/null && [ "$state" != Z ]
}
# The VMM's pid under `timeout` pid $1 (busybox timeout execs it, coreutils forks it).
vmm_pid() {
    if [ "$(cat "/proc/$1/comm" 2>/dev/null)" = vdevkit ]; then echo "$1"; else
        awk '{ print $1 }' "/proc/$1/task/$1/children" 2>/dev/null; fi
}
# The main VM's VMM (main_pid: its `timeout`): a TINY-SAMPLE line for run $1 (uptime, VmRSS,
# open fds, then what the RSS is made of and the thread count).
sample_main() {
    mp=$(vmm_pid "$main_pid")
    st=$(awk '$1 == "VmRSS:" { rss = $2 } $1 == "RssAnon:" { a = $2 } $1 == "RssFile:" { f = $2 }
              $1 == "RssShmem:" { s = $2 } $1 == "Threads:" { t = $2 }
              END { printf "rss_kb=%s anon=%s file=%s shmem=%s threads=%s", rss, a, f, s, t }' \
             "/proc/$mp/status" 2>/dev/null)
    set -- "$1" /proc/"$mp"/fd/*
    read -r t _ < /proc/uptime
    echo "TINY-SAMPLE run=$1 t=$t ${st:-rss_kb=none} fds=$(($# - 1))"
}
# A pair's peer NAME RUNS [KILL_TEXT [PAUSE [RESTART_TEXT [SAMPLE [CPU]]]]]: started again
# each time it ends, PAUSE seconds later (default 1); every run but the last is killed
# (SIGKILL) once KILL_TEXT shows in its output (polled every 0.1 s, 0.02 s with RESTART_TEXT;
# a FIFO read by the shell was tried: busybox ash gave up an open interrupted by a signal),
# after sample_main if SAMPLE is set; with RESTART_TEXT (%d: the number of the run
# that ended) the next run starts once that shows in the main VM's output; with CPU the whole
# VMM runs under `taskset -c CPU`. Sets peer_st ("S1,S2...").
run_peer() {
    peer_st= i=1 out="tests/$1.peer.out" runs=${2:-1} cpu=$7 poll=0.1
    [ -z "$5" ] || poll=0.02 # a series of quick restarts (the soak)
    command -v taskset > /dev/null 2>&1 || cpu=
    : > "$out"
    while [ "$i" -le "$runs" ]; do
        [ "$i" -gt 1 ] && [ "${4:-1}" != 0 ] && sleep "${4:-1}"
        read -r t _ < /proc/uptime
        echo "TINY-PEER-RUN $i t=$t" >> "$out"
        # Long series: a sign of life on the console (outer.sh takes a long silence for a hang).
        [ $((i % 10)) -ne 0 ] || echo "TINY-PROGRESS $1.peer run $i of $runs t=$t"
        run_out="$out.run" # this run's output only, appended to $out when it ends
        : > "$run_out"
        timeout -k 5 "$per" ${cpu:+taskset -c "$cpu"} ./vdevkit run "@tests/$1.peer.conf" \
            >> "$run_out" 2>&1 < /dev/null &
        p=$!
        if [ -n "$3" ] && [ "$i" -lt "$runs" ]; then
            read -r w0 _ < /proc/uptime
            w0=${w0%.*}
            now=$w0
            while alive "$p" && ! grep -qF -- "$3" "$run_out" && [ "$now" -lt $((w0 + per)) ]; do
                sleep "$poll"
                read -r now _ < /proc/uptime
                now=${now%.*}
            done
            vp=$(vmm_pid "$p")
            if alive "$p" && [ -n "$vp" ]; then
                [ -z "$6" ] || sample_main "$i" >> "$run_out"
                echo "TINY-PEER-KILL $i (pid $vp)" >> "$run_out"
                kill -KILL "$vp"
            fi
        fi
        wait "$p"
        peer_st="$peer_st${peer_st:+,}$?"
        cat "$run_out" >> "$out"
        if [ -n "$5" ] && [ "$i" -lt "$runs" ]; then
            case $5 in
                *%d*) want="${5%%"%d"*}$i${5#*"%d"}" ;;
                *) want=$5 ;;
            esac
            read -r w0 _ < /proc/uptime
            w0=${w0%.*}
            now=$w0
            while alive "$main_pid" && ! grep -qF -- "$want" "tests/$1.out" &&
                [ "$now" -lt $((w0 + per)) ]; do
                sleep 0.02
                read -r now _ < /proc/uptime
                now=${now%.*}
            done
        fi
        i=$((i + 1))
    done
}
for name in "$@"; do
    read -r t0 _ < /proc/uptime
    # "# tiny-timeout: S" in NAME.conf: the main VM's time limit instead of PER_TEST_TIMEOUT.
    own=$(sed -n 's/^# *tiny-timeout: *//p' "tests/$name.conf" | tail -1)
    own=${own:-$per}
    # "# tiny-taskset: CPU": the whole VMM (not only its vCPU threads) on that outer CPU.
    pin=$(sed -n 's/^# *tiny-taskset: *//p' "tests/$name.conf" | tail -1)
    command -v taskset > /dev/null 2>&1 || pin=
    if [ -e "tests/$name.peer.conf" ]; then
        rm -rf rt && mkdir rt
        pv() { sed -n "s/^# *tiny-$1: *//p" "tests/$name.peer.conf" | tail -1; }
        VDEVKIT_RUNTIME_DIR="$PWD/rt" timeout -k 5 "$own" ${pin:+taskset -c "$pin"} \
            ./vdevkit run "@tests/$name.conf" > "tests/$name.out" 2>&1 < /dev/null &
        pid=$!
        main_pid=$pid
        VDEVKIT_RUNTIME_DIR="$PWD/rt" run_peer "$name" "$(pv peer-runs)" "$(pv peer-kill-on)" \
            "$(pv peer-pause)" "$(pv peer-restart-on)" "$(pv peer-sample-main)" "$(pv taskset)"
        wait "$pid"
        st=$?
    else
        timeout -k 5 "$own" ${pin:+taskset -c "$pin"} ./vdevkit run "@tests/$name.conf" \
            > "tests/$name.out" 2>&1 < /dev/null
        st=$?
    fi
    read -r t1 _ < /proc/uptime
    awk "BEGIN { exit !($t1 - $t0 >= $own) }" && echo "TINY-TIMEOUT $name"
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

# The outer machine's budget: 300 s, plus the own time limit of each test that has one (the
# soak's "tiny-timeout").
budget=${TINY_TIMEOUT:-}
if [ -z "$budget" ]; then
    budget=300
    for n in "${names[@]}"; do
        t=$(sed -n 's/^# *tiny-timeout: *//p' "$tiny/$n.conf" | tail -1)
        budget=$((budget + ${t:-0}))
    done
fi
echo "tiny: running ${#names[@]} guests through outer.sh (log: $log)" >&2
set +e
"$here/../harness/outer.sh" --timeout "$budget" "$@" --payload "$payload" \
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

# A peer's statuses, repeats counted: "137,137,137,0" -> "137 x3,0".
squeeze() {
    awk -F, '{ for (i = 1; i <= NF; i++) { k = 1; while (i < NF && $(i + 1) == $i) { i++; k++ }
                                           printf "%s%s%s", (i > k ? "," : ""), $i, (k > 1 ? " x" k : "") }
               print "" }' <<<"$1"
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

# check_samples NAME: for a peer with "tiny-peer-sample-main: KIB", the main VMM's samples taken
# at each kill (TINY-SAMPLE lines): prints the first and the last (RSS, open fds) and the
# restart cycles' times (from one kill to the next); sets `why` if RSS grew by more than KIB
# KiB or the fd count grew at all, or samples are missing (one per killed run).
check_samples() {
    local margin runs lines first last n_s r1 r2 f1 f2 c1 c2 cycles
    margin=$(conf_value "$1.peer" tiny-peer-sample-main | tail -1)
    why=
    [ -n "$margin" ] || return 0
    runs=$(conf_value "$1.peer" tiny-peer-runs | tail -1)
    lines=$(sed -n "/^TINY-BEGIN $1.peer\$/,/^TINY-END $1.peer\$/p" "$log" | grep '^TINY-SAMPLE ' || true)
    n_s=$(grep -c . <<<"$lines" || true)
    if [ "$n_s" -lt 2 ] || [ "$n_s" -ne $((${runs:-1} - 1)) ]; then
        why="$n_s samples of the main VMM, expected $((${runs:-1} - 1))"
        return 0
    fi
    first=$(head -1 <<<"$lines") last=$(tail -1 <<<"$lines")
    field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$2"; }
    r1=$(field rss_kb "$first") r2=$(field rss_kb "$last")
    f1=$(field fds "$first") f2=$(field fds "$last")
    c1=$(field run "$first") c2=$(field run "$last")
    # A sanitizer's allocator (quarantine, bookkeeping) grows by one-off steps of several MiB
    # in the first cycles (seen: 3.4 and 5.4 MiB at cycle 10, flat from there to 100): there
    # the RSS limit applies from the middle sample on (a leak per cycle still shows; LSan
    # checks the rest when the VM ends). The fd count is checked from the first one.
    local base=$first note=
    if [ "$sanitized" = 1 ]; then
        base=$(sed -n "$(((n_s + 1) / 2))p" <<<"$lines")
        note=" (sanitizer build: RSS limit from cycle $(field run "$base"), RSS $(field rss_kb "$base") KiB)"
    fi
    local rb cb
    rb=$(field rss_kb "$base") cb=$(field run "$base")
    cycles=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^t=/) t[NR] = substr($i, 3) }
        END { min = 1e9; max = 0
              for (k = 2; k <= NR; k++) { d = t[k] - t[k - 1]; s += d
                                          if (d < min) min = d; if (d > max) max = d }
              printf "%d restart cycles: %.2f s on average, %.2f-%.2f s, %.1f s in all",
                     NR - 1, s / (NR - 1), min, max, t[NR] - t[1] }' <<<"$lines")
    echo "tiny: $1: main VMM at cycle $c1: RSS ${r1:-?} KiB, ${f1:-?} open fds; at cycle $c2: RSS ${r2:-?} KiB, ${f2:-?} open fds$note; $cycles"
    if [ -z "$r1" ] || [ -z "$r2" ] || [ -z "$rb" ] || [ -z "$f1" ] || [ -z "$f2" ]; then
        why="unreadable samples: $first / $last"
    elif [ $((r2 - rb)) -gt "$margin" ]; then
        why="the main VMM's RSS grew by $((r2 - rb)) KiB from cycle $cb to $c2 (limit $margin KiB)"
    elif [ "$f2" -gt "$f1" ]; then
        why="the main VMM's open fds grew from $f1 to $f2 from cycle $c1 to $c2"
    fi
}

passed=0 failed=0 times=()
for n in "${names[@]}"; do
    check_vm "$n"
    result=$(grep -E "^TINY-RESULT $n status=" "$log" | tail -1 || true)
    [ -z "$result" ] || [ "$rc" -eq 125 ] || times+=("$n ${result##*seconds=}s")
    grep -q "^TINY-TIMEOUT $n\$" "$log" && why="$why (timed out)"
    a_status=$status a_expected=$expected a_why=$why
    peer_why= peer_note=
    if [ -e "$tiny/$n.peer.conf" ]; then
        check_vm "$n.peer"
        peer_why=$why
        peer_note=", peer $(squeeze "$status"), expected $(squeeze "$expected")"
        if [ "$rc" -ne 125 ]; then
            check_samples "$n"
            [ -z "$why" ] || peer_why="${peer_why:+$peer_why; }$why"
        fi
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
    # how far it got (a slow host or a wedge?) and the console's last words, for CI's output
    grep -a 'TINY-PROGRESS' "$log" | tail -n 1 | tr -d '\r' | sed 's/^/    last progress: /' >&2 || true
    sed -n '/^outer.sh: --- last 40 lines/,/^outer.sh: --- end/p' "$log" | tail -n 13 |
        head -n 12 | sed 's/^/    | /' >&2 || true
elif [ "$rc" -eq 124 ]; then
    echo "tiny: the run timed out (outer budget ${budget} s, TINY_TIMEOUT); see $log" >&2
fi
echo "$passed passed, $failed failed${skipped[0]:+, ${#skipped[@]} skipped}"
[ "$rc" -eq 125 ] && exit 125
[ "$failed" -eq 0 ]
