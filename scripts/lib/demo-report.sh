# shellcheck shell=bash
# What scripts/demo.sh prints: one status line per step, a progress line while the guests run,
# the closing summary, and what a failure shows. Functions only; source it. The figures come
# from the output the guest scenarios already print (run-pair.sh, run-shmem-pair.sh), which
# the demo keeps in its log; tests/scripts/test-demo-report.sh checks them against saved logs.
#
#   demo_section LOG N              the log's part for step N (between its "==== [N/" header
#                                   and the next step's)
#   demo_net_figures SECTION        key=value lines from the net step's output (pair scenario)
#   demo_shmem_figures SECTION      key=value lines from the shmem step's output (pci scenario)
#   demo_dryrun_brief SECTION       one line: the machine `vdevkit run ... dryrun` printed
#   demo_summary NET_SECTION SHMEM_SECTION [SHMEM_SKIPPED]   the closing table
#   demo_phase KIND SECTION         the progress line's text for a running step (build, guests)
#   demo_excerpt SECTION [N]        at most N (12) lines that say why a step failed
#   demo_duration SECONDS           "42 s", "3 min 05 s"

demo_duration() {
    local s=$1
    if [ "$s" -lt 60 ]; then printf '%d s\n' "$s"; else printf '%d min %02d s\n' $((s / 60)) $((s % 60)); fi
}

# The log's part for step N: from its "==== [N/" header up to the next step's header.
demo_section() {
    tr -d '\r' < "$1" | awk -v n="$2" '
        /^==== \[[0-9]+\/[0-9]+\] / { split($2, a, /[][\/]/); on = (a[2] == n) }
        on'
}

# metric NAME IN "name value unit;name value unit;...": the value
_demo_metric() {
    printf '%s\n' "$2" | tr ';' '\n' |
        awk -v k="$1" '$1 == k { if (match($2, /^[0-9]+(\.[0-9]+)?/)) print substr($2, 1, RLENGTH); exit }'
}

# The net step (run-net-tests.sh with NET_ONLY=pair). Its line
#   net: pair: PASS (63s, irq PCI-MSI,, mtu 1500, alpha saw link down, ...) beta: ping-rtt-avg
#   7.502 ms;iperf3-tx 37.7 Mbit/s;iperf3-rx 28.7 Mbit/s; alpha: ping-rtt-avg 6.030 ms;
# Beta is the iperf3 client: its tx is beta -> alpha, its rx (iperf3 -R) alpha -> beta; each
# guest's ping RTT is its own ping of the other. A retried outer machine (outer.sh
# --retry-env) may have printed a line already: the last one counts. Fails without a PASS.
demo_net_figures() {
    local sec=$1 line beta alpha
    line=$(printf '%s\n' "$sec" | grep -a '^net: pair: PASS' | tail -n 1 || true)
    [ -n "$line" ] || return 1
    beta=$(printf '%s\n' "$line" | sed -n 's/.* beta: \(.*\) alpha: .*/\1/p')
    alpha=$(printf '%s\n' "$line" | sed -n 's/.* alpha: //p')
    echo "net_secs=$(printf '%s\n' "$line" | sed -n 's/^net: pair: PASS (\([0-9]*\)s.*/\1/p')"
    echo "irq=$(printf '%s\n' "$line" | sed -n 's/.*, irq \([^ ,]*\).*/\1/p')"
    echo "mtu=$(printf '%s\n' "$line" | sed -n 's/.*, mtu \([0-9]*\),.*/\1/p')"
    echo "ping_ab=$(_demo_metric ping-rtt-avg "$alpha")"
    echo "ping_ba=$(_demo_metric ping-rtt-avg "$beta")"
    echo "iperf_ab=$(_demo_metric iperf3-rx "$beta")"
    echo "iperf_ba=$(_demo_metric iperf3-tx "$beta")"
    echo "iperf_secs=$(printf '%s\n' "$sec" | sed -n 's/^net: runtime dir .*, iperf3 \([0-9]*\)s per direction.*/\1/p' | tail -n 1)"
    case $line in *"alpha saw link down"*) echo "linkdown=yes" ;; esac
    _demo_outer_figures "$sec"
}

