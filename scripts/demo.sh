#!/bin/bash
# The main demo: two stock Debian guests, `alpha` and `beta`, each in its own vdevkit VM
# process, talking over virtio-net NICs joined by a peer link: they ping each other and run
# iperf3 both ways while `vdevkit stat` reads the NIC counters from outside; then beta stops
# and alpha's NIC goes link-down. Then the same two guests share a 64 MiB `vdev shmem` region
# (PCI): alpha writes a pattern and a message and notifies, beta is woken by the interrupt,
# checks the pattern and answers with its own message and a notification. Beta's VM is then
# killed and alpha sees it detach.
#
# Installs what it needs (Debian packages, the Debian guest kernel, busybox, iperf3, QEMU),
# builds, shows the machine one VM's configuration describes (dryrun), then runs the pair:
# directly where the host has hardware-assisted KVM, else inside a QEMU (TCG) machine that
# provides nested KVM (a few minutes for each part).
#
# The terminal gets one line per step, a progress line while the guests run and a table of
# what they measured; everything else (apt, downloads, the build, the consoles, the dryrun
# listing) goes to the log, build/demo.log unless --log says otherwise. The table's figures
# are read from the guests' own output in that log.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=SCRIPTDIR/lib/demo-report.sh
. "$top/scripts/lib/demo-report.sh"

usage() {
    cat <<EOF
usage: scripts/demo.sh [--verbose] [--log FILE]
Installs what it needs, builds, then boots two Debian guests, alpha and beta, that ping and
run iperf3 over a virtio-net peer link, then exchange a message and a notification through
a shared-memory region (vdev shmem); ends with a table of what they measured.
  -v, --verbose   show every step's full output (apt, the build, the consoles) as it runs
  --log FILE      where the full output goes (default: build/demo.log); on a failure the
                  demo prints the lines that matter and this path
  -h, --help      this text
Environment: DEMO_SECS, the iperf3 seconds per direction (default 5).
Exit status: 0 when every step passed, else the failed step's status.
EOF
}

verbose=0
log=$top/build/demo.log
while [ $# -gt 0 ]; do
    case $1 in
        -h | --help) usage; exit 0 ;;
        -v | --verbose) verbose=1 ;;
        --log) [ $# -ge 2 ] || { echo "demo.sh: --log needs a file" >&2; exit 2; }; log=$2; shift ;;
        --log=*) log=${1#--log=} ;;
        *) echo "demo.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
mkdir -p "$(dirname "$log")"
log=$(cd "$(dirname "$log")" && pwd)/$(basename "$log")
: > "$log"
cd "$top"

tty=0
[ -t 1 ] && tty=1
total=6
n=0
title=
bgpid=
t_demo=$(date +%s)

# "[n/6] title ......." padded so the results line up.
head_text() { printf '[%d/%d] %s %s' "$n" "$total" "$title" "$(printf '%*s' $((50 - ${#title})) '' | tr ' ' '.')"; }
# The progress line, rewritten in place; never wider than the terminal (it would wrap).
show() {
    local cols=${COLUMNS:-}
    [ -n "$cols" ] || cols=$(tput cols 2>/dev/null || echo 100)
    printf '\r\033[K%s' "$(printf '%s' "$1" | cut -c1-$((cols - 1)))"
}

# step TITLE: starts step n+1: its header in the log, its line on the terminal.
step() {
    n=$((n + 1))
    title=$1
    t_step=$(date +%s)
    printf '\n==== [%d/%d] %s\n==== %s\n' "$n" "$total" "$title" "$(date '+%F %T')" >> "$log"
    if [ "$verbose" = 1 ]; then
        echo "[$n/$total] $title"
    elif [ "$tty" = 1 ]; then
        show "$(head_text) "
    fi
}

# done_line RESULT: the step's final line.
done_line() {
    local secs=$(($(date +%s) - t_step))
    printf '==== [%d/%d] %s after %s\n' "$n" "$total" "$1" "$secs s" >> "$log"
    if [ "$tty" = 1 ] && [ "$verbose" = 0 ]; then show "$(head_text) $1 ($(demo_duration "$secs"))"; echo
    else echo "$(head_text) $1 ($(demo_duration "$secs"))"; fi
}

# fail STATUS: what failed, the lines that say why, where the rest is; exits with STATUS.
fail() {
    local st=$1 why="FAILED, exit $1" ex
    [ "$st" = 125 ] && why="FAILED: the outer machine failed, not vdevkit"
    [ "$st" = 124 ] && why="FAILED: timed out"
    done_line "$why"
    if [ "$verbose" = 0 ]; then
        ex=$(demo_excerpt "$(demo_section "$log" "$n")" 12 || true)
        printf '%s\n' "${ex:-(it printed nothing)}" | sed 's/^/      | /'
    fi
    echo "The demo stopped at step $n ($title). Full log: $log"
    exit "$st"
}

