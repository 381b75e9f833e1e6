#!/bin/bash
# scripts/lib/demo-report.sh against saved demo logs (tests/data/demo/): the summary table's
# figures come from the guests' output, a failed step's excerpt names the failure, the
# progress phases follow the outer machine's markers, and demo.sh's options parse.
#   test-demo-report.sh [SOURCE_DIR]
set -euo pipefail
top=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/lib/demo-report.sh
. "$top/scripts/lib/demo-report.sh"
data=$top/tests/data/demo
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fails=$((fails + 1)); }
# check NAME WANT GOT
check() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: want '$2', got '$3'"; fi; }
# has NAME PATTERN TEXT: TEXT has a line matching PATTERN (grep -E); lacks: has none
has() { if grep -qE -- "$2" <<<"$3"; then ok "$1"; else bad "$1: no line matching '$2' in: $3"; fi; }
lacks() { if grep -qE -- "$2" <<<"$3"; then bad "$1: a line matches '$2' in: $3"; else ok "$1"; fi; }

pass=$data/pass.log
net=$(demo_section "$pass" 5)
shm=$(demo_section "$pass" 6)

# sections: each starts at its own header and stops before the next step's
check "section 5 starts at its header" "==== [5/6] alpha and beta: ping, iperf3 over virtio-net" "$(head -n 1 <<<"$net")"
check "section 5 ends with its result" "==== [5/6] ok after 97 s" "$(tail -n 1 <<<"$net")"
check "section 6 ends with its result" "==== [6/6] ok after 70 s" "$(tail -n 1 <<<"$shm")"

# the figures, as the guests printed them
figs=$(demo_net_figures "$net")
for kv in ping_ab=6.030 ping_ba=7.502 iperf_ab=28.7 iperf_ba=37.7 iperf_secs=5 linkdown=yes \
    mode=nested outer_boot=6.83 irq=PCI-MSI mtu=1500; do
    if grep -qxF "$kv" <<<"$figs"; then ok "net figure $kv"; else bad "net figure $kv not in: $(tr '\n' ' ' <<<"$figs")"; fi
done
figs=$(demo_shmem_figures "$shm")
for kv in 'msg_ab="hello beta, alpha wrote 16384 pages"' 'msg_ba="hello alpha, beta checked the pattern"' \
    woke_beta=interrupt woke_alpha=interrupt rtt_us=7616 rounds=200 'region=64 MiB' write_mibs=933 \
    check_mibs=128 detach_by=interrupt; do
    if grep -qxF "$kv" <<<"$figs"; then ok "shmem figure $kv"; else bad "shmem figure $kv not in: $(tr '\n' ' ' <<<"$figs")"; fi
done

# the table: as saved, and no line wider than 100 columns
got=$(demo_summary "$net" "$shm")
if diff -u "$data/pass.summary" <(printf '%s\n' "$got"); then ok "summary table"; else bad "summary table differs (above)"; fi
wide=$(awk 'length($0) > 100' <<<"$got")
check "summary within 100 columns" "" "$wide"
# a figure that is not in the log shows as "?", never as a made-up number
got=$(demo_summary "$(grep -v '^net: pair: PASS' <<<"$net")" "$shm")
has "a missing ping shows ?" 'ping round trip \(avg\) +\? ms +\? ms' "$got"
got=$(demo_summary "$net" "$shm" yes)
has "shmem skipped" 'skipped: this build has no shmem module' "$got"

# a real run's log (a nested run on a loaded host, 2026-12-07), where a guest kernel message
# cut into alpha's write-pattern line ("MiB/s=1563[   98.58] clocksource: ...") and so into
# the summary line run-shmem-pair.sh made of it: the rate is still alpha's, never beta's
real=$data/run-2026-12-07.log
figs="$(demo_net_figures "$(demo_section "$real" 5)"; demo_shmem_figures "$(demo_section "$real" 6)")"
for kv in ping_ab=49.227 ping_ba=18.942 iperf_ab=1.17 iperf_ba=3.52 outer_boot=10.22 \
    write_mibs=1563 check_mibs=84 rtt_us=39361 woke_beta=interrupt woke_alpha=interrupt; do
    if grep -qxF "$kv" <<<"$figs"; then ok "real run: $kv"; else bad "real run: $kv not in: $(tr '\n' ' ' <<<"$figs")"; fi
done
got=$(demo_summary "$(demo_section "$real" 5)" "$(demo_section "$real" 6)")
has "real run: the region's rates" 'alpha wrote it at 1563 MiB/s, beta checked it at 84 MiB/s' "$got"
lacks "real run: no ? in the table" '\?' "$got"
check "real run: summary within 100 columns" "" "$(awk 'length($0) > 100' <<<"$got")"

check "dryrun brief" "256 MiB RAM, 1 vCPU; ser8250, virtio-net 'curly'" "$(demo_dryrun_brief "$(demo_section "$pass" 4)")"

# progress phases, as the output grows
phases=
for marker in 'fetch: kernel' '^outer.sh: initramfs' '^VDEVKIT-OUTER-READY' '^net: runtime dir' '^net: pair: PASS'; do
    upto=$(grep -n -m1 -- "$marker" <<<"$net" | cut -d: -f1)
    phases="$phases$(demo_phase guests "$(head -n "$upto" <<<"$net")");"
done
check "guest phases" "preparing files;booting outer machine;outer machine up;alpha and beta running;powering off;" "$phases"
check "build phase" "100%" "$(demo_phase build "$(demo_section "$pass" 3)")"

# a failed step: no figures, and the excerpt starts with the failure
failed=$(demo_section "$data/fail-net.log" 5)
if demo_net_figures "$failed" > /dev/null; then bad "net figures from a failed run"; else ok "no net figures from a failed run"; fi
ex=$(demo_excerpt "$failed" 12)
check "excerpt starts with the failure" "net: pair: FAIL: beta-no-result(VDEVKIT-RESULT net fail no-carrier) alpha-status=124 (301s)" "$(head -n 1 <<<"$ex")"
has "excerpt has the guest's result" 'VDEVKIT-RESULT net fail no-carrier' "$ex"
check "excerpt at most 12 lines" 1 "$([ "$(wc -l <<<"$ex")" -le 12 ] && echo 1)"
lacks "excerpt drops kernel noise" 'kvm \[129\]' "$ex"

check "duration < 1 min" "42 s" "$(demo_duration 42)"
check "duration >= 1 min" "3 min 05 s" "$(demo_duration 185)"

# demo.sh's options (parsed before it does anything)
has "demo.sh --help" '--verbose' "$("$top/scripts/demo.sh" --help)"
st=0
"$top/scripts/demo.sh" --bogus > /dev/null 2>&1 || st=$?
check "demo.sh rejects an unknown option" 2 "$st"

[ "$fails" -eq 0 ] || { echo "$fails failed"; exit 1; }
echo "all passed"