# How the guests ran: outer.sh's lines (nested: the outer machine's boot time).
_demo_outer_figures() {
    local sec=$1 boot
    if grep -aq '^outer.sh: direct mode' <<<"$sec"; then
        echo "mode=direct"
    else
        boot=$(printf '%s\n' "$sec" | sed -n 's/^outer.sh: COMMAND exited with status [0-9]* (outer boot \([0-9.]*\)s,.*/\1/p' | tail -n 1)
        echo "mode=nested"
        echo "outer_boot=$boot"
    fi
}

# The shmem step (run-shmem-tests.sh with SHM_ONLY=pci): run-shmem-pair.sh's PASS block and
# each guest's gshm steps. Fails without a PASS.
demo_shmem_figures() {
    local sec=$1 block
    # the last attempt's block: from its "shmem: pci: PASS" to the "N passed" line
    block=$(printf '%s\n' "$sec" | awk '/^shmem: pci: PASS/ { b = ""; on = 1 } on { b = b $0 "\n" }
        /^[0-9]+ passed, [0-9]+ failed/ { on = 0 } END { printf "%s", b }')
    [ -n "$block" ] || return 1
    printf '%s\n' "$block" | awk '
        function val(s, k,   i, n, w) {
            n = split(s, w, " ")
            for (i = 1; i <= n; i++) if (index(w[i], k "=") == 1) return substr(w[i], length(k) + 2)
            return ""
        }
        # a number at the start of s ("1563[" when a guest kernel message cut into the line)
        function num(s) { return match(s, /^[0-9]+(\.[0-9]+)?/) ? substr(s, 1, RLENGTH) : "" }
        /^shmem: pci: PASS/ { s = $0; sub(/^shmem: pci: PASS \(/, "", s); sub(/s\).*/, "", s); print "shm_secs=" s }
        /^    beta read: / { s = $0; sub(/^    beta read: */, "", s); print "msg_ab=" s }
        /^    alpha read: / { s = $0; sub(/^    alpha read: */, "", s); print "msg_ba=" s }
        /^    alpha writes / { s = $0; sub(/^    alpha writes /, "", s); sub(/:.*/, "", s); print "region=" s }
        /^    notification: / {
            s = $0; sub(/.* round trip /, "", s); split(s, w, " "); print "rtt_us=" w[1]
            s = $0; sub(/.*\(mean of /, "", s); sub(/\).*/, "", s); print "rounds=" s
        }
        /^    detach: / { s = $0; sub(/.*, by /, "", s); sub(/\).*/, "", s); print "detach_by=" s }
        /^    alpha.s steps/ { who = "alpha" }
        /^    beta.s steps/ { who = "beta" }
        # the first wake-up each side had: beta by alpha`s notification, alpha by beta`s answer
        /^        wait ok / && who != "" && !(who in woke) { woke[who] = val($0, "by"); print "woke_" who "=" woke[who] }
        # the rates of the second pass over the region (the first one pays the page faults);
        # from the guests` own step lines, not from the summary line: a guest kernel message
        # may have cut into one, and a figure must never land in the other`s place
        /^        write-pattern ok / && who == "alpha" { wr = num(val($0, "MiB/s")) }
        /^        checksum ok / && who == "beta" { ck = num(val($0, "MiB/s")) }
        END { if (wr != "") print "write_mibs=" wr; if (ck != "") print "check_mibs=" ck }
    '
}

