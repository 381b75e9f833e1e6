#!/usr/bin/env bash
# Run a command where /dev/kvm is hardware-assisted.
#
#   outer.sh [--arch amd64|arm64] [--sriov] [--timeout SECS] [--smp N] [--mem MB]
#            [--payload DIR] [--retry-env] [--quiet] -- COMMAND [ARG...]
#
# --sriov (x86): the passthrough machine of /work/shared/reference/passthrough-harness.md:
#   QEMU 10 (guest-tests/images/fetch-qemu10.sh; QEMU 7.2 has no SR-IOV NIC) with -M
#   q35,kernel-irqchip=split, an intel-iommu (intremap, caching-mode) and an igb NIC (SR-IOV
#   PF, QEMU's user network behind it, iPXE's e1000e ROM as its expansion ROM so a passed PF
#   has one to read) on a root port; the kernel gets intel_iommu=on,
#   kvm-amd npt=1 (inner guests hang under QEMU 10 with npt=0), and igb, vfio-pci and
#   vfio_iommu_type1 are loaded. The outer RAM is capped at 2048 MB (QEMU 10.0.2 misplaces
#   VF BARs above 4 GiB). Direct mode is never used with --sriov. VDEVKIT_OUTER_AHCI_DISK=FILE
#   adds an ich9-ahci controller (MSI only) on a second root port with FILE as its disk.
#
# --arch arm64 (or VDEVKIT_ARCH=arm64): the outer machine is Debian's arm64 kernel in
#   `qemu-system-aarch64 -M virt,virtualization=on,gic-version=3 -cpu max,pauth=off`, with
#   KVM (VHE) built in (../shared/reference/arm64-harness.md); the payload's arm64 ELF files
#   get their libraries from fetch.sh's arm64 userland. Direct mode needs an arm64 host.
#
# nested mode (default on hosts without a usable /dev/kvm, e.g. our kvm-pvm CI
#   machines): boots the stock Debian kernel in `qemu-system-x86_64 -M q35 -accel
#   tcg -cpu max` (TCG emulates AMD SVM), loads kvm-amd (npt=0, see
#   /work/shared/reference/nested-harness.md) and runs COMMAND there, as root,
#   under busybox sh, with cwd = the payload.
# direct mode (host /dev/kvm is usable and the CPU shows vmx or svm): runs COMMAND
#   here, with cwd = the payload.
# VDEVKIT_HARNESS=direct|nested|auto (default auto) forces the choice.
#
# The payload: DIR is copied (symlinks dereferenced) into the outer machine at
# /payload, and also made reachable at DIR's real host path (a symlink), so
# absolute RUNPATHs and paths baked in at build time keep working. Every ELF file
# in it gets the shared libraries it needs (per ldd, incl. the dynamic loader)
# copied in at their host paths. Modules loaded with dlopen must be in DIR.
# In both modes COMMAND sees:
#   VDEVKIT_PAYLOAD        the payload directory (/payload or DIR; unset if none)
#   VDEVKIT_HARNESS_MODE   direct | nested
#
# Exit status: COMMAND's own status (124 if it ran out of time), or 125 for an
# ENVIRONMENT FAILURE (outer kernel oops/panic, hang, no /dev/kvm inside, QEMU
# could not start). --retry-env (or VDEVKIT_HARNESS_RETRY_ENV=1) retries such a
# failure once.
#
# Other knobs (environment): VDEVKIT_OUTER_MODULES (extra kernel modules to load,
# e.g. "tun vhost_net"), VDEVKIT_KVM_AMD_PARAMS (default "npt=0"),
# VDEVKIT_OUTER_APPEND (extra kernel command line), VDEVKIT_OUTER_ACCEL (QEMU -accel,
# default tcg; tcg,thread=single is steadier on a loaded host), VDEVKIT_OUTER_CPU (QEMU -cpu,
# default max; "qemu64,-svm" lacks SVM, to exercise the failure path),
# VDEVKIT_OUTER_LOG (keep the outer console log at this path), VDEVKIT_OUTER_WEDGED (a
# soft lockup this many seconds long ends the attempt as a wedge; default 60),
# VDEVKIT_OUTER_KERNEL=vmlinux|vmlinuz (default vmlinux: PVH boot of the
# uncompressed kernel, ~3 s faster), VDEVKIT_CACHE (download cache), VDEVKIT_EXTRA_ROOTS
# (arm64: more unpacked userlands, ':'-separated, where the payload's programs find libraries).
# The payload lives in the outer machine's RAM (initramfs): size --mem to match.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
images=$(cd "$here/../images" && pwd)
# shellcheck source=SCRIPTDIR/../images/lib.sh
. "$images/lib.sh"

