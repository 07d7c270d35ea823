#!/usr/bin/env bash
# Regenerate docs/html-report.png: the HTML report of the committed service pair, as headless
# Chromium draws it. Needs a release build and chromium (or CHROMIUM=...).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
target/release/heapdiff -q --format html -o "$tmp/report.html" \
  fixtures/v8/service/s1.heapsnapshot.gz fixtures/v8/service/s2.heapsnapshot.gz
"${CHROMIUM:-chromium}" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --window-size=1280,1500 --screenshot="$tmp/shot.png" "file://$tmp/report.html" 2>/dev/null
mv "$tmp/shot.png" docs/html-report.png
ls -l docs/html-report.png
