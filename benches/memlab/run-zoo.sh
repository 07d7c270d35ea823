#!/bin/sh
# Run memlab on every case of the zoo (fixtures/zoo/node/<case>, fixtures/zoo/chromium/<case>,
# see fixtures/zoo/README.md) and write memlab's text output to
# benches/memlab/zoo-results/<node|chromium>-<case>-<analysis>.txt.
#
#   benches/memlab/run-zoo.sh                          every case
#   benches/memlab/run-zoo.sh node/ws-chat chromium/observers   only these
#
# Per case (the series s1 s2 s3 of one process, oldest first):
#   find-leaks                    memlab find-leaks --baseline s1 --target s2 --final s3
#                                 (memlab's default leak filter)
#   find-leaks-trace-all-objects  the same with --trace-all-objects (leak filter off: every object
#                                 allocated between s1 and s2 and still alive in s3 is traced and
#                                 the traces are clustered)
#   unbound-collection            memlab analyze unbound-collection --snapshot-dir <s1 s2 s3>
#   unbound-collection-trace      memlab trace --snapshot s3 --node-id=@ID for the first
#                                 $MEMLAB_TRACE_IDS (default 5) collections that unbound-collection
#                                 lists: the follow-up its output asks for ("Use `memlab trace
#                                 --node-id=@ID` to get trace"); only when it lists any
#   unbound-object                memlab analyze unbound-object --snapshot-dir <s1 s2 s3>
#   unbound-object-trace          the same follow-up for the first $MEMLAB_TRACE_IDS objects it lists
#   detached-DOM                  (chromium cases) memlab analyze detached-DOM --snapshot s3
#   collections-with-stale        (chromium cases) memlab analyze collections-with-stale --snapshot s3
#
# memlab reads only uncompressed files and its `analyze` plugins load every *.heapsnapshot of a
# directory in name order, so each case is gunzipped into a temp dir; the temp dir's path is
# replaced by the case's directory in the output. Like run-fixtures.sh, ANSI codes are stripped
# and memlab's progress counters ("progress: N / M", "clustering trace: N / M") dropped. Every
# run has a timeout: $MEMLAB_TIMEOUT s (default 600), find-leaks --trace-all-objects
# $MEMLAB_TRACE_ALL_TIMEOUT s (default 180); a run that hits it keeps the output it printed and
# says so. Each file ends with the run's exit status (if not 0) and wall time. Files longer than
# 250 lines keep the first 200 and the last 30, with a line saying how many were cut; set
# MEMLAB_ZOO_FULL_DIR=DIR to also keep the uncut outputs there. (Paths in the output read
# fixtures/zoo/<kind>/<case>/sN.heapsnapshot: the gunzipped copies of the committed .gz files.)
# zoo-results/SUMMARY.md, the case-by-case judgement against each truth.json, is written by hand
# from these files; this script does not touch it.
#
# `memlab help ...` aborts (V8 "invalid size error") when stdout is not a terminal: run it under
# `script -qc "memlab help find-leaks" /dev/null` to read the flags.
#
# Install memlab first: (cd benches/memlab && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --ignore-scripts)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
zoo="$repo/fixtures/zoo"
out="$here/zoo-results"
timeout_s=${MEMLAB_TIMEOUT:-600}
trace_all_timeout_s=${MEMLAB_TRACE_ALL_TIMEOUT:-180}
trace_ids=${MEMLAB_TRACE_IDS:-5}
full=${MEMLAB_ZOO_FULL_DIR:-}
mkdir -p "$out"
if [ -n "$full" ]; then mkdir -p "$full"; fi

version=$(node -p 'require(process.argv[1]).version' "$here/node_modules/memlab/package.json")

