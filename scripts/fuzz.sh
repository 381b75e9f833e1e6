#!/bin/bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.c) with clang and runs them.
#   scripts/fuzz.sh [--time SECS] [--runs N] [--seed S] [TARGET...]
# Each named target (default: all) runs for SECS seconds (default 20) or N executions,
# whichever ends first, from its seeds (tests/fuzz/seeds/TARGET/, the test configurations
# for fuzz_config) plus the corpus it grew before (build-fuzz/corpus/TARGET/); --seed fixes
# libFuzzer's random seed (a repeatable smoke run). A target's own libFuzzer flags follow
# "FUZZ_ARGS:" in its source. Prints one line per target (executions, coverage, corpus);
# a crash, leak, timeout or sanitizer report fails the run and leaves the reproducer in
# build-fuzz/findings/TARGET/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
secs=20
runs=-1
seed=()
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
    --time) secs=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --seed) seed=(-seed="$2"); shift 2 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    *) targets+=("${1%.c}"); shift ;;
    esac
done
case "$secs" in '' | *[!0-9]*) echo "fuzz.sh: --time wants seconds, not '$secs'" >&2; exit 2 ;; esac

dir=${VDEVKIT_FUZZ_BUILD:-$top/build-fuzz} # a helper's own tree: VDEVKIT_FUZZ_BUILD=DIR
CC=clang "$top/scripts/build.sh" "$dir" -DVDEVKIT_FUZZ=ON -DVDEVKIT_TESTS=OFF \
    -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [ ${#targets[@]} -eq 0 ]; then
    for src in "$top"/tests/fuzz/fuzz_*.c; do
        name=$(basename "$src" .c)
        [ "$name" = fuzz_common ] || targets+=("$name")
    done
fi

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
    if (cd "$findings" && "$bin" -max_total_time="$secs" -runs="$runs" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 "${seed[@]}" "${extra[@]}" "$corpus" "${seeds[@]}" \
        >"$log" 2>&1); then
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
        ft=$(grep -ao 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
        printf '%-22s ok   %10s execs  cov %6s  ft %6s  corpus %5s\n' "$t" "${execs:-?}" \
            "${cov:-?}" "${ft:-?}" "$(find "$corpus" -type f | wc -l)"
    else
        failed=1
        printf '%-22s FAILED (reproducer in %s, log %s):\n' "$t" "$findings" "$log"
        grep -a -m 1 -A 30 'ERROR\|runtime error\|deadly signal' "$log" | head -n 40 || tail -n 30 "$log"
    fi
done
exit "$failed"
