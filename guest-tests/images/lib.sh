# shellcheck shell=bash
# Shared helpers for the guest-test scripts. Source it; it defines functions only.
#
#   vdk_log MSG...                        message to stderr (stdout is kept for data)
#   vdk_die MSG...                        message to stderr, exit 1
#   vdk_cache_dir                         ${VDEVKIT_CACHE:-$HOME/.cache/vdevkit}
#   vdk_ensure_host_tools                 apt-get install qemu-system-x86, cpio, kmod, binutils if missing
#   vdk_resolve_modules MODDIR NAME...    module files (relative to MODDIR) in load order
#   vdk_stage_modules MODDIR STAGE NAME...  copy (decompressing) modules into STAGE
#   vdk_busybox_install BUSYBOX STAGE     busybox (+ /usr/bin/sh) into STAGE
#   vdk_stage_rootfs_layout STAGE         merged-/usr skeleton (bin -> usr/bin, ...)
#   vdk_stage_elf_deps STAGE FILE...      copy the shared libraries FILEs need into STAGE
#   vdk_stage_elf_deps_cross STAGE ROOT FILE...  the same for another architecture's ELF files,
#                                         resolved with readelf in their RUNPATH and ROOT
#   vdk_stage_fetched_program STAGE ROOT PROG  a program of a Debian package fetch.sh unpacked in
#                                         ROOT (e.g. usr/bin/iperf3) with its libraries
#   vdk_mkcpio STAGE OUT                  gzip'd newc cpio of STAGE (owned by root)

vdk_log() { printf '%s\n' "$*" >&2; }
vdk_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

vdk_cache_dir() { printf '%s\n' "${VDEVKIT_CACHE:-$HOME/.cache/vdevkit}"; }

# apt-get, running "apt-get update" once only if the first attempt fails (stale or
# missing package lists on a fresh machine).
vdk_apt() {
    if ! DEBIAN_FRONTEND=noninteractive apt-get "$@" >&2; then
        vdk_log "apt-get $1 failed; running apt-get update and retrying"
        DEBIAN_FRONTEND=noninteractive apt-get update >&2
        DEBIAN_FRONTEND=noninteractive apt-get "$@" >&2
    fi
}