if [ $# -eq 0 ]; then
    set -- $(cd "$zoo" && ls -d node/*/ chromium/*/ | sed -e 's#/$##' | grep -v '/lib$' | grep -v '/node_modules$')
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/memlab-zoo.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# run NAME TIMEOUT memlab-args...: writes $out/$prefix-NAME.txt
run() {
    name=$1
    limit=$2
    shift 2
    file="$out/$prefix-$name.txt"
    raw="$tmp/raw.txt"
    echo "== $prefix $name: memlab $*" >&2
    start=$(date +%s.%N)
    status=0
    timeout "$limit" "$here/run-memlab.sh" "$@" >"$raw" 2>&1 || status=$?
    end=$(date +%s.%N)
    {
        echo "\$ memlab $* --work-dir <temp>"
        echo "# memlab $version, node $(node --version)"
        echo
        sed -e 's/\x1b\[[0-9;]*[A-Za-z]//g' -e 's/\r/\n/g' "$raw" \
            | grep -Ev '^(progress|clustering trace): [0-9]+ / [0-9]+' || true
        echo
        if [ "$status" = 124 ]; then
            echo "# TIMED OUT after ${limit} s (killed; output above is what memlab printed before)"
        elif [ "$status" != 0 ]; then
            echo "# exit status $status"
        fi
        awk -v s="$start" -v e="$end" 'BEGIN { printf "# wall time: %.1f s\n", e - s }'
    } | sed -e "s#$tmp/snap#$case_dir#g" >"$tmp/filtered.txt"
    if [ -n "$full" ]; then cp "$tmp/filtered.txt" "$full/$prefix-$name.txt"; fi
    lines=$(wc -l <"$tmp/filtered.txt")
    if [ "$lines" -gt 250 ]; then
        {
            head -n 200 "$tmp/filtered.txt"
            echo
            echo "[... truncated by run-zoo.sh: $((lines - 230)) of $lines lines cut here; first 200 and last 30 kept ...]"
            echo
            tail -n 30 "$tmp/filtered.txt"
        } >"$file"
    else
        cp "$tmp/filtered.txt" "$file"
    fi
    return 0
}

# trace_listed ANALYSIS: memlab's suggested follow-up to unbound-collection / unbound-object ("Use
# `memlab trace --node-id=@ID` to get trace"): the retainer trace, in the last snapshot, of each of
# the first $trace_ids objects that ANALYSIS listed, into $out/$prefix-ANALYSIS-trace.txt
trace_listed() {
    analysis=$1
    ids=$(sed -n -e 's/^· .*(@\([0-9][0-9]*\)).*/\1/p' "$out/$prefix-$analysis.txt" | head -n "$trace_ids")
    rm -f "$out/$prefix-$analysis-trace.txt"
    if [ -z "$ids" ]; then
        return 0
    fi
    for id in $ids; do
        run "$analysis-trace-$id" "$timeout_s" trace --snapshot "$snap/s3.heapsnapshot" --node-id="$id"
    done
    for id in $ids; do
        cat "$out/$prefix-$analysis-trace-$id.txt"
        echo
        rm -f "$out/$prefix-$analysis-trace-$id.txt"
        if [ -n "$full" ]; then rm -f "$full/$prefix-$analysis-trace-$id.txt"; fi
    done >"$out/$prefix-$analysis-trace.txt"
}

for case in "$@"; do
    kind=${case%%/*}
    name=${case#*/}
    prefix="$kind-$name"
    case_dir="fixtures/zoo/$kind/$name"
    snap="$tmp/snap"
    rm -rf "$snap"
    mkdir -p "$snap"
    for s in s1 s2 s3; do
        gunzip -c "$zoo/$kind/$name/$s.heapsnapshot.gz" >"$snap/$s.heapsnapshot"
    done

    run find-leaks "$timeout_s" find-leaks \
        --baseline "$snap/s1.heapsnapshot" --target "$snap/s2.heapsnapshot" --final "$snap/s3.heapsnapshot"
    run find-leaks-trace-all-objects "$trace_all_timeout_s" find-leaks --trace-all-objects \
        --baseline "$snap/s1.heapsnapshot" --target "$snap/s2.heapsnapshot" --final "$snap/s3.heapsnapshot"
    run unbound-collection "$timeout_s" analyze unbound-collection --snapshot-dir "$snap"
    trace_listed unbound-collection
    run unbound-object "$timeout_s" analyze unbound-object --snapshot-dir "$snap"
    trace_listed unbound-object
    if [ "$kind" = chromium ]; then
        run detached-DOM "$timeout_s" analyze detached-DOM --snapshot "$snap/s3.heapsnapshot"
        run collections-with-stale "$timeout_s" analyze collections-with-stale --snapshot "$snap/s3.heapsnapshot"
    fi
done

ls -l "$out" >&2
