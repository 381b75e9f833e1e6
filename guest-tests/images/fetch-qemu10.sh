#!/usr/bin/env bash
# QEMU 10 from Debian's bookworm-backports, unpacked into a cached folder (never installed: the
# system QEMU 7.2 stays what every other test uses): the outer machine of the passthrough
# tests, whose igb NIC has SR-IOV (QEMU >= 8.0) behind an emulated intel-iommu
# (/work/shared/reference/passthrough-harness.md). Adds bookworm-backports to apt's sources
# if missing (its packages are never installed from there unless asked for by name).
# Prints VDEVKIT_QEMU10=<qemu-system-x86_64>, VDEVKIT_QEMU10_DATA=<its -L folder> and
# VDEVKIT_QEMU10_MODULES=<its module folder, for QEMU_MODULE_DIR>.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"
root=$(vdk_cache_dir)/qemu10
if [ ! -f "$root/.complete" ]; then
    if ! apt-cache policy 2>/dev/null | grep -q bookworm-backports; then
        vdk_log "adding bookworm-backports to apt's sources (for QEMU 10)"
        cat > /etc/apt/sources.list.d/vdevkit-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        DEBIAN_FRONTEND=noninteractive apt-get update >&2
    fi
    vdk_log "fetching QEMU 10 (qemu-system-x86 from bookworm-backports)"
    tmp=$root.tmp
    rm -rf "$tmp" && mkdir -p "$tmp/deb"
    chmod 0777 "$tmp/deb"
    for p in qemu-system-x86 qemu-system-common qemu-system-data seabios ipxe-qemu; do
        (cd "$tmp/deb" && apt-get download -qq "$p/bookworm-backports" 2>/dev/null ||
            apt-get download -qq "$p") || vdk_die "cannot download $p"
    done
    for d in "$tmp"/deb/*.deb; do dpkg-deb -x "$d" "$tmp"; done
    rm -rf "$tmp/deb"
    [ -x "$tmp/usr/bin/qemu-system-x86_64" ] || vdk_die "qemu-system-x86 did not unpack"
    # its firmware in one -L folder: QEMU's own data, SeaBIOS and the iPXE ROMs (relative links:
    # the folder moves into place below)
    mkdir -p "$tmp/firmware"
    for d in usr/share/qemu usr/share/seabios usr/lib/ipxe/qemu; do
        for f in "$tmp/$d"/*; do
            [ -e "$f" ] && [ ! -e "$tmp/firmware/${f##*/}" ] && ln -s "../$d/${f##*/}" "$tmp/firmware/"
        done
    done
    "$tmp/usr/bin/qemu-system-x86_64" --version > /dev/null ||
        vdk_die "QEMU 10 does not run here (a library missing?)"
    touch "$tmp/.complete"
    rm -rf "$root" && mv "$tmp" "$root"
fi
printf 'VDEVKIT_QEMU10=%q\n' "$root/usr/bin/qemu-system-x86_64"
printf 'VDEVKIT_QEMU10_DATA=%q\n' "$root/firmware"
# its own module folder: QEMU otherwise loads the system QEMU 7.2's modules and complains
printf 'VDEVKIT_QEMU10_MODULES=%q\n' "$root/usr/lib/x86_64-linux-gnu/qemu"
