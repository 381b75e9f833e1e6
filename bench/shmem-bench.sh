#!/usr/bin/env bash
# Shared memory between two tiny guests (vdev shmem): the notification round trip against the
# cost of a plain VM exit, and copy bandwidth through the region against memcpy in guest RAM,
# all measured in the same run by the tiny guest shmem_bench (guest-tests/tiny/tests/
# shmem_bench.c) in its variants: shmem_bench (PCI devices; MSI-X when the device has it, else
# INTx), shmem_bench_mmio (MMIO devices at `loc`, a level line through the IOAPIC) and
# shmem_bench_intx (PCI with MSI-X left off: INTx, for comparison). N runs of each (default 3,
# the variants alternating) in ONE boot of the outer machine, through the tier-2 runner
# (run-tiny-tests.sh: nested under QEMU TCG here, or the host's /dev/kvm). Prints each run's
# figures, then per variant its interrupt mode and the median over the runs of each figure.
# Figures go to docs/performance.md.
#   bench/shmem-bench.sh [--pci|--mmio|--intx|--all] BUILD_DIR [N]
#       BUILD_DIR built with the tiny guests (tests on); default: PCI and MMIO; --all: the three
#   bench/shmem-bench.sh --parse LOG        (the figures of a runner log kept with SHMEM_BENCH_LOG)
# Environment: SHMEM_BENCH_LOG (keep the runner's log there).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
status=0
tmpfiles=()
trap 'rm -f "${tmpfiles[@]}"' EXIT
usage="usage: shmem-bench.sh [--pci|--mmio|--intx|--all] BUILD_DIR [N] | --parse LOG"
all="shmem_bench shmem_bench_mmio shmem_bench_intx"
variants="shmem_bench shmem_bench_mmio"
case "${1:-}" in
--pci) variants=shmem_bench; shift ;;
--mmio) variants=shmem_bench_mmio; shift ;;
--intx) variants=shmem_bench_intx; shift ;;
--all) variants=$all; shift ;;
esac
if [ "${1:-}" = --parse ]; then
    log=${2:?$usage}
else
    build=$(cd "${1:?$usage}" && pwd)
    n=${2:-3}
    for v in $variants; do
        [ -e "$build/guest-tests/tiny/$v.elf" ] ||
            { echo "shmem-bench: no $v.elf in $build: configure with -DVDEVKIT_TESTS=ON and build" >&2; exit 2; }
    done
    if [ -n "${SHMEM_BENCH_LOG:-}" ]; then
        log=$SHMEM_BENCH_LOG
    else
        log=$(mktemp /tmp/vdevkit-shmbench.XXXXXX.log)
        tmpfiles+=("$log")
    fi
    only=
    for ((i = 0; i < n; i++)); do only="$only $variants"; done
    echo "host load before: $(uptime)"
    TINY_ONLY="$only" TINY_LOG="$log" TINY_TIMEOUT=$((240 + 60 * n * $(wc -w <<<"$variants"))) \
        "$top/guest-tests/tiny/run-tiny-tests.sh" "$build" --retry-env || status=$?
    echo "host load after: $(uptime)"
fi
mode=$(sed -n 's/^TINY-INNER mode=\([a-z?]*\).*/\1/p' "$log" | tail -1)
echo "shmem-bench: harness mode ${mode:-unknown}$([ "$mode" = nested ] && echo ' (KVM nested in QEMU TCG: figures are not those of hardware)')"
# After an environment failure outer.sh (--retry-env) runs everything again: only the last
# attempt counts (each attempt starts with the runner's TINY-INNER line).
first=$(grep -n '^TINY-INNER ' "$log" | tail -1 | cut -d: -f1)
if [ "${first:-1}" -gt 1 ]; then
    echo "shmem-bench: the outer machine was retried: figures of the last attempt only"
    last_log=$(mktemp /tmp/vdevkit-shmbench-last.XXXXXX.log)
    tail -n "+$first" "$log" > "$last_log"
    log=$last_log
    tmpfiles+=("$last_log")
fi

