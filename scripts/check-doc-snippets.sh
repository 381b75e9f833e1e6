#!/bin/bash
# Compiles (and runs) the C examples of a document against an installed vdevkit, as a user
# would: pkg-config finds the install through PKG_CONFIG_PATH, nothing else is set.
#   scripts/check-doc-snippets.sh DOC.md
# Every ```c block must follow a marker line saying what it is:
#   <!-- check: program NAME -->  a complete program: compiled, linked and kept as NAME.c
#   <!-- check: unit -->          a complete translation unit: compiled (-c)
# and a shell session that runs a program is marked too:
#   <!-- check: run NAME -->      a ``` block of "$ command" lines and expected output:
#                                 the commands run as written in a folder holding NAME.c;
#                                 every output line must appear in what they print
# Each C block is compiled with -std=c11 -Wall -Wextra -Werror. An unmarked ```c block fails.
set -euo pipefail
doc=${1:?usage: check-doc-snippets.sh DOC.md}
name=$(basename "$doc")
work=$(mktemp -d /tmp/vdevkit-snippets-XXXXXX)
trap 'rm -rf "$work"' EXIT
cflags=$(pkg-config --cflags vdevkit)
libs=$(pkg-config --libs vdevkit)

# Split the document: work/N.{c,sh} plus a manifest "N MODE NAME LINE".
awk -v work="$work" -v doc="$name" '
    /^<!-- check: / { split($0, w, " "); mode = w[3]; what = (w[4] == "-->") ? "" : w[4];
                      markline = NR; next }
    /^```/ && !inblock {
        lang = substr($0, 4)
        if (lang == "c" && (markline != NR - 1 || mode == "run")) {
            printf "%s:%d: a C example without a <!-- check: program|unit --> line before it\n",
                   doc, NR > "/dev/stderr"; bad = 1
        }
        if (markline == NR - 1) {
            n++; inblock = 1
            file = work "/" n (mode == "run" ? ".sh" : ".c")
            printf "" > file
            print n, mode, (what == "" ? "-" : what), NR + 1 > (work "/manifest")
        } else {
            skipping = 1; inblock = 1
        }
        next
    }
    /^```/ && inblock { if (!skipping) close(file); inblock = 0; skipping = 0; next }
    inblock && !skipping { print > file }
    END { exit bad }
' "$doc"
[ -f "$work/manifest" ] || { echo "check-doc-snippets: $name has no marked examples"; exit 1; }

count=0
while read -r n mode what line; do
    where="$name:$line"
    case $mode in
    program)
        cp "$work/$n.c" "$work/$what.c"
        # shellcheck disable=SC2086
        cc -std=c11 -Wall -Wextra -Werror "$work/$what.c" -o "$work/$what" $cflags $libs ||
            { echo "check-doc-snippets: $where: program $what does not build"; exit 1; } ;;
    unit)
        # shellcheck disable=SC2086
        cc -std=c11 -Wall -Wextra -Werror -c "$work/$n.c" -o "$work/$n.o" $cflags ||
            { echo "check-doc-snippets: $where: the example does not compile"; exit 1; } ;;
    run)
        [ -f "$work/$what.c" ] || { echo "check-doc-snippets: $where: no program $what above"; exit 1; }
        run=$(mktemp -d "$work/run-XXXXXX")
        cp "$work/$what.c" "$run/"
        out=$(cd "$run" && grep '^\$ ' "$work/$n.sh" | sed 's/^\$ //' | bash -e 2>&1) ||
            { echo "check-doc-snippets: $where: the commands failed:"; echo "$out"; exit 1; }
        while IFS= read -r want; do
            grep -qxF -- "$want" <<<"$out" || {
                echo "check-doc-snippets: $where: missing output line: $want"
                echo "--- it printed:"; echo "$out"; exit 1; }
        done < <(grep -v '^\$ ' "$work/$n.sh") ;;
    *)
        echo "check-doc-snippets: $where: unknown check mode '$mode'"; exit 1 ;;
    esac
    count=$((count + 1))
done <"$work/manifest"
echo "check-doc-snippets: $name: $count examples built and run"