# The machine `vdevkit run @examples/alpha.conf dryrun` described, in one line.
demo_dryrun_brief() {
    printf '%s\n' "$1" | awk '
        /^cpus: / { cpus = $2 }
        /^  0x[0-9a-f]+-0x[0-9a-f]+ +ram / { ram = $3 " " $4 }
        /^devices: / { on = 1; next }
        on && /^  [^ ]/ { d = $0; sub(/^  /, "", d); sub(/  +\(.*/, "", d); devs = devs (devs == "" ? "" : ", ") d }
        on && /^[^ ]/ { on = 0 }
        END {
            if (cpus == "" || devs == "") exit 1
            printf "%s RAM, %s vCPU%s; %s\n", ram, cpus, cpus == 1 ? "" : "s", devs
        }'
}

# demo_summary NET_SECTION SHMEM_SECTION [skipped]: the closing table. Values come from the
# sections; one that is missing shows as "?".
demo_summary() {
    local -A f=()
    local k v line shm_skipped=${3:-}
    while IFS='=' read -r k v; do
        [ -n "$k" ] && f[$k]=$v
    done < <(demo_net_figures "$1" || true; [ -n "$shm_skipped" ] || demo_shmem_figures "$2" || true)
    _g() { local x=${f[$1]:-}; printf '%s' "${x:-?}"; }
    local w=26 c=24
    row() { printf "  %-${w}s %-${c}s %s\n" "$1" "$2" "$3"; }
    span() { printf "  %-${w}s %s\n" "$1" "$2"; }
    local how="directly on this host's KVM"
    if [ "$(_g mode)" = nested ]; then
        how="nested in an outer QEMU TCG machine"
        [ -z "${f[outer_boot]:-}" ] || how="$how (it booted in ${f[outer_boot]} s)"
    fi
    echo "  Results: guests run $how"
    row "" "alpha -> beta" "beta -> alpha"
    row "ping round trip (avg)" "$(_g ping_ab) ms" "$(_g ping_ba) ms"
    row "iperf3 ($(_g iperf_secs) s each way)" "$(_g iperf_ab) Mbit/s" "$(_g iperf_ba) Mbit/s"
    if [ -n "$shm_skipped" ]; then
        span "shared memory" "skipped: this build has no shmem module"
        return 0
    fi
    row "shmem notification seen" "by beta ($(_g woke_beta))" "by alpha ($(_g woke_alpha))"
    span "shmem message read" "by beta: $(_g msg_ab)"
    span "" "by alpha: $(_g msg_ba)"
    span "shmem round trip" "$(_g rtt_us) us (notification and answer, mean of $(_g rounds))"
    span "shmem region ($(_g region))" "alpha wrote it at $(_g write_mibs) MiB/s, beta checked it at $(_g check_mibs) MiB/s"
    line="beta detach (shmem, by $(_g detach_by))"
    [ "${f[linkdown]:-}" != yes ] || line="its link go down (virtio-net), $line"
    span "when beta went, alpha saw" "$line"
}

# demo_phase build|guests SECTION: what a running step is doing, for its progress line.
demo_phase() {
    local kind=$1 sec=$2 p
    case $kind in
        build)
            p=$(printf '%s\n' "$sec" | grep -aoE '^\[ *[0-9]+%\]' | tail -n 1 | tr -d '[] ')
            [ -z "$p" ] || echo "$p"
            ;;
        guests)
            if grep -aqE '^(net|shmem): [a-z-]+: (PASS|FAIL)' <<<"$sec"; then
                echo "powering off"
            elif grep -aqE '^(net|shmem): runtime dir' <<<"$sec"; then
                echo "alpha and beta running"
            elif grep -aq '^VDEVKIT-OUTER-READY' <<<"$sec"; then
                echo "outer machine up"
            elif grep -aq '^outer.sh: initramfs' <<<"$sec"; then
                echo "booting outer machine"
            elif grep -aq '^outer.sh: direct mode' <<<"$sec"; then
                echo "starting alpha and beta"
            else
                echo "preparing files"
            fi
            ;;
    esac
}

# demo_excerpt SECTION [N]: the lines that say why a step failed: the ones that name a failure
# first, then the end of the output; the guests' kernel noise is left out.
demo_excerpt() {
    local n=${2:-12} body marked
    body=$(printf '%s\n' "$1" | grep -avE '^====|^[[:space:]]*$|^\[ *[0-9]+\.[0-9]+\] ' || true)
    marked=$(printf '%s\n' "$body" |
        grep -aE 'FAIL|ENVIRONMENT FAILURE|SKIP|[Ee]rror|E: |timed out|No such|not found|cannot' |
        grep -avE '=> not found|^[0-9]+ passed, 0 failed' | head -n 4 || true)
    {
        [ -z "$marked" ] || printf '%s\n' "$marked"
        printf '%s\n' "$body" | tail -n $((n - $(printf '%s' "$marked" | grep -c '^' || true)))
    } | awk '!seen[$0]++' | cut -c1-96 | head -n "$n"
}
