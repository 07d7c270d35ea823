#!/bin/sh
# Run the memlab CLI installed in benches/memlab/node_modules with a fresh,
# temporary --work-dir that is removed afterwards (memlab writes its logs,
# trace JSON and copies of run metadata there).
#
#   benches/memlab/run-memlab.sh find-leaks --baseline A --target B --final B
#   benches/memlab/run-memlab.sh analyze unbound-collection --snapshot-dir DIR
#
# Install first (no browser is needed or downloaded):
#   (cd benches/memlab && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --ignore-scripts)
#
# Why not node_modules/.bin/memlab: its shebang is
# `#!/usr/bin/env node --expose-gc --max-old-space-size=4096`, which Linux's
# env(1) does not split (it looks for a program literally named
# "node --expose-gc ..."); on our machine it re-executed itself in a loop at
# 100% CPU instead of failing. We start node ourselves.
#
# Heap limit: memlab's own shebang asks for 4096 MiB of V8 old space. For the
# large benchmark pair (756 MB final snapshot, 9.0M nodes) we allow more so
# that the limit is never what decides the result; override with
# MEMLAB_MAX_OLD_SPACE_MB. The machine has 24 GiB of RAM.
#
# stdout/stderr are memlab's own. memlab prints progress lines with ANSI
# erase-line codes on stderr; pass MEMLAB_PLAIN=1 to get text without them
# (used for benches/memlab/fixture-results/).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cli="$here/node_modules/@memlab/cli/bin/memlab.js"
if [ ! -f "$cli" ]; then
    echo "run-memlab.sh: $cli not found; install with:" >&2
    echo "  (cd benches/memlab && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --ignore-scripts)" >&2
    exit 2
fi

heap_mb=${MEMLAB_MAX_OLD_SPACE_MB:-16384}
work=$(mktemp -d "${TMPDIR:-/tmp}/memlab-work.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

cmd=$1
shift
status=0
if [ "${MEMLAB_PLAIN:-0}" = 1 ]; then
    node --expose-gc --max-old-space-size="$heap_mb" "$cli" "$cmd" --work-dir "$work" "$@" \
        >"$work/.out" 2>&1 || status=$?
    sed -e 's/\x1b\[[0-9;]*[A-Za-z]//g' "$work/.out"
else
    node --expose-gc --max-old-space-size="$heap_mb" "$cli" "$cmd" --work-dir "$work" "$@" || status=$?
fi
exit "$status"