ENV_FAIL=125
timeout_s=600
silence=${VDEVKIT_OUTER_SILENCE:-240} # seconds without console output = a hung outer machine
wedged_after=${VDEVKIT_OUTER_WEDGED:-60} # seconds a soft lockup lasts = a wedged outer machine
smp=2
mem=3072
payload=
sriov=0
retry_env=${VDEVKIT_HARNESS_RETRY_ENV:-0}
quiet=0

usage() { sed -n '2,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

while [ $# -gt 0 ]; do
    case $1 in
        --arch) export VDEVKIT_ARCH=$2; shift 2 ;;
        --sriov) sriov=1; shift ;;
        --timeout) timeout_s=$2; shift 2 ;;
        --smp) smp=$2; shift 2 ;;
        --mem) mem=$2; shift 2 ;;
        --payload) payload=$2; shift 2 ;;
        --retry-env) retry_env=1; shift ;;
        --quiet) quiet=1; shift ;;
        --) shift; break ;;
        -h|--help) usage ;;
        *) vdk_log "outer.sh: unknown option $1"; usage ;;
    esac
done
[ $# -gt 0 ] || usage
arch=${VDEVKIT_ARCH:-amd64}
case $arch in amd64|arm64) ;; *) vdk_die "--arch wants amd64 or arm64 (got $arch)" ;; esac
if [ "$sriov" = 1 ]; then
    [ "$arch" = amd64 ] || vdk_die "--sriov is an x86 outer machine"
    [ "$mem" -le 2048 ] || mem=2048
    export VDEVKIT_HARNESS=nested VDEVKIT_KVM_AMD_PARAMS=${VDEVKIT_KVM_AMD_PARAMS:-npt=1}
    VDEVKIT_OUTER_MODULES="${VDEVKIT_OUTER_MODULES:-} igb vfio-pci vfio_iommu_type1"
    VDEVKIT_OUTER_APPEND="${VDEVKIT_OUTER_APPEND:-} intel_iommu=on"
    eval "$("$images/fetch-qemu10.sh")"
fi
case $timeout_s in ''|*[!0-9]*) vdk_die "--timeout wants whole seconds" ;; esac

if [ -n "$payload" ]; then
    [ -d "$payload" ] || vdk_die "payload $payload is not a directory"
    payload=$(realpath "$payload")
fi

host_kvm_usable() {
    [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
    case $arch in
        amd64) [ "$(uname -m)" = x86_64 ] && grep -qwE 'vmx|svm' /proc/cpuinfo ;;
        arm64) [ "$(uname -m)" = aarch64 ] ;;
    esac
}

mode=${VDEVKIT_HARNESS:-auto}
if [ "$mode" = auto ]; then
    if host_kvm_usable; then mode=direct; else mode=nested; fi
fi

# ---------------------------------------------------------------- direct mode
if [ "$mode" = direct ]; then
    host_kvm_usable || vdk_log "outer.sh: warning: VDEVKIT_HARNESS=direct but host /dev/kvm does not look usable"
    vdk_log "outer.sh: direct mode (host /dev/kvm)"
    export VDEVKIT_HARNESS_MODE=direct
    if [ -n "$payload" ]; then export VDEVKIT_PAYLOAD=$payload; cd "$payload"; fi
    set +e
    timeout -k 10 "$timeout_s" "$@"
    rc=$?
    set -e
    [ $rc -eq 124 ] && vdk_log "outer.sh: COMMAND timed out after ${timeout_s}s"
    exit $rc
