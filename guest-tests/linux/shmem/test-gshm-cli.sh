#!/bin/sh
# The guest tool's command line on the build host, where no shmem device exists: usage
# errors exit 2, a missing device or a bad factory address exits 3, each with its message.
# Nothing here opens /dev/mem (the address checks come first, and there is no PCI device).
#   test-gshm-cli.sh GSHM
gshm=${1:?usage: test-gshm-cli.sh GSHM}
fails=0
# expect STATUS PATTERN ARGS...: gshm ARGS must exit STATUS and print PATTERN (stdout+stderr)
expect() {
    want=$1 pattern=$2
    shift 2
    out=$("$gshm" "$@" 2>&1)
    got=$?
    if [ "$got" != "$want" ] || ! printf '%s\n' "$out" | grep -q -- "$pattern"; then
        echo "FAIL: gshm $*: exit $got (want $want), output: $out"
        fails=$((fails + 1))
    else
        echo "ok: gshm $*: exit $got"
    fi
}
expect 0 'usage: gshm' --help
expect 2 'no step'
expect 2 'unknown option' --bogus info
expect 2 'unknown step' --factory 0x1001 frobnicate
expect 2 'attach: PAGES' --factory 0x1001 info attach test0
expect 2 'PAGES too large' --factory 0x1001 attach test0 0x100000000
expect 3 'is not a page address' --factory 0x1001 info
expect 3 'not a page address' --factory 0 info
if [ ! -e /sys/bus/pci/devices ] || ! grep -qi '0x1c05' /sys/bus/pci/devices/*/vendor 2>/dev/null; then
    expect 3 'no PCI function 1c05:0001' info
fi
[ "$fails" = 0 ]