# run CMD...: a step's command, its output to the log (and the terminal with --verbose).
# Returns its status.
run() {
    local st=0
    if [ "$verbose" = 1 ]; then
        "$@" 2>&1 | tee -a "$log" || st=${PIPESTATUS[0]}
    else
        "$@" >> "$log" 2>&1 || st=$?
    fi
    return "$st"
}

# run_watched KIND CMD...: as run, for the long steps: in its own session (so an interrupt
# stops all it started) in the background, with a progress line from its output so far
# (demo_phase KIND): rewritten in place on a terminal, a plain line per change elsewhere.
# With --verbose, as run.
run_watched() {
    local kind=$1 st=0 phase last='' now
    shift
    [ "$verbose" = 0 ] || { run "$@"; return; } # (all of it on the terminal: no progress line)
    setsid "$@" >> "$log" 2>&1 < /dev/null &
    bgpid=$!
    # (elsewhere than a terminal the phases get a line each, under the step's name)
    [ "$tty" = 1 ] || [ "$kind" != guests ] || echo "[$n/$total] $title"
    while kill -0 "$bgpid" 2>/dev/null; do
        now=$(($(date +%s) - t_step))
        phase=$(demo_phase "$kind" "$(demo_section "$log" "$n")" || true)
        if [ "$tty" = 1 ]; then
            show "$(head_text) ${phase:+$phase }($(demo_duration "$now"))"
        elif [ -n "$phase" ] && [ "$phase" != "$last" ] && [ "$kind" = guests ]; then
            printf '      %-6s %s\n' "$(demo_duration "$now")" "$phase"
        fi
        last=$phase
        sleep 1
    done
    wait "$bgpid" || st=$?
    bgpid=
    return "$st"
}

interrupted() {
    trap - INT TERM
    if [ -n "$bgpid" ]; then
        kill -TERM -- -"$bgpid" 2>/dev/null || true
        wait "$bgpid" 2>/dev/null || true
    fi
    [ "$tty" = 0 ] || echo
    echo "Interrupted at step $n ($title). Full log: $log"
    exit 130
}
trap interrupted INT TERM

[ "$verbose" = 1 ] || echo "vdevkit demo: two Debian guests on a virtio-net peer link and a shared-memory region"
[ "$verbose" = 1 ] || echo "(full output: $log)"

step "installing packages (apt)"
run "$top/scripts/install-deps.sh" || fail $?
done_line ok

step "fetching the guest kernel, busybox, iperf3, QEMU"
run "$top/guest-tests/images/fetch.sh" || fail $?
done_line ok

step "building vdevkit (build/)"
run_watched build "$top/scripts/build.sh" "$top/build" || fail $?
done_line ok

step "alpha's machine (examples/alpha.conf, dryrun)"
# dryrun checks that the image exists: alpha.conf names the host's /vmlinuz and /initrd.img,
# which a host may not have, so the machine is shown with the kernel fetched in step 2.
kernel=$("$top/guest-tests/images/fetch.sh" 2>/dev/null | sed -n 's/^VDEVKIT_VMLINUZ=//p')
sed -e "s|^load .*|load $kernel|" -e '/^initrd load/d' "$top/examples/alpha.conf" \
    >"$top/build/demo-alpha.conf"
run "$top/build/vmm/vdevkit" run @"$top/build/demo-alpha.conf" dryrun || fail $?
brief=$(demo_dryrun_brief "$(demo_section "$log" "$n")" || true)
done_line ok
[ -z "$brief" ] || echo "      $brief"

step "alpha and beta: ping, iperf3 over virtio-net"
run_watched guests env NET_ONLY=pair NET_IPERF_SECS="${DEMO_SECS:-5}" \
    "$top/guest-tests/linux/run-net-tests.sh" "$top/build" || fail $?
net_sec=$(demo_section "$log" "$n")
done_line ok

step "alpha and beta: message, notification over shmem"
shm_st=0
run_watched guests env SHM_ONLY=pci "$top/guest-tests/linux/run-shmem-tests.sh" "$top/build" || shm_st=$?
shm_sec=$(demo_section "$log" "$n")
skipped=
if [ "$shm_st" = 77 ]; then # this build has no shmem module: said so, nothing to show
    skipped=yes
    done_line "skipped (no shmem module)"
elif [ "$shm_st" != 0 ]; then
    fail "$shm_st"
else
    done_line ok
fi

echo
demo_summary "$net_sec" "$shm_sec" "$skipped"
echo
echo "Done in $(demo_duration $(($(date +%s) - t_demo))). Full log: $log"
