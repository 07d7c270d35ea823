#!/usr/bin/env bash
# Nightly leak check: start the service with Node's inspector open, drive load against it,
# take heap snapshots with `heapdiff capture` while the load runs, and gate on what leaks.
# github-actions.yml and gitlab-ci.yml beside this file run it; it runs the same way locally.
#
# Exit code: heapdiff's. 0 nothing breached the gate, 1 the gate was breached (a leak),
# 2 the check could not run (no heapdiff, the service did not come up, a capture error).
#
# Writes to $OUT_DIR: snapshots/<n>.heapsnapshot.gz, report.md, report.json, service.log,
# load.log. With $GITHUB_STEP_SUMMARY set (GitHub Actions), the verdict and report.md are
# appended to the job's summary.
#
# Settings, from the environment [default]:
#   SERVICE_CMD       starts the service; shell syntax, run with PORT=$SERVICE_PORT. It must run
#                     node itself with --inspect=127.0.0.1:$INSPECT_PORT; not `npm start`,
#                     whose own node process would take the inspector's port first.
#                     [node --inspect=127.0.0.1:$INSPECT_PORT dist/server.js]
#   SERVICE_PORT      the service's HTTP port                                          [8080]
#   INSPECT_PORT      the inspector's port                                             [9229]
#   READY_URL         answers 2xx once the service is ready [http://127.0.0.1:$SERVICE_PORT/]
#   READY_TIMEOUT     seconds to wait for it, and for the inspector                      [60]
#   LOAD_URL          what the built-in load requests         [http://127.0.0.1:$SERVICE_PORT/]
#   LOAD_CONCURRENCY  requests in flight in the built-in load                             [2]
#   LOAD_CMD          a load command instead of the built-in one (shell syntax), e.g.
#                     npx --yes autocannon -d 900 -c 10 http://127.0.0.1:8080/api/orders
#   SNAPSHOTS         heap snapshots to take                                              [3]
#   INTERVAL          from one snapshot's start to the next (30s, 2m, ...)               [2m]
#   HEAPDIFF_ARGS     gate and report flags (--fail-on, --fail-if-growth, --ignore, --top),
#                     split at spaces                                        [--fail-on high]
#   OUT_DIR           where everything is written                                [leak-check]
#   HEAPDIFF          the heapdiff binary                                          [heapdiff]
set -euo pipefail

SERVICE_PORT=${SERVICE_PORT:-8080}
INSPECT_PORT=${INSPECT_PORT:-9229}
SERVICE_CMD=${SERVICE_CMD:-node --inspect=127.0.0.1:$INSPECT_PORT dist/server.js}
READY_URL=${READY_URL:-http://127.0.0.1:$SERVICE_PORT/}
READY_TIMEOUT=${READY_TIMEOUT:-60}
LOAD_URL=${LOAD_URL:-http://127.0.0.1:$SERVICE_PORT/}
LOAD_CONCURRENCY=${LOAD_CONCURRENCY:-2}
LOAD_CMD=${LOAD_CMD:-}
SNAPSHOTS=${SNAPSHOTS:-3}
INTERVAL=${INTERVAL:-2m}
HEAPDIFF_ARGS=${HEAPDIFF_ARGS:---fail-on high}
OUT_DIR=${OUT_DIR:-leak-check}
HEAPDIFF=${HEAPDIFF:-heapdiff}

read -r -a heapdiff_args <<<"$HEAPDIFF_ARGS"
service_pid=
load_pid=
heapdiff_pid=
status=2
finished=

say() { echo "leak-check: $*" >&2; }

# Every exit of this script goes through here, so that the exit code is heapdiff's or 2.
exit_with() {
  status=$1
  finished=1
  exit "$status"
}
fail() {
  say "$*"
  exit_with 2
}

# The built-in load: LOAD_CONCURRENCY loops of GET LOAD_URL with Node's fetch (no packages),
# until stopped. It also stops by itself when this script is gone (killed before its trap
# could run), and after an hour at most.
# shellcheck disable=SC2016 # JavaScript, not shell
load_js='
const [url, concurrency, parent] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
let sent = 0, failed = 0;
const done = () => { console.log(`load: ${sent} requests to ${url}, ${failed} failed`); process.exit(0); };
process.on("SIGTERM", done);
setInterval(() => { try { process.kill(parent, 0); } catch { done(); } }, 1000);
setTimeout(done, 3600e3);
async function loop() {
  for (;;) {
    try { const r = await fetch(url); await r.arrayBuffer(); if (!r.ok) failed++; }
    catch { failed++; await new Promise((ok) => setTimeout(ok, 100)); }
    sent++;
  }
}
for (let i = 0; i < concurrency; i++) loop();
'

# 0 when URL answers 2xx within 2 s.
http_ok() {
  node -e 'fetch(process.argv[1], {signal: AbortSignal.timeout(2000)})
    .then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$1"
}

# Run "$@" in the background in a process group of its own (setsid where there is one), so
# that stop() ends whatever it started too: npx's children, a shell's.
start_group() {
  if command -v setsid >/dev/null 2>&1; then
    setsid "$@" &
  else
    "$@" &
  fi
}

# SIGTERM to the process group led by PID, SIGKILL after 5 s.
stop() {
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317 # reached from the EXIT trap
summary() {
  [ -n "${GITHUB_STEP_SUMMARY:-}" ] || return 0
  local verdict
  case $status in
    0) verdict="passed" ;;
    1) verdict="failed: the gate was breached (a leak)" ;;
    *) verdict="could not run (exit $status); see service.log and the job's log" ;;
  esac
  {
    echo "# Leak check: $verdict"
    echo
    if [ -s "$OUT_DIR/report.md" ]; then
      # A step summary holds 1 MiB at most.
      head -c 900000 "$OUT_DIR/report.md"
      [ "$(wc -c <"$OUT_DIR/report.md")" -le 900000 ] || printf '\n\n(cut: see the artifact)\n'
    fi
  } >>"$GITHUB_STEP_SUMMARY"
}

