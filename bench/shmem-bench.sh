#!/usr/bin/env bash
# Shared memory between two tiny guests (vdev shmem, PCI): the notification round trip against
# the cost of a plain VM exit, and copy bandwidth through the region against memcpy in guest
# RAM, all measured in the same run by the tiny guest shmem_bench (guest-tests/tiny/tests/
# shmem_bench.c). N runs (default 3) in ONE boot of the outer machine, through the tier-2
# runner (run-tiny-tests.sh: nested under QEMU TCG here, or the host's /dev/kvm). Prints each
# run's figures, then the median over the runs. Figures go to docs/performance.md.
#   bench/shmem-bench.sh BUILD_DIR [N]      (BUILD_DIR built with the tiny guests, i.e. tests on)
#   bench/shmem-bench.sh --parse LOG        (the figures of a runner log kept with SHMEM_BENCH_LOG)
# Environment: SHMEM_BENCH_LOG (keep the runner's log there).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
status=0
if [ "${1:-}" = --parse ]; then
    log=${2:?usage: shmem-bench.sh --parse LOG}
else
    build=$(cd "${1:?usage: shmem-bench.sh BUILD_DIR [N]}" && pwd)
    n=${2:-3}
    [ -e "$build/guest-tests/tiny/shmem_bench.elf" ] ||
        { echo "shmem-bench: no shmem_bench.elf in $build: configure with -DVDEVKIT_TESTS=ON and build" >&2; exit 2; }
    if [ -n "${SHMEM_BENCH_LOG:-}" ]; then
        log=$SHMEM_BENCH_LOG
    else
        log=$(mktemp /tmp/vdevkit-shmbench.XXXXXX.log)
        trap 'rm -f "$log"' EXIT
    fi
    only=
    for ((i = 0; i < n; i++)); do only="$only shmem_bench"; done
    echo "host load before: $(uptime)"
    TINY_ONLY="$only" TINY_LOG="$log" TINY_TIMEOUT=$((240 + 60 * n)) \
        "$top/guest-tests/tiny/run-tiny-tests.sh" "$build" --retry-env || status=$?
    echo "host load after: $(uptime)"
fi
mode=$(sed -n 's/^TINY-INNER mode=\([a-z?]*\).*/\1/p' "$log" | tail -1)
echo "shmem-bench: $(grep -c '^TINY-BEGIN shmem_bench$' "$log") runs, harness mode ${mode:-unknown}$([ "$mode" = nested ] && echo ' (KVM nested in QEMU TCG: figures are not those of hardware)')"

# Each run's figures (A's lines between the runner's markers), numbered.
awk '/^TINY-BEGIN shmem_bench$/ { run++; on = 1; next } /^TINY-END / { on = 0 }
     on && /^testdev: shmem_bench: / { print "run " run ": " substr($0, 23) }' "$log"

# The median over the runs of each figure.
awk '
function med(key,   i, j, t, k, m) {
    m = cnt[key]
    for (i = 1; i <= m; i++) a[i] = val[key, i]
    for (i = 2; i <= m; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
function add(key, v) { if (!(key in cnt)) order[++nk] = key; val[key, ++cnt[key]] = v + 0 }
/^TINY-BEGIN shmem_bench$/ { on = 1; next }
/^TINY-END / { on = 0 }
!on || !/^testdev: shmem_bench: / { next }
{ sub(/^testdev: /, "") }
/median [0-9]+ ns/ {
    what = $0; sub(/^shmem_bench: /, "", what); sub(/: median.*/, "", what)
    v = $0; sub(/.*median /, "", v); sub(/ ns.*/, "", v); add(what " (median ns)", v)
}
/copy, best of/ {
    v = $0; sub(/.*RAM to RAM /, "", v); sub(/ MB.*/, "", v); add("copy RAM to RAM, best (MB/s)", v)
    v = $0; sub(/.*RAM to region [0-9]+ MB\/s \(/, "", v); sub(/%.*/, "", v); add("RAM to region, best, % of RAM to RAM", v)
    v = $0; sub(/.*region to RAM [0-9]+ MB\/s \(/, "", v); sub(/%.*/, "", v); add("region to RAM, best, % of RAM to RAM", v)
    next
}
/copy .*RAM to RAM/ {
    v = $0; sub(/.*RAM to RAM /, "", v); sub(/ MB.*/, "", v); add("copy RAM to RAM (MB/s)", v)
    v = $0; sub(/.*RAM to region /, "", v); sub(/ MB.*/, "", v); add("copy RAM to region (MB/s)", v)
    v = $0; sub(/.*region to RAM /, "", v); sub(/ MB.*/, "", v); add("copy region to RAM (MB/s)", v)
    v = $0; sub(/.*RAM to region [0-9]+ MB\/s \(/, "", v); sub(/%.*/, "", v); add("RAM to region, % of RAM to RAM", v)
    v = $0; sub(/.*region to RAM [0-9]+ MB\/s \(/, "", v); sub(/%.*/, "", v); add("region to RAM, % of RAM to RAM", v)
}
END {
    if (!nk) { print "shmem-bench: no figures (see the runner output above)"; exit 1 }
    print "median over " cnt[order[1]] " runs (ratios: of the medians):"
    mmio = med("exit: MMIO read (factory page) (median ns)"); pio = med("exit: port read (testdev) (median ns)")
    for (k = 1; k <= nk; k++) {
        v = med(order[k]); extra = ""
        if (order[k] ~ /^(round trip, (interrupt|polling)|one leg)/ && mmio && pio)
            extra = sprintf("   = %.1f x two MMIO exits, %.1f x two port exits", v / (2 * mmio), v / (2 * pio))
        printf "  %-58s %s%s\n", order[k], v, extra
    }
}' "$log" || status=1
exit "$status"