vdk_ensure_host_tools() {
    local pkgs=()
    command -v qemu-system-x86_64 >/dev/null || pkgs+=(qemu-system-x86)
    command -v cpio >/dev/null || pkgs+=(cpio)
    command -v readelf >/dev/null || pkgs+=(binutils)
    # depmod lives in /usr/sbin, which a non-login PATH may lack.
    command -v depmod >/dev/null || [ -x /usr/sbin/depmod ] || [ -x /sbin/depmod ] || pkgs+=(kmod)
    if [ ${#pkgs[@]} -gt 0 ]; then
        vdk_log "installing host packages: ${pkgs[*]}"
        vdk_apt install -y --no-install-recommends "${pkgs[@]}"
    fi
}

# Module name as the kernel sees it: basename, no .ko[.xz|.zst|.gz], '-' == '_'.
vdk_modname() {
    local n=${1##*/}
    n=${n%.xz}; n=${n%.zst}; n=${n%.gz}; n=${n%.ko}
    printf '%s\n' "${n//-/_}"
}

# Print the module files (paths relative to MODDIR, as in modules.dep) needed to
# load NAMEs, dependencies first, each once. Built-in modules are skipped.
# MODDIR is lib/modules/<kver> of a tree that depmod has run on.
# (awk, not a bash loop: modules.dep has ~4000 lines and forks are slow here.)
vdk_resolve_modules() {
    local moddir=$1; shift
    [ -f "$moddir/modules.dep" ] || vdk_die "no modules.dep in $moddir (run depmod -b)"
    local files=("$moddir/modules.dep")
    [ -f "$moddir/modules.builtin" ] && files+=("$moddir/modules.builtin")
    awk -v want="$*" '
        function modname(p,   n) {
            n = p; sub(/.*\//, "", n); sub(/\.(xz|zst|gz)$/, "", n); sub(/\.ko$/, "", n)
            gsub(/-/, "_", n); return n
        }
        # depth-first: a module is printed after everything it depends on
        function visit(f,   i, n, d) {
            if (f in done) return
            done[f] = 1
            n = split(deps[f], d, " ")
            for (i = 1; i <= n; i++) visit(d[i])
            print f
        }
        FILENAME ~ /modules\.builtin$/ { builtin[modname($0)] = 1; next }
        {
            f = $0; sub(/:.*/, "", f)
            d = $0; sub(/^[^:]*:[ ]*/, "", d)
            path[modname(f)] = f; deps[f] = d
        }
        END {
            n = split(want, w, " ")
            for (i = 1; i <= n; i++) {
                m = modname(w[i])
                if (m in path) visit(path[m])
                else if (m in builtin) printf "module %s is built into the kernel\n", m > "/dev/stderr"
                else { printf "error: module %s not found in modules.dep\n", m > "/dev/stderr"; bad = 1 }
            }
            exit bad
        }' "${files[@]}"
}

# Copy the modules NAMEs need into STAGE/lib/modules/, uncompressed (busybox
# insmod cannot be relied on to read .ko.xz/.ko.zst), and write
# STAGE/lib/modules/load-order: one "file.ko" per line, in load order.
vdk_stage_modules() {
    local moddir=$1 stage=$2; shift 2
    local dst=$stage/lib/modules f out list
    list=$(vdk_resolve_modules "$moddir" "$@") || return 1
    mkdir -p "$dst"
    : > "$dst/load-order"
    for f in $list; do
        out=${f##*/}
        case $f in
            *.ko.xz)  xz -dc "$moddir/$f" > "$dst/${out%.xz}"; out=${out%.xz} ;;
            *.ko.zst) zstd -qdc "$moddir/$f" > "$dst/${out%.zst}"; out=${out%.zst} ;;
            *.ko.gz)  gzip -dc "$moddir/$f" > "$dst/${out%.gz}"; out=${out%.gz} ;;
            *)        cp "$moddir/$f" "$dst/$out" ;;
        esac
        printf '%s\n' "$out" >> "$dst/load-order"
    done
}

# Root filesystem skeleton with Debian's merged /usr, so paths that ldd reports
# on the host (/lib64/ld-linux-x86-64.so.2, /lib/x86_64-linux-gnu/...) resolve.
vdk_stage_rootfs_layout() {
    local stage=$1 d
    mkdir -p "$stage"/{usr/bin,usr/sbin,usr/lib,usr/lib64,proc,sys,dev,tmp,run,root,etc,payload}
    chmod 0755 "$stage"
    chmod 1777 "$stage/tmp"
    for d in bin sbin lib lib64; do
        [ -e "$stage/$d" ] || ln -s "usr/$d" "$stage/$d"
    done
}

# busybox at /usr/bin/busybox with just a /usr/bin/sh link: the init runs
# "busybox --install -s" at boot (hundreds of ln forks on the host take seconds).
vdk_busybox_install() {
    local bb=$1 stage=$2
    cp "$bb" "$stage/usr/bin/busybox"
    chmod 0755 "$stage/usr/bin/busybox"
    ln -sf busybox "$stage/usr/bin/sh"
}

vdk_is_elf() {
    [ -f "$1" ] && [ "$(head -c 4 "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]
}

# For each ELF FILE, copy every shared library ldd resolves (and the dynamic
# loader) into STAGE at the same absolute path, dereferencing symlinks. Libraries
# that already live inside STAGE (e.g. found via $ORIGIN) are left alone.
vdk_stage_elf_deps() {
    local stage=$1; shift
    local f lib dstdir out
    stage=$(realpath "$stage")
    for f in "$@"; do
        vdk_is_elf "$f" || continue
        # ldd fails on static executables and non-x86_64 objects: nothing to copy.
        out=$(ldd "$f" 2>/dev/null) || continue
        if grep -q 'not found' <<<"$out"; then
            vdk_log "warning: $f: $(grep 'not found' <<<"$out" | tr -s ' \t\n' ' ')"
        fi
        while IFS= read -r lib; do
            case $lib in "$stage"/*) continue ;; esac
            # Place the file under the host's real directory (merged /usr) but
            # keep the name ldd used (libstdc++.so.6, not libstdc++.so.6.0.30).
            dstdir=$stage$(realpath "$(dirname "$lib")")
            [ -e "$dstdir/${lib##*/}" ] && continue
            mkdir -p "$dstdir"
            cp -L "$lib" "$dstdir/${lib##*/}"
        done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$out")
    done
}

