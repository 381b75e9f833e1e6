#!/bin/bash
# Checks the layering of docs/architecture.md on every `#include "..."` of the C sources:
#
#   include/  <-  core/  <-  pci/, mmio/, lib/*  <-  vdevs/  <-  vmm/, tools/, bench/, examples/
#
# A file may include its own layer and those below, never one above. Besides:
#   - transports (pci/, mmio/, lib/*) reach the core through core/transport_api.h only;
#   - modules (vdevs/) see neither core/ nor the transports: include/vdev/ is their API;
#   - core/host_owner.h, a library of its own, may be included from anywhere.
# tests/ may include anything; guest-tests/ are guest programs outside this picture.
# An include resolves against the including file's folder, then against the tree by its
# path suffix (the build's include directories); one that resolves nowhere (system or
# generated headers) is not checked. Prints FILE:LINE for each breach and exits 1.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

# Core headers the layers above may include besides include/vdev/:
#   transport_api.h  the transports' (and lib/'s) narrow view of the core;
#   host_owner.h     a static library of its own (vdev_host_owner, no core state) that
#                    lives in core/ because the core uses it too; anyone may include it.
narrow="core/transport_api.h"
shared="core/host_owner.h"

list=$(mktemp)
trap 'rm -f "$list"' EXIT
find . \( -name .git -o -name 'build*' -o -name guest-tests \) -prune -o -type f \
    \( -name '*.c' -o -name '*.h' \) -print | sed 's|^\./||' | sort >"$list"

# grep prints FILE:LINE:TEXT for each quoted include; awk resolves and judges them.
xargs -a "$list" grep -Hn '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' |
    awk -v list="$list" -v narrow="$narrow" -v shared="$shared" '
function norm(p,    n, a, i, k, st, out) {
    n = split(p, a, "/")
    k = 0
    for (i = 1; i <= n; i++) {
        if (a[i] == "" || a[i] == ".")
            continue
        if (a[i] == "..") {
            if (k == 0)
                return ""
            k--
            continue
        }
        st[++k] = a[i]
    }
    out = ""
    for (i = 1; i <= k; i++)
        out = out (i > 1 ? "/" : "") st[i]
    return out
}
function dirname(p) {
    return p ~ /\// ? substr(p, 1, match(p, /\/[^\/]*$/) - 1) : ""
}
function top(p) {
    return p ~ /\// ? substr(p, 1, index(p, "/") - 1) : ""
}
function layer(p) {
    if (p ~ /^include\//) return 0
    if (p ~ /^core\//) return 1
    if (p ~ /^(pci|mmio|lib)\//) return 2
    if (p ~ /^vdevs\//) return 3
    if (p ~ /^(vmm|tools|bench|examples)\//) return 4
    return -1 # tests/ and anything else: not checked
}
# The file an include names: beside the includer, else the one tree file ending in it
# (preferring the includer folder, then include/).
function resolve(from, name,    p, n, c, i, best) {
    p = norm(dirname(from) "/" name)
    if (p != "" && (p in exists))
        return p
    n = split(byname[base(name)], c, SUBSEP)
    best = ""
    for (i = 1; i <= n; i++) {
        if (c[i] != name && substr(c[i], length(c[i]) - length(name)) != "/" name)
            continue
        if (top(c[i]) == top(from))
            return c[i]
        if (best == "" || c[i] ~ /^include\//)
            best = c[i]
    }
    return best
}
function base(p) {
    sub(/.*\//, "", p)
    return p
}
BEGIN {
    names[0] = "include/"
    names[1] = "core/"
    names[2] = "the transports (pci/, mmio/, lib/)"
    names[3] = "the modules (vdevs/)"
    names[4] = "the top (vmm/, tools/, bench/)"
    while ((getline f < list) > 0) {
        exists[f] = 1
        b = base(f)
        byname[b] = (b in byname) ? byname[b] SUBSEP f : f
    }
    bad = 0
}
{
    file = $0
    sub(/:.*/, "", file)
    rest = substr($0, length(file) + 2)
    line = rest
    sub(/:.*/, "", line)
    name = rest
    sub(/^[^"]*"/, "", name)
    sub(/".*/, "", name)
    from = layer(file)
    if (from < 0)
        next
    to_file = resolve(file, name)
    if (to_file == "")
        next
    to = layer(to_file)
    why = ""
    if (to_file == shared)
        next
    if (to > from)
        why = names[from] " may not include " names[to] " (an upward include)"
    else if (from == 2 && to == 1 && to_file != narrow)
        why = "a transport reaches the core through " narrow " only"
    else if (from == 3 && (to == 1 || to_file ~ /^(pci|mmio)\//))
        why = "a module sees the core and the transports through include/vdev/ only"
    if (why == "")
        next
    printf "%s:%s: includes %s: %s\n", file, line, to_file, why
    bad++
}
END {
    if (bad) {
        printf "check-layers: %d include(s) break the layers (docs/architecture.md)\n", bad
        exit 1
    }
    print "check-layers: ok"
}'
