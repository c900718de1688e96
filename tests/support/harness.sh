# shellcheck shell=bash
# Shared by the shell tests that run real processes (sourced, not run): waiting with a
# deadline, stopping a process they started, a free loopback port, a nats-server on one and
# mcpd serving on it, and `expect`, which checks a command's exit status and output.
#
# The sourcing script defines fail MESSAGE... (how it reports a fatal problem, and exits) and
# sets WORK (its temporary directory) before calling these. Each process started here is also
# listed in $WORK/pids, one pid a line, for a watchdog that must outlive the script.

# wait_for SECONDS CMD...: runs CMD until it succeeds or SECONDS pass.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

# stop PID [GRACE]: SIGTERM, up to GRACE seconds (default 5) to exit, then SIGKILL. Returns 0
# if it exited by itself with status 0 (or was not running); else sets STOP_PROBLEM.
# shellcheck disable=SC2034  # STOP_PROBLEM is for the caller to report
STOP_PROBLEM=""
# shellcheck disable=SC2034
stop() {
  local pid="$1" grace="${2:-5}" status=0
  STOP_PROBLEM=""
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq $((grace * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    STOP_PROBLEM="did not exit within $grace s of SIGTERM (killed): a shutdown hang"
    return 1
  fi
  wait "$pid" 2>/dev/null || status=$?
  if [ "$status" -ne 0 ]; then
    STOP_PROBLEM="exited with status $status on SIGTERM (a sanitizer report or a crash: see its log)"
    return 1
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# need_nats_server: sets NATS_SERVER, or fails if nats-server is not installed (the Debian
# package puts it in /usr/sbin, often not on PATH).
need_nats_server() {
  NATS_SERVER="$(command -v nats-server || true)"
  [ -n "$NATS_SERVER" ] || NATS_SERVER=/usr/sbin/nats-server
  [ -x "$NATS_SERVER" ] || fail "nats-server is not installed (apt-get install nats-server)"
}

nats_ready_or_gone() {
  ! kill -0 "$NATS_PID" 2>/dev/null || grep -q "Server is ready" "$WORK/nats.log"
}
# start_nats: $NATS_SERVER on a free loopback port, its log in $WORK/nats.log; another
# process may take the port first, so up to 5 tries. Sets NATS_PID and NATS_URL once ready.
start_nats() {
  local port
  for _ in 1 2 3 4 5; do
    port="$(free_port)"
    "$NATS_SERVER" -a 127.0.0.1 -p "$port" >"$WORK/nats.log" 2>&1 &
    NATS_PID=$!
    echo "$NATS_PID" >>"$WORK/pids"
    wait_for 10 nats_ready_or_gone || fail "nats-server not ready within 10 s"
    if kill -0 "$NATS_PID" 2>/dev/null; then
      NATS_URL="nats://127.0.0.1:$port"
      return 0
    fi
    wait "$NATS_PID" 2>/dev/null || true
    NATS_PID=""
    grep -q "address already in use" "$WORK/nats.log" || fail "nats-server did not start: $(tail -n 5 "$WORK/nats.log")"
  done
  fail "nats-server found no free port in 5 tries"
}

# mcpd_lists SERVER: mcpd is still running and `mcpctl server ls` on $NATS_URL lists SERVER.
mcpd_lists() {
  kill -0 "$MCPD_PID" 2>/dev/null || fail "mcpd exited at start"
  "$MCPCTL" --nats "$NATS_URL" --timeout 500 server ls >"$WORK/ls.out" 2>&1 && grep -q "^$1 " "$WORK/ls.out"
}
# start_mcpd CONFIG SERVER SECONDS: $MCPD with CONFIG, its log in $WORK/mcpd.log; sets MCPD_PID
# and waits up to SECONDS until it serves SERVER (polled with $MCPCTL).
start_mcpd() {
  "$MCPD" --config "$1" >"$WORK/mcpd.log" 2>&1 </dev/null &
  MCPD_PID=$!
  echo "$MCPD_PID" >>"$WORK/pids"
  wait_for "$3" mcpd_lists "$2" || fail "mcpd did not serve within $3 s: $(cat "$WORK/ls.out")"
}

# expect NAME WANT_RC STDOUT_TEXT STDERR_TEXT CMD...: CMD exits WANT_RC, its stdout contains
# STDOUT_TEXT and its stderr contains STDERR_TEXT (an empty text is not checked); else the
# script fails, showing both. Counts the passes in `passed`; CMD's output stays in $WORK/out
# and $WORK/err for further checks.
passed=0
expect() {
  local name="$1" want_rc="$2" want_out="$3" want_err="$4" rc=0
  shift 4
  "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  if [ "$rc" -ne "$want_rc" ] ||
     { [ -n "$want_out" ] && ! grep -qF -- "$want_out" "$WORK/out"; } ||
     { [ -n "$want_err" ] && ! grep -qF -- "$want_err" "$WORK/err"; }; then
    echo "FAIL $name: exit $rc (want $want_rc), stdout should contain '$want_out', stderr '$want_err'" >&2
    echo "--- $*" >&2
    echo "--- stdout:" >&2; cat "$WORK/out" >&2
    echo "--- stderr:" >&2; cat "$WORK/err" >&2
    exit 1
  fi
  echo "ok   $name"
  passed=$((passed + 1))
}
