#!/bin/bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.c) with clang and runs them.
#   scripts/fuzz.sh [--time SECS] [--cpu SECS] [--runs N] [--seed S] [--unit-timeout S] [TARGET...]
# Each named target (default: all) runs for SECS seconds (default 20), SECS of CPU time (--cpu,
# all its threads counted: a campaign on a shared machine) or N executions, whichever ends
# first, from its seeds (tests/fuzz/seeds/TARGET/, the test configurations for fuzz_config)
# plus the corpus it grew before (build-fuzz/corpus/TARGET/); --seed fixes libFuzzer's random
# seed (a repeatable smoke run); an input running longer than --unit-timeout (default 10 s of
# wall time) is a finding: a campaign that may be paused (SIGSTOP while nested tests need the
# cores) sets it high. A target's own libFuzzer flags follow "FUZZ_ARGS:" in its source.
# Prints one line per target (executions, CPU seconds, coverage, corpus); a crash, leak,
# timeout or sanitizer report fails the run and leaves the reproducer in
# build-fuzz/findings/TARGET/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
secs=20
runs=-1
cpu=0
unit_timeout=10
seed=()
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
    --time) secs=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    --unit-timeout) unit_timeout=$2; shift 2 ;;
    --seed) seed=(-seed="$2"); shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    *) targets+=("${1%.c}"); shift ;;
    esac
done
case "$secs" in '' | *[!0-9]*) echo "fuzz.sh: --time wants seconds, not '$secs'" >&2; exit 2 ;; esac
case "$cpu" in '' | *[!0-9]*) echo "fuzz.sh: --cpu wants seconds, not '$cpu'" >&2; exit 2 ;; esac

dir=${VDEVKIT_FUZZ_BUILD:-$top/build-fuzz} # a helper's own tree: VDEVKIT_FUZZ_BUILD=DIR
CC=clang "$top/scripts/build.sh" "$dir" -DVDEVKIT_FUZZ=ON -DVDEVKIT_TESTS=OFF \
    -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [ ${#targets[@]} -eq 0 ]; then
    for src in "$top"/tests/fuzz/fuzz_*.c; do
        name=$(basename "$src" .c)
        [ "$name" = fuzz_common ] || targets+=("$name")
    done
fi

# CPU seconds (user + system) of this shell's finished children, from `times` (run in this
# shell: a subshell's `times` counts only its own children).
times_out=$(mktemp)
trap 'rm -f "$times_out"' EXIT
child_cpu() { # sets $cpu_now
    times > "$times_out"
    cpu_now=$(tail -n 1 "$times_out" | awk '{ t = 0; for (i = 1; i <= 2; i++) {
        split($i, a, /[ms]/); t += a[1] * 60 + a[2] } printf "%d", t }')
}

# Asks fuzzer $1 to stop (SIGUSR1: libFuzzer ends gracefully, with its final statistics) once
# it has used $2 s of CPU time, all threads (the device threads of the machine targets) counted.
cpu_limit() {
    local hz used
    hz=$(getconf CLK_TCK)
    while sleep 2; do
        used=$(awk -v hz="$hz" '{ sub(/^.*\) /, ""); printf "%d", ($12 + $13) / hz }' \
            "/proc/$1/stat" 2>/dev/null) || return 0
        [ -n "$used" ] || return 0
        if [ "$used" -ge "$2" ]; then
            kill -USR1 "$1" 2>/dev/null
            return 0
        fi
    done
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=0
for t in "${targets[@]}"; do
    bin="$dir/tests/fuzz/$t"
    if [ ! -x "$bin" ]; then
        echo "fuzz.sh: no target '$t' (tests/fuzz/$t.c)" >&2
        exit 2
    fi
    corpus="$dir/corpus/$t"
    findings="$dir/findings/$t"
    mkdir -p "$corpus" "$findings"
    seeds=()
    [ -d "$top/tests/fuzz/seeds/$t" ] && seeds+=("$top/tests/fuzz/seeds/$t")
    if [ "$t" = fuzz_config ]; then
        seeds+=("$top/tests/data/config" "$top/examples")
    fi
    read -r -a extra <<<"$(sed -n 's/.*FUZZ_ARGS:\(.*\)\*\/.*/\1/p; s/.*FUZZ_ARGS:\(.*\)$/\1/p' \
        "$top/tests/fuzz/$t.c" | head -n 1)"
    log="$dir/findings/$t.log"
    child_cpu
    cpu0=$cpu_now
    (cd "$findings" && exec "$bin" -max_total_time="$secs" -runs="$runs" -timeout="$unit_timeout" \
        -rss_limit_mb=2048 -print_final_stats=1 "${seed[@]}" "${extra[@]}" "$corpus" "${seeds[@]}" \
        >"$log" 2>&1) &
    pid=$!
    [ "$cpu" -gt 0 ] && cpu_limit "$pid" "$cpu" &
    if wait "$pid"; then
        child_cpu
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
        ft=$(grep -ao 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
        printf '%-22s ok   %10s execs  %5s CPU-s  cov %6s  ft %6s  corpus %5s\n' "$t" \
            "${execs:-?}" "$((cpu_now - cpu0))" "${cov:-?}" "${ft:-?}" \
            "$(find "$corpus" -type f | wc -l)"
    else
        failed=1
        printf '%-22s FAILED (reproducer in %s, log %s):\n' "$t" "$findings" "$log"
        grep -a -m 1 -A 30 'ERROR\|runtime error\|deadly signal' "$log" | head -n 40 || tail -n 30 "$log"
    fi
done
exit "$failed"