# vdk_stage_elf_deps for ELF files of another architecture (ldd cannot run them): each
# DT_NEEDED library is looked up, as the dynamic loader would, in the file's RUNPATH
# ($ORIGIN expanded on the host) and then in ROOT's {usr/,}lib/<triplet> (an unpacked
# Debian userland, e.g. fetch.sh's VDEVKIT_USERLAND_ROOT; ROOT may be several, ':'-separated,
# searched in order; the first has the dynamic loader). Every library lands in STAGE's
# /usr/lib/<triplet> (the loader's default folder) unless it is in STAGE already; the program
# interpreter at its path; the libraries' own needs likewise.
vdk_stage_elf_deps_cross() {
    local stage=$1 root=$2; shift 2
    local -a queue=("$@")
    local -A seen=()
    local f dyn interp need dirs d found rel
    stage=$(realpath "$stage")
    while [ ${#queue[@]} -gt 0 ]; do
        f=${queue[0]}
        queue=("${queue[@]:1}")
        vdk_is_elf "$f" || continue
        interp=$(readelf -lW "$f" 2>/dev/null | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
        if [ -n "$interp" ] && [ ! -e "$stage$interp" ]; then
            [ -e "${root%%:*}$interp" ] || vdk_die "$f: its interpreter $interp is not in ${root%%:*}"
            mkdir -p "$stage$(dirname "$interp")"
            cp -L "${root%%:*}$interp" "$stage$interp"
        fi
        dyn=$(readelf -dW "$f" 2>/dev/null) || continue
        dirs=$(sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p; s/.*(RPATH).*\[\(.*\)\]/\1/p' <<<"$dyn" |
            sed "s|\\\$ORIGIN|$(dirname "$(realpath "$f")")|g" | tr ':' ' ')
        while IFS= read -r need; do
            [ -n "$need" ] || continue
            [ -z "${seen[$need]:-}" ] || continue
            seen[$need]=1
            found=
            for d in $dirs; do
                if [ -e "$d/$need" ]; then found=$(realpath -s "$d/$need"); break; fi
            done
            if [ -n "$found" ]; then
                case $found in "$stage"/*) queue+=("$found"); continue ;; esac
                # into the loader's default folder, not the host path: a machine may mount
                # over that path (the outer machine's /tmp is a fresh tmpfs)
                local dst=$stage/usr/lib/aarch64-linux-gnu/$need
                if [ ! -e "$dst" ]; then
                    mkdir -p "${dst%/*}"
                    cp -L "$found" "$dst"
                fi
                queue+=("$dst")
                continue
            fi
            local r src=
            for r in ${root//:/ }; do
                for rel in lib/aarch64-linux-gnu usr/lib/aarch64-linux-gnu; do
                    if [ -e "$r/$rel/$need" ]; then
                        src=$r/$rel/$need found=/usr/$rel
                        found=${found/\/usr\/usr/\/usr}
                        break 2
                    fi
                done
            done
            [ -n "$found" ] || vdk_die "$f needs $need, which is neither in its RUNPATH nor in $root"
            if [ ! -e "$stage$found/$need" ]; then
                mkdir -p "$stage$found"
                cp -L "$src" "$stage$found/$need"
            fi
            queue+=("$stage$found/$need")
        done < <(sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' <<<"$dyn")
    done
}

# Install ROOT/PROG (PROG relative, e.g. usr/bin/iperf3; ROOT an x86_64 Debian package tree that
# fetch.sh unpacked) at STAGE/PROG, the libraries ROOT has (by soname) in STAGE's
# /usr/lib/x86_64-linux-gnu, and the rest it needs (libc, libcrypto) from the host through ldd.
# Fails, naming them, if some libraries cannot be found.
vdk_stage_fetched_program() {
    local stage=$1 root=$2 prog=$3 libdir lib missing
    libdir=$stage/usr/lib/x86_64-linux-gnu
    mkdir -p "$libdir" "$stage/$(dirname "$prog")"
    install -m 0755 "$root/$prog" "$stage/$prog"
    for lib in "$root"/usr/lib/x86_64-linux-gnu/*.so.[0-9]; do
        [ -e "$lib" ] && cp -L "$lib" "$libdir/"
    done
    # what is staged already is kept
    LD_LIBRARY_PATH=$libdir vdk_stage_elf_deps "$stage" "$stage/$prog"
    missing=$(LD_LIBRARY_PATH=$libdir ldd "$stage/$prog" | grep 'not found' || true)
    [ -z "$missing" ] || { vdk_log "error: ${prog##*/} needs libraries we could not stage: $missing"; return 1; }
}

# Gzip'd newc cpio archive of STAGE, every file owned by root.
vdk_mkcpio() {
    local stage=$1 out=$2
    out=$(realpath -m "$out")
    (cd "$stage" && find . -print | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -1) > "$out"
}