fi
[ "$mode" = nested ] || vdk_die "VDEVKIT_HARNESS must be direct, nested or auto (got $mode)"

# ---------------------------------------------------------------- nested mode
eval "$("$images/fetch.sh")"
: "${VDEVKIT_VMLINUZ:?}" "${VDEVKIT_MODDIR:?}" "${VDEVKIT_BUSYBOX:?}"

work=$(mktemp -d "${TMPDIR:-/tmp}/vdevkit-outer.XXXXXX")
keep_log=${VDEVKIT_OUTER_LOG:-}
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

# Leave the outer machine time to print its status after COMMAND is stopped:
# COMMAND gets the budget minus a boot/shutdown margin.
if [ "$timeout_s" -gt 90 ]; then cmd_timeout=$((timeout_s - 45)); else cmd_timeout=$((timeout_s * 2 / 3)); fi
nonce=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')

stage=$work/root
vdk_stage_rootfs_layout "$stage"
vdk_busybox_install "$VDEVKIT_BUSYBOX" "$stage"
kvm_module=kvm-amd
[ "$arch" = arm64 ] && kvm_module= # built into Debian's arm64 kernel
# shellcheck disable=SC2086  # word-splitting the module list is intended
vdk_stage_modules "$VDEVKIT_MODDIR" "$stage" $kvm_module ${VDEVKIT_OUTER_MODULES:-}

