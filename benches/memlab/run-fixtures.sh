#!/bin/sh
# Run memlab's find-leaks and its unbound-collection / unbound-object analyses
# on the committed `service` series (fixtures/v8/service/s1|s2|s3.heapsnapshot.gz,
# see fixtures/v8/service/EXPECTED.md) and write memlab's text output to
# benches/memlab/fixture-results/*.txt.
#
#   benches/memlab/run-fixtures.sh
#
# memlab reads only uncompressed files, and its `analyze` plugins take a
# directory (--snapshot-dir) and load every *.heapsnapshot in it in order
# (s1, s2, s3 are sorted by number), so the series is gunzipped into a temp
# dir. The temp dir's path is replaced by fixtures/v8/service in the output,
# and memlab's progress counters ("progress: N / M", "clustering trace: N / M",
# which it overwrites in place on a terminal) are dropped; nothing else is.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
src="$repo/fixtures/v8/service"
out="$here/fixture-results"
mkdir -p "$out"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/memlab-fixtures.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
for s in s1 s2 s3; do
    gunzip -c "$src/$s.heapsnapshot.gz" >"$tmp/$s.heapsnapshot"
done

run() {
    name=$1
    shift
    echo "== $name: memlab $*" >&2
    {
        echo "\$ memlab $* --work-dir <temp>" | sed -e "s#$tmp#fixtures/v8/service#g"
        echo "# memlab $(node -p 'require(process.argv[1]).version' "$here/node_modules/memlab/package.json"), node $(node --version)"
        echo
        MEMLAB_PLAIN=1 "$here/run-memlab.sh" "$@" || echo "(exit status $?)"
    } | sed -e "s#$tmp#fixtures/v8/service#g" \
        | grep -Ev '^(progress|clustering trace): [0-9]+ / [0-9]+' >"$out/$name.txt"
}

# find-leaks, default leak filter (what `memlab find-leaks` reports as is)
run find-leaks find-leaks \
    --baseline "$tmp/s1.heapsnapshot" --target "$tmp/s2.heapsnapshot" --final "$tmp/s3.heapsnapshot"
# find-leaks with the leak filter off: every object allocated between baseline
# and target that is still alive in final is traced and clustered by path
run find-leaks-trace-all-objects find-leaks --trace-all-objects \
    --baseline "$tmp/s1.heapsnapshot" --target "$tmp/s2.heapsnapshot" --final "$tmp/s3.heapsnapshot"
run unbound-collection analyze unbound-collection --snapshot-dir "$tmp"
run unbound-object analyze unbound-object --snapshot-dir "$tmp"

ls -l "$out" >&2
