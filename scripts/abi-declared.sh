#!/bin/bash
# Prints, sorted, the functions include/vdev/*.h declares with VDEV_API: what libvdev must
# export (scripts/check-abi.sh compares it with the library and abi/libvdev.symbols).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# A declaration may wrap: take the text from VDEV_API to the first '(' and its last word.
ls "$top"/include/vdev/*.h | grep -v /export.h | xargs cat | tr '\n' ' ' | grep -o 'VDEV_API [^(;{}#]*(' |
    sed -E 's/\($//; s/.*[^A-Za-z0-9_]([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*$/\1/' | sort -u
