#!/bin/bash
# Formats every C source and header with the committed .clang-format; --check only reports.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--check" ]; then
    git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror
else
    git ls-files '*.c' '*.h' | xargs clang-format -i
fi