if [ -n "$payload" ]; then
    cp -rL "$payload/." "$stage/payload/"
    mapfile -d '' elves < <(find "$stage/payload" -type f -print0)
    if [ ${#elves[@]} -gt 0 ]; then
        if [ "$arch" = arm64 ]; then
            vdk_stage_elf_deps_cross "$stage" \
                "$VDEVKIT_USERLAND_ROOT${VDEVKIT_EXTRA_ROOTS:+:$VDEVKIT_EXTRA_ROOTS}" "${elves[@]}"
        else
            vdk_stage_elf_deps "$stage" "${elves[@]}"
        fi
    fi
fi

# Single-quote a word for busybox sh (bash's %q may emit $'...').
shq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

mkdir -p "$stage/vdevkit"
# COMMAND as a script, so any argv survives the trip.
{
    printf '#!/bin/sh\nexec'
    for a in "$@"; do printf ' %s' "$(shq "$a")"; done
    printf '\n'
} > "$stage/vdevkit/cmd.sh"
{
    printf 'NONCE=%s\n' "$nonce"
    printf 'CMD_TIMEOUT=%s\n' "$cmd_timeout"
    printf 'HOST_PAYLOAD=%s\n' "$(shq "$payload")"
    printf 'KVM_AMD_PARAMS=%s\n' "$(shq "${VDEVKIT_KVM_AMD_PARAMS-npt=0}")"
} > "$stage/vdevkit/run.conf"

cat > "$stage/init" <<'INIT'
#!/bin/sh
# PID 1 of the vdevkit outer machine. Markers on the console (host parses them):
#   VDEVKIT-OUTER-READY ...            /dev/kvm is up, COMMAND starts
#   VDEVKIT-OUTER-ENV-ERROR: ...       setup failed (environment failure)
#   VDEVKIT-OUTER-STATUS=<n> run=<id>  COMMAND finished with status n
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp
/usr/bin/busybox --install -s
. /vdevkit/run.conf

env_error() {
    echo "VDEVKIT-OUTER-ENV-ERROR: $* run=$NONCE"
    poweroff -f
    sleep 1000
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/shm /dev/pts
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
ip link set lo up
hostname vdevkit-outer

while read -r ko; do
    params=
    [ "$ko" = kvm-amd.ko ] && params=$KVM_AMD_PARAMS
    # shellcheck disable=SC2086
    insmod "/lib/modules/$ko" $params || env_error "insmod $ko $params failed"
done < /lib/modules/load-order
[ -c /dev/kvm ] || env_error "/dev/kvm missing (kvm-amd not loaded, no SVM in the outer CPU, or an arm64 kernel not at EL2?)"

# The payload is also reachable at its host path (mounting /tmp hid anything
# placed there in the initramfs, so do it now).
if [ -n "$HOST_PAYLOAD" ] && [ ! -e "$HOST_PAYLOAD" ]; then
    mkdir -p "${HOST_PAYLOAD%/*}" && ln -s /payload "$HOST_PAYLOAD"
fi
[ -n "$HOST_PAYLOAD" ] && export VDEVKIT_PAYLOAD=/payload
export VDEVKIT_HARNESS_MODE=nested
cd /payload || env_error "no /payload"

read -r up _ < /proc/uptime
npt=$(cat /sys/module/kvm_amd/parameters/npt 2>/dev/null || echo -)
echo "VDEVKIT-OUTER-READY uptime=${up}s cpus=$(nproc) arch=$(uname -m) npt=$npt run=$NONCE"

# COMMAND in its own session/process group, so a timeout kills all it started.
setsid sh /vdevkit/cmd.sh < /dev/null &
cmd=$!
( sleep "$CMD_TIMEOUT"; touch /run/cmd-timeout; kill -TERM -"$cmd"; sleep 5; kill -KILL -"$cmd" ) 2>/dev/null &
watchdog=$!
wait "$cmd"
status=$?
kill "$watchdog" 2>/dev/null
if [ -e /run/cmd-timeout ]; then
    echo "VDEVKIT-OUTER-COMMAND-TIMEOUT after ${CMD_TIMEOUT}s"
    status=124
fi
read -r up _ < /proc/uptime
echo
echo "VDEVKIT-OUTER-STATUS=$status run=$NONCE uptime=${up}s"
sync
poweroff -f
sleep 1000
INIT
chmod 0755 "$stage/init" "$stage/vdevkit/cmd.sh"

# The uncompressed vmlinux boots via PVH, skipping ~3 s of TCG-emulated xz
# decompression; VDEVKIT_OUTER_KERNEL=vmlinuz boots the bzImage instead.
kernel=$VDEVKIT_VMLINUZ
if [ "$arch" = amd64 ] && [ -n "${VDEVKIT_VMLINUX:-}" ] && [ "${VDEVKIT_OUTER_KERNEL:-vmlinux}" = vmlinux ]; then
    kernel=$VDEVKIT_VMLINUX
fi

initrd=$work/initrd.gz
vdk_mkcpio "$stage" "$initrd"
vdk_log "outer.sh: initramfs $(du -h "$initrd" | cut -f1), $arch kernel ${kernel##*/}, smp=$smp mem=${mem}M timeout=${timeout_s}s"

# One boot of the outer machine; console to $log (and to stdout unless --quiet).
# Sets $qemu_rc.
run_outer() {
    local log=$1
    local -a qemu
    local console
    if [ "$arch" = arm64 ]; then
        # EL2 for KVM; pauth=off: TCG emulating pointer authentication is 3x slower.
        qemu=(qemu-system-aarch64 -M virt,virtualization=on,gic-version=3
              -accel "${VDEVKIT_OUTER_ACCEL:-tcg}" -cpu "${VDEVKIT_OUTER_CPU:-max,pauth=off}")
        console=ttyAMA0
    else
        if [ "$sriov" = 1 ]; then
            qemu=(env QEMU_MODULE_DIR="$VDEVKIT_QEMU10_MODULES"
                  "$VDEVKIT_QEMU10" -L "$VDEVKIT_QEMU10_DATA" -M q35,kernel-irqchip=split
                  -device intel-iommu,intremap=on,caching-mode=on
                  -device pcie-root-port,id=rp1,chassis=1,slot=1
                  -netdev user,id=n0 -device igb,bus=rp1,netdev=n0,romfile=efi-e1000e.rom)
            # an MSI-only device to pass as well: an AHCI controller with a small disk
            [ -z "${VDEVKIT_OUTER_AHCI_DISK:-}" ] ||
                qemu+=(-device pcie-root-port,id=rp2,chassis=2,slot=2
                       -device ich9-ahci,id=sata,bus=rp2
                       -drive "if=none,id=d0,format=raw,file=$VDEVKIT_OUTER_AHCI_DISK"
                       -device ide-hd,drive=d0,bus=sata.0)
        else
            qemu=(qemu-system-x86_64 -M q35)
        fi
        qemu+=(-accel "${VDEVKIT_OUTER_ACCEL:-tcg}" -cpu "${VDEVKIT_OUTER_CPU:-max}")
        console=ttyS0
    fi
    qemu+=(
        -smp "$smp" -m "$mem"
        # = the recipe's -nographic, minus SeaBIOS's serial console, which with
        # -nographic sends "ESC c" (terminal reset) and clears the caller's screen.
        -display none -serial stdio -monitor none -no-reboot -nic none
        -kernel "$kernel" -initrd "$initrd"
        # oops=panic: an outer-kernel oops ends the run at once (panic=-1 +
        # -no-reboot make QEMU exit) instead of leaving a wedged machine.
        -append "console=$console quiet panic=-1 oops=panic ${VDEVKIT_OUTER_APPEND:-}"
    )
    # QEMU runs in the background and we `wait`: bash would hold a trap until a
    # foreground pipeline ends, so Ctrl-C / a parent's TERM could not stop QEMU.
    # stdin from /dev/null: QEMU must not put a terminal in raw mode or read keys.
    rm -f "$work/qemu.pid" "$work/qemu.rc"
    {
        timeout -k 10 "$timeout_s" "${qemu[@]}" -pidfile "$work/qemu.pid" < /dev/null 2>&1
        echo $? > "$work/qemu.rc"
    } | if [ "$quiet" = 1 ]; then cat > "$log"; else tee "$log"; fi &
    local pipeline=$!
    # A wedged outer machine (seen with nested KVM under TCG) prints nothing more: stop it
    # after $silence s of console silence instead of waiting for the whole timeout.
    (
        last=-1 quiet_for=0
        while sleep 10; do
            size=$(stat -c %s "$log" 2>/dev/null || echo 0)
            if [ "$size" = "$last" ]; then quiet_for=$((quiet_for + 10)); else quiet_for=0; fi
            last=$size
            if [ "$quiet_for" -ge "$silence" ] && [ -s "$work/qemu.pid" ]; then
                touch "$work/silent"
                kill "$(cat "$work/qemu.pid")" 2>/dev/null
                break
            fi
            # A CPU stuck in the outer kernel that long is wedged, not slow (a starved host
            # gives short soft lockups that pass); its repeated reports are not silence.
            # (|| true: no such line yet is grep's status 1, which under errexit and pipefail
            # ended this watcher at its first look, leaving wedges and silence to the timeout)
            stuck=$(grep -aoE 'soft lockup - CPU#[0-9]+ stuck for [0-9]+s' "$log" 2>/dev/null |
                sed 's/.* \([0-9]*\)s$/\1/' | sort -n | tail -n 1) || true
            if [ "${stuck:-0}" -ge "$wedged_after" ] && [ -s "$work/qemu.pid" ]; then
                echo "$stuck" > "$work/wedged"
                kill "$(cat "$work/qemu.pid")" 2>/dev/null
                break
            fi
        done
    ) &
    watcher=$! # (global: on_signal stops it too)
    wait "$pipeline" || true
    kill "$watcher" 2>/dev/null || true
    qemu_rc=$(cat "$work/qemu.rc" 2>/dev/null || echo 255)
}

# Stop a running QEMU when we are interrupted or terminated.
watcher=
on_signal() {
    trap - INT TERM
    if [ -s "$work/qemu.pid" ]; then kill "$(cat "$work/qemu.pid")" 2>/dev/null || true; fi
    # the silence watcher loops until QEMU is silent: without this, `wait` never returned
    if [ -n "${watcher:-}" ]; then kill "$watcher" 2>/dev/null || true; fi
    wait 2>/dev/null || true   # let the console pipeline finish before cleanup
    vdk_log "outer.sh: interrupted; outer machine stopped"
    exit 130
}
trap on_signal INT TERM

crash_re='Kernel panic|BUG:|Oops|general protection fault|stack guard page|double fault'

# Why a run produced no status marker, from its console log.
diagnose() {
    local log=$1
    if [ -e "$work/silent" ]; then
        rm -f "$work/silent"
        echo "outer machine hung: no console output for ${silence}s"
    elif [ -e "$work/wedged" ]; then
        echo "outer machine wedged: a CPU stuck in the outer kernel for $(cat "$work/wedged")s (soft lockup)"
        rm -f "$work/wedged"
    elif grep -aq "VDEVKIT-OUTER-ENV-ERROR:.*run=$nonce" "$log"; then
        grep -a "VDEVKIT-OUTER-ENV-ERROR:" "$log" | tail -1 | tr -d '\r'
    elif grep -aqE "$crash_re" "$log"; then
        echo "outer kernel crashed: $(grep -aE "$crash_re" "$log" | head -1 | tr -d '\r' | sed 's/^\[ *[0-9.]*\] //')"
    elif [ "$qemu_rc" -eq 124 ] || [ "$qemu_rc" -eq 137 ]; then
        if grep -aq "VDEVKIT-OUTER-READY.*run=$nonce" "$log"; then
            echo "outer machine hung after COMMAND started (no status within ${timeout_s}s)"
        else
            echo "outer machine did not come up within ${timeout_s}s"
        fi
    elif [ "$qemu_rc" -ne 0 ]; then
        echo "QEMU exited with status $qemu_rc"
    else
        echo "outer machine powered off without reporting a status"
    fi
}

attempt=1
while :; do
    log=$work/console.$attempt.log
    start=$(date +%s.%N)
    run_outer "$log"
    wall=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
    [ -n "$keep_log" ] && cp "$log" "$keep_log"

    status_line=$(tr -d '\r' < "$log" | grep -aoE "VDEVKIT-OUTER-STATUS=[0-9]+ run=$nonce" | tail -1 || true)
    ready_line=$(tr -d '\r' < "$log" | grep -aoE "VDEVKIT-OUTER-READY .*run=$nonce" | tail -1 || true)
    boot=$(sed -n 's/.*READY uptime=\([0-9.]*s\).*/\1/p' <<<"$ready_line")
    if [ -n "$status_line" ]; then
        status=${status_line#VDEVKIT-OUTER-STATUS=}
        status=${status%% *}
        vdk_log "outer.sh: COMMAND exited with status $status (outer boot ${boot:-?}, wall ${wall}s)"
        if grep -aqE 'BUG:|Oops|WARNING: CPU' "$log"; then
            vdk_log "outer.sh: warning: the outer kernel logged a BUG/Oops/WARNING during the run"
        fi
        [ "$status" -eq 124 ] && vdk_log "outer.sh: COMMAND timed out after ${cmd_timeout}s inside the outer machine"
        if [ "$quiet" = 1 ] && [ "$status" -ne 0 ]; then
            { echo "outer.sh: --- last 40 lines of the outer console ---"; tail -n 40 "$log" | tr -d '\r'; } >&2
        fi
        exit "$status"
    fi

    reason=$(diagnose "$log")
    {
        echo "outer.sh: ENVIRONMENT FAILURE (attempt $attempt): $reason"
        echo "outer.sh: --- last 40 lines of the outer console ---"
        tail -n 40 "$log" | tr -d '\r'
        echo "outer.sh: --- end of outer console ---"
    } >&2
    if [ "$retry_env" = 1 ] && [ "$attempt" -eq 1 ]; then
        vdk_log "outer.sh: retrying once after the environment failure (--retry-env)"
        attempt=2
        continue
    fi
    exit $ENV_FAIL
done