# On every exit (the EXIT trap), and on SIGINT or SIGTERM with the signal's status.
# shellcheck disable=SC2317 # reached from the traps
finish() {
  trap - EXIT INT TERM
  if [ $# -gt 0 ]; then
    status=$1
  elif [ -z "$finished" ]; then
    say "stopped by an unexpected error (see above)"
    status=2
  fi
  stop "$heapdiff_pid"
  stop "$load_pid"
  stop "$service_pid"
  summary || true
  exit "$status"
}
trap finish EXIT
trap 'finish 130' INT
trap 'finish 143' TERM

command -v "$HEAPDIFF" >/dev/null 2>&1 \
  || fail "no heapdiff: put it on PATH or set HEAPDIFF=/path/to/heapdiff"
command -v node >/dev/null 2>&1 || fail "no node on PATH"

mkdir -p "$OUT_DIR"
rm -rf "$OUT_DIR/snapshots" "$OUT_DIR/report.md" "$OUT_DIR/report.json"

say "starting the service: $SERVICE_CMD"
start_group env PORT="$SERVICE_PORT" bash -c "exec $SERVICE_CMD" >"$OUT_DIR/service.log" 2>&1
service_pid=$!

# Ready: the service answers and the inspector lists its target.
deadline=$((SECONDS + READY_TIMEOUT))
for url in "$READY_URL" "http://127.0.0.1:$INSPECT_PORT/json/list"; do
  until http_ok "$url"; do
    if ! kill -0 "$service_pid" 2>/dev/null; then
      say "the service exited before $url answered; the end of service.log:"
      tail -n 20 "$OUT_DIR/service.log" >&2
      exit_with 2
    fi
    [ "$SECONDS" -lt "$deadline" ] \
      || fail "$url did not answer within ${READY_TIMEOUT}s (is the inspector on 127.0.0.1:$INSPECT_PORT?)"

    sleep 0.5
  done
done

if [ -n "$LOAD_CMD" ]; then
  say "load: $LOAD_CMD"
  start_group bash -c "exec $LOAD_CMD" >"$OUT_DIR/load.log" 2>&1
else
  say "load: GET $LOAD_URL, $LOAD_CONCURRENCY at a time"
  start_group node -e "$load_js" "$LOAD_URL" "$LOAD_CONCURRENCY" "$$" >"$OUT_DIR/load.log" 2>&1
fi
load_pid=$!

say "$SNAPSHOTS snapshots, $INTERVAL apart"
# In the background, and waited for: a signal to this script (a cancelled job) then runs its
# trap at once instead of after the last snapshot.
start_group "$HEAPDIFF" capture "127.0.0.1:$INSPECT_PORT" -n "$SNAPSHOTS" \
  --interval "$INTERVAL" --out "$OUT_DIR/snapshots" --format markdown -o "$OUT_DIR/report.md" \
  "${heapdiff_args[@]}"
heapdiff_pid=$!
status=0
wait "$heapdiff_pid" || status=$?
heapdiff_pid=
stop "$load_pid"
load_pid=
[ ! -s "$OUT_DIR/load.log" ] || say "$(tail -n 1 "$OUT_DIR/load.log")"

# The same report as JSON, from the snapshots just taken, in order (capture pads the numbers
# when there are ten or more, 01 … 12, as seq -w does).
if [ "$status" -le 1 ]; then
  snapshots=()
  for n in $(seq -w "$SNAPSHOTS"); do snapshots+=("$OUT_DIR/snapshots/$n.heapsnapshot.gz"); done
  json_status=0
  "$HEAPDIFF" --quiet --format json -o "$OUT_DIR/report.json" "${heapdiff_args[@]}" \
    "${snapshots[@]}" || json_status=$?
  if [ "$json_status" -gt 1 ]; then
    say "report.json could not be written (heapdiff exit $json_status)"
    status=2
  fi
fi

case $status in
  0) say "passed: $OUT_DIR/report.md" ;;
  1) say "leak: the gate was breached; see $OUT_DIR/report.md" ;;
  *) say "heapdiff could not run (exit $status)" ;;
esac
exit_with "$status"