# figures VARIANT: each run's figures (A's lines between the runner's markers), numbered; its
# interrupt mode; the median over the runs of each figure.
figures() {
    local v=$1
    echo
    local what="PCI, MSI-X when the device has it"
    [ "$v" = shmem_bench_mmio ] && what="MMIO at loc, level line"
    [ "$v" = shmem_bench_intx ] && what="PCI, MSI-X off: INTx"
    echo "== $v ($what): $(grep -c "^TINY-BEGIN $v\$" "$log") runs"
    awk -v v="$v" '$0 == "TINY-BEGIN " v { run++; on = 1; next } /^TINY-END / { on = 0 }
         on && /^testdev: shmem_bench: / { print "run " run ": " substr($0, 23) }' "$log"
    awk -v v="$v" '
function med(key,   i, j, t, k, m) {
    m = cnt[key]
    for (i = 1; i <= m; i++) a[i] = val[key, i]
    for (i = 2; i <= m; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
function add(key, v) { if (!(key in cnt)) order[++nk] = key; val[key, ++cnt[key]] = v + 0 }
$0 == "TINY-BEGIN " v { on = 1; next }
/^TINY-END / { on = 0 }
!on || !/^testdev: shmem_bench: / { next }
{ sub(/^testdev: /, "") }
/^shmem_bench: interrupt: / {
    m = $0; sub(/^shmem_bench: interrupt: /, "", m)
    if (!(m in seen)) { seen[m] = 1; modes = modes (modes ? "; " : "") m }
    next
}
/median [0-9]+ ns/ {
    what = $0; sub(/^shmem_bench: /, "", what); sub(/: median.*/, "", what)
    x = $0; sub(/.*median /, "", x); sub(/ ns.*/, "", x); add(what " (median ns)", x)
}
/copy, best of/ {
    x = $0; sub(/.*RAM to RAM /, "", x); sub(/ MB.*/, "", x); add("copy RAM to RAM, best (MB/s)", x)
    x = $0; sub(/.*RAM to region [0-9]+ MB\/s \(/, "", x); sub(/%.*/, "", x); add("RAM to region, best, % of RAM to RAM", x)
    x = $0; sub(/.*region to RAM [0-9]+ MB\/s \(/, "", x); sub(/%.*/, "", x); add("region to RAM, best, % of RAM to RAM", x)
    next
}
/copy .*RAM to RAM/ {
    x = $0; sub(/.*RAM to RAM /, "", x); sub(/ MB.*/, "", x); add("copy RAM to RAM (MB/s)", x)
    x = $0; sub(/.*RAM to region /, "", x); sub(/ MB.*/, "", x); add("copy RAM to region (MB/s)", x)
    x = $0; sub(/.*region to RAM /, "", x); sub(/ MB.*/, "", x); add("copy region to RAM (MB/s)", x)
    x = $0; sub(/.*RAM to region [0-9]+ MB\/s \(/, "", x); sub(/%.*/, "", x); add("RAM to region, % of RAM to RAM", x)
    x = $0; sub(/.*region to RAM [0-9]+ MB\/s \(/, "", x); sub(/%.*/, "", x); add("region to RAM, % of RAM to RAM", x)
}
END {
    if (!nk) { print v ": no figures (see the runner output above)"; exit 1 }
    print v ": interrupt: " (modes ? modes : "not reported")
    print v ": median over " cnt[order[1]] " runs (ratios: of the medians):"
    mmio = med("exit: MMIO read (factory page) (median ns)"); pio = med("exit: port read (testdev) (median ns)")
    for (k = 1; k <= nk; k++) {
        x = med(order[k]); extra = ""
        if (order[k] ~ /^(round trip, (interrupt|polling)|one leg)/ && mmio && pio)
            extra = sprintf("   = %.1f x two MMIO exits, %.1f x two port exits", x / (2 * mmio), x / (2 * pio))
        printf "  %-58s %s%s\n", order[k], (x == int(x) ? sprintf("%.0f", x) : sprintf("%.2f", x)), extra
    }
}' "$log"
}

if [ -n "${build:-}" ]; then
    for v in $variants; do figures "$v" || status=1; done
else # --parse: the variants the log has
    found=0
    for v in $all; do
        grep -q "^TINY-BEGIN $v\$" "$log" || continue
        found=1
        figures "$v" || status=1
    done
    [ "$found" = 1 ] || { echo "shmem-bench: no shmem_bench run in $log"; status=1; }
fi
exit "$status"
