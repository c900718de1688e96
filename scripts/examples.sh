#!/usr/bin/env bash
# Builds the client examples (examples/go, examples/node) and runs both against an mcpd cluster:
# each lists the tools of SERVER and calls its `echo` tool; fails if either exits non-zero or
# prints something unexpected. Safe to run again: npm ci only when the lockfile changed, and go
# build is incremental.
#
# Usage: scripts/examples.sh [--build-only] [SERVER]     (SERVER defaults to "everything")
#
# Environment:
#   MCPD_NATS_URL       the cluster's NATS URL; default: the quick start's node (its URL and
#                       login from .mcpd/credentials/local-nats), else nats://127.0.0.1:4222
#   MCPD_EXAMPLES_OUT   where the Go binary goes (default build/examples)
#   MCPD_GOPATH         GOPATH for the GOPATH-mode build (default /usr/share/gocode, where
#                       Debian's golang-github-nats-io-go-nats-dev puts nats.go)
#
# Needs: apt-get install golang-go golang-github-nats-io-go-nats-dev nodejs npm
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

BUILD_ONLY=0
if [ "${1:-}" = "--build-only" ]; then
  BUILD_ONLY=1
  shift
fi
usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in -h | --help) usage; exit 0 ;; esac
if [ "$#" -gt 1 ]; then usage >&2; exit 2; fi
SERVER="${1:-everything}"
OUT="${MCPD_EXAMPLES_OUT:-$ROOT/build/examples}"
GOPATH_DIR="${MCPD_GOPATH:-/usr/share/gocode}"
# The quick start's embedded nats-server requires the login mcpd generated for it.
LOCAL_LOGIN="$ROOT/.mcpd/credentials/local-nats"
if [ -z "${MCPD_NATS_URL:-}" ] && [ -r "$LOCAL_LOGIN" ]; then
  login_url="$(sed -n 's/^url=//p' "$LOCAL_LOGIN")"
  login_user="$(sed -n 's/^user=//p' "$LOCAL_LOGIN")"
  login_password="$(sed -n 's/^password=//p' "$LOCAL_LOGIN")"
  MCPD_NATS_URL="${login_url/:\/\//://$login_user:$login_password@}"
fi
export MCPD_NATS_URL="${MCPD_NATS_URL:-nats://127.0.0.1:4222}"

die() {
  echo "examples.sh: $*" >&2
  exit 1
}

# --- build --------------------------------------------------------------------------------
command -v go >/dev/null 2>&1 ||
  die "go not found: apt-get install golang-go golang-github-nats-io-go-nats-dev"
[ -d "$GOPATH_DIR/src/github.com/nats-io/nats.go" ] ||
  die "nats.go not found under $GOPATH_DIR/src: apt-get install golang-github-nats-io-go-nats-dev"
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
  die "node/npm not found: apt-get install nodejs npm"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' ||
  die "Node.js >= 18 is needed, this is $(node --version)"

mkdir -p "$OUT"
echo "==> go build examples/go/mcpd-client -> $OUT/mcpd-client"
# GOPATH mode: nats.go comes from the Debian package, nothing is downloaded. The build cache
# stays in the output directory, so a machine without a writable $HOME builds too.
(cd "$ROOT" && GO111MODULE=off GOPATH="$GOPATH_DIR" GOFLAGS= GOCACHE="${GOCACHE:-$OUT/go-cache}" \
  go build -o "$OUT/mcpd-client" ./examples/go/mcpd-client)

NODE_DIR="$ROOT/examples/node"
if [ ! -f "$NODE_DIR/node_modules/.package-lock.json" ] ||
   [ "$NODE_DIR/package-lock.json" -nt "$NODE_DIR/node_modules/.package-lock.json" ]; then
  echo "==> npm ci in examples/node"
  npm ci --prefix "$NODE_DIR" --no-audit --no-fund --loglevel=error
else
  echo "==> examples/node: dependencies present"
fi
[ "$BUILD_ONLY" = 1 ] && exit 0

# --- run ----------------------------------------------------------------------------------
# check NAME MESSAGE CMD...: runs CMD, which must exit 0, print nothing on stderr, list the
# server's tools (echo among them) and print the echoed MESSAGE as the result.
check() {
  local name="$1" message="$2" out err rc=0
  shift 2
  out="$(mktemp)" err="$(mktemp)"
  "$@" >"$out" 2>"$err" || rc=$?
  local why=""
  if [ "$rc" -ne 0 ]; then why="exited with $rc"
  elif [ -s "$err" ]; then why="wrote to stderr"
  elif ! grep -q "^tools of $SERVER ([0-9]*):\$" "$out"; then why="printed no tool list"
  elif ! grep -q '^  echo ' "$out"; then why="listed no echo tool"
  elif ! grep -qx 'result of echo:' "$out" || ! grep -qF "$message" "$out"; then why="did not print the echoed '$message'"
  fi
  if [ -n "$why" ]; then
    echo "FAIL $name $why; stdout:" >&2
    cat "$out" >&2
    echo "stderr:" >&2
    cat "$err" >&2
    rm -f "$out" "$err"
    return 1
  fi
  echo "ok   $name: $(grep -c '^  ' "$out") tools, echo answered: $(grep -F "$message" "$out" | head -1)"
  rm -f "$out" "$err"
}

echo "==> running the examples against server '$SERVER' at ${MCPD_NATS_URL/\/\/*@/\/\/}"  # the login, if any, not shown
failed=0
check go "hi from Go" "$OUT/mcpd-client" -server "$SERVER" -tool echo -args '{"message":"hi from Go"}' || failed=1
check node "hi from Node" node "$NODE_DIR/mcpd-client.mjs" --server "$SERVER" --tool echo \
  --args '{"message":"hi from Node"}' || failed=1
[ "$failed" = 0 ] || die "an example failed"
echo "==> both examples passed"
