# Sourced by run-pair.sh and shmem/run-shmem-pair.sh (inside the outer machine, from the
# payload): starting VMMs and following them. Needs $ncpu and $pair_timeout set.

# start SYSTEM CPU: the VMM pinned to CPU (its vCPU too, through `cpu runmask`).
start() {
    if [ "$ncpu" -gt "$2" ]; then
        timeout -k 5 "$pair_timeout" taskset -c "$2" ./vdevkit run @"$1.conf" > "$1.log" 2>&1 &
    else
        timeout -k 5 "$pair_timeout" ./vdevkit run @"$1.conf" > "$1.log" 2>&1 &
    fi
    eval "pid_$1=$!"
}

# The VMM's own pid: from its control socket, else from /proc (busybox timeout execs the
# command itself, coreutils timeout runs it as a child).
vmm_pid() {
    vp=$(./vdevkit info "$1" 2>/dev/null | sed -n 's/^pid //p')
    if [ -z "$vp" ]; then
        eval "vp=\$pid_$1"
        [ "$(cat "/proc/$vp/comm" 2>/dev/null)" = vdevkit ] ||
            vp=$(awk '{ print $1 }' "/proc/$vp/task/$vp/children" 2>/dev/null)
    fi
    echo "$vp"
}

# A zombie (exited, not yet waited for) is not alive.
alive() { [ -e "/proc/$1" ] && ! grep -qE '^[0-9]+ \(.*\) Z' "/proc/$1/stat" 2>/dev/null; }

# check SYSTEM: st_SYSTEM becomes its exit status once it ended (no subshell: `wait` needs
# to run in the shell that started it), else "running".
check() {
    eval "p=\$pid_$1 st=\$st_$1"
    [ "$st" = running ] || return 0
    if ! alive "$p"; then
        wait "$p"
        eval "st_$1=$?"
    fi
}

# The guest kernel locked up or panicked (its console says so).
guest_wedged() { grep -aqE 'soft lockup|hung_task|Kernel panic|rcu_sched self-detected' "$1.log"; }
