#!/usr/bin/env bash
# The container image and the compose cluster, run for real with podman (no Docker daemon, no
# image registry needed):
#
#   1. a Debian bookworm base image made with debootstrap (cached), tagged as the Dockerfile's
#      FROM when no such image is present, and a NATS stand-in (Debian's nats-server) for the
#      compose file's nats image, which cannot be pulled without a registry;
#   2. the mcpd image from deploy/docker/Dockerfile, `--target prebuilt`: the real runtime stage
#      with build/bin/mcpd and build/bin/mcpctl copied in (no compile inside: seconds, not minutes);
#   3. deploy/compose/docker-compose.yml up (3 nats-servers + 3 mcpd) under a project name of its
#      own, the NATS ports published on free host ports;
#   4. every container healthy by its own healthcheck, every mcpd node's /readyz answering 200,
#      `mcpctl nodes` through each nats-server listing the three nodes;
#   5. `everything echo` called through each of the three nats-servers (from the host, with
#      build/bin/mcpctl), then one mcpd container killed and the calls made again through all
#      three;
#   6. everything of the project removed (containers, pod, network, volumes), also on failure,
#      after printing the containers' last log lines.
#
# Usage: scripts/container_check.sh   (run as root; scripts/test.sh runs it after the release
# build's tests). Needs build/bin/mcpd and build/bin/mcpctl built on Debian bookworm. Exits 0
# with "!!! SKIPPED" on stderr only where no container engine can run at all; any other problem
# fails it (exit 1). Cache: .cache/containers/ (the debootstrap root file system as a tarball,
# containers.conf) and podman's image store, so a second run takes a minute or two.
#
# podman-compose drives podman directly (no service process to start and stop), and it ignores
# `depends_on: condition: service_healthy`, which docker-compose would wait on forever here:
# without systemd, podman never runs healthchecks by itself. This script runs them instead.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
CACHE="$ROOT/.cache/containers"
COMPOSE_FILE="$ROOT/deploy/compose/docker-compose.yml"
DOCKERFILE="$ROOT/deploy/docker/Dockerfile"
MCPD="$ROOT/build/bin/mcpd"
MCPCTL="$ROOT/build/bin/mcpctl"
BASE_TAR="$CACHE/debian-bookworm-rootfs.tar"
BASE_IMAGE=localhost/mcpd-check/debian:bookworm   # the debootstrap image
FROM_IMAGE=debian:bookworm-slim                   # what the Dockerfile's stages start FROM
NATS_REAL=nats:2.9.10-alpine                      # the compose file's default nats image
NATS_STANDIN=localhost/mcpd-check/nats:bookworm
IMAGE=localhost/mcpd:container-check
PROJECT="mcpd-check-$$"
START=$SECONDS

log() { printf '==> [containers] %s (%ss)\n' "$*" "$((SECONDS - START))"; }
skip() {
  printf '\n!!! SKIPPED: the container check cannot run here: %s\n!!! The image and the compose cluster were NOT tested.\n\n' "$*" >&2
  exit 0
}
fail() { printf '!!! FAILED: container check: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# The engine: installed (or installable), and able to run a container at all.
if [ ! -x "$MCPD" ] || [ ! -x "$MCPCTL" ]; then
  fail "$MCPD and $MCPCTL are not built (scripts/test.sh builds them; or cmake + ninja in build/)"
fi
tools=(podman podman-compose debootstrap runc)
missing=()
for t in "${tools[@]}"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
[ -e /usr/lib/cni/dnsname ] || missing+=(golang-github-containernetworking-plugin-dnsname)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    skip "missing ${missing[*]} and cannot install them (not root, or no apt-get)"
  fi
  log "installing podman buildah runc debootstrap podman-compose (scripts/setup.sh installs them too)"
  mkdir -p "$CACHE"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      podman buildah runc debootstrap podman-compose golang-github-containernetworking-plugin-dnsname; } \
    >"$CACHE/apt.log" 2>&1 || skip "cannot install podman and its tools: $(tail -n 3 "$CACHE/apt.log")"
fi
[ "$(id -u)" -eq 0 ] || skip "podman runs here only as root (the check uses root's image store and CNI networks)"

# podman: the two limits of this sandbox (and of many CI containers) need settings of our own;
# CONTAINERS_CONF points podman and buildah at this file instead of /etc/containers.
mkdir -p "$CACHE"
cat >"$CACHE/containers.conf" <<'EOF'
# Written by scripts/container_check.sh.
[containers]
# The default (1048576 open files) is above what an unprivileged sandbox may set.
default_ulimits = ["nofile=20000:20000", "nproc=20000:20000"]
[network]
network_backend = "cni"
[engine]
# crun fails on setrlimit and on a hybrid cgroup layout; runc does not.
runtime = "runc"
EOF
export CONTAINERS_CONF="$CACHE/containers.conf"

out="$(timeout 60 podman info 2>&1)" || skip "podman info fails: $(tail -n 3 <<<"$out")"

# ---------------------------------------------------------------------------------------------
# Tear down a compose project: its containers (all at once, by label: podman-compose stops them
# one by one), then podman-compose down -v, then by label whatever a failed `up` left half made.
teardown() {  # teardown <project>
  local p="$1" ids
  ids="$(podman ps -aq --filter "label=io.podman.compose.project=$p" 2>/dev/null || true)"
  # shellcheck disable=SC2086  # a list of ids
  [ -z "$ids" ] || timeout 60 podman rm -f -t 2 $ids >/dev/null 2>&1 || true
  timeout 120 podman-compose -p "$p" -f "$COMPOSE_FILE" down -v -t 2 >/dev/null 2>&1 || true
  podman pod rm -f "pod_$p" >/dev/null 2>&1 || true
  ids="$(podman volume ls -q --filter "label=io.podman.compose.project=$p" 2>/dev/null || true)"
  # shellcheck disable=SC2086  # a list of ids
  [ -z "$ids" ] || podman volume rm -f $ids >/dev/null 2>&1 || true
  for net in $(podman network ls -q 2>/dev/null | grep -x -e "${p}_default" -e "${p//-/}_default" || true); do
    podman network rm -f "$net" >/dev/null 2>&1 || true
  done
}

# Projects of earlier runs killed before their own cleanup (their pid is gone).
for p in $(podman ps -a --format '{{index .Labels "io.podman.compose.project"}}' 2>/dev/null |
           grep -E '^mcpd-check-[0-9]+$' | sort -u); do
  kill -0 "${p##*-}" 2>/dev/null || { log "removing $p, left by an earlier run"; teardown "$p"; }
done

on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [ "$rc" -ne 0 ]; then
    for c in $(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}' 2>/dev/null); do
      printf -- '--- %s (%s): last log lines\n' "$c" "$(podman inspect -f '{{.State.Status}}' "$c" 2>/dev/null)" >&2
      podman logs --tail 25 "$c" 2>&1 | sed 's/^/    /' >&2
    done
    [ ! -s "$WORK/compose-up.log" ] || { echo "--- podman-compose up, last lines:" >&2; tail -n 15 "$WORK/compose-up.log" >&2; }
  fi
  log "tearing down $PROJECT"
  teardown "$PROJECT"
  rm -rf "$WORK"
  exit "$rc"
}
WORK="$(mktemp -d)"
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Images. The base: an existing image the Dockerfile's FROM names, else the debootstrap one.
if ! podman image exists "$BASE_IMAGE"; then
  if [ ! -s "$BASE_TAR" ]; then
    mirror="$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n 1)"
    [ -n "$mirror" ] || mirror="$(sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) bookworm .*/\2/p' /etc/apt/sources.list 2>/dev/null | head -n 1)"
    [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
    log "debootstrap bookworm (minbase) from $mirror into the cache"
    rootfs="$WORK/rootfs"
    timeout 600 debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 ||
      fail "debootstrap failed: $(tail -n 5 "$WORK/debootstrap.log")"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -cf "$BASE_TAR.tmp" . && mv "$BASE_TAR.tmp" "$BASE_TAR"
    rm -rf "$rootfs"
  fi
  log "importing $BASE_IMAGE from $BASE_TAR"
  podman import --change 'CMD ["bash"]' "$BASE_TAR" "$BASE_IMAGE" >/dev/null ||
    fail "podman import of $BASE_TAR failed"
fi
# Can this engine run a container at all? Only this (and the checks above) may skip.
out="$(timeout 120 podman run --rm --network none "$BASE_IMAGE" true 2>&1)" ||
  skip "podman cannot run a container: $(tail -n 3 <<<"$out")"
if podman image exists "$FROM_IMAGE"; then
  log "base: $FROM_IMAGE (present)"
else
  podman tag "$BASE_IMAGE" "localhost/$FROM_IMAGE"
  log "base: localhost/$FROM_IMAGE, tagged from $BASE_IMAGE"
fi

# The NATS image: the real one if present, else a stand-in with Debian's nats-server (2.9.10,
# the version the compose file names) and wget for the compose healthcheck.
if podman image exists "$NATS_REAL"; then
  NATS_IMAGE="$NATS_REAL"
else
  NATS_IMAGE="$NATS_STANDIN"
  if ! podman image exists "$NATS_STANDIN"; then
    log "building the NATS stand-in $NATS_STANDIN"
    mkdir -p "$WORK/nats-ctx"
    timeout 600 podman build --pull=never -t "$NATS_STANDIN" -f - "$WORK/nats-ctx" >"$WORK/nats-build.log" 2>&1 <<EOF ||
FROM $BASE_IMAGE
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nats-server wget \
 && rm -rf /var/lib/apt/lists/*
EOF
      fail "building the NATS stand-in failed: $(tail -n 10 "$WORK/nats-build.log")"
  fi
fi
log "nats image: $NATS_IMAGE"

log "building $IMAGE from deploy/docker/Dockerfile --target prebuilt (build/bin/mcpd, build/bin/mcpctl)"
old_image="$(podman image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
timeout 900 podman build --pull=never --format docker --target prebuilt \
    --ignorefile deploy/docker/Dockerfile.dockerignore -f "$DOCKERFILE" -t "$IMAGE" . \
    >"$WORK/build.log" 2>&1 || fail "podman build failed: $(tail -n 20 "$WORK/build.log")"
# The previous run's image, if new binaries replaced it (its layers below them stay cached).
if [ -n "$old_image" ] && [ "$old_image" != "$(podman image inspect -f '{{.Id}}' "$IMAGE")" ]; then
  podman rmi "$old_image" >/dev/null 2>&1 || true
fi
grep -q 'STEP .*FROM .* AS build$' "$WORK/build.log" &&
  fail "podman build --target prebuilt ran the compile stage (see deploy/docker/Dockerfile)"
# The image runs its own binaries with the runtime stage's libraries.
out="$(timeout 60 podman run --rm --network none --entrypoint /usr/local/bin/mcpctl "$IMAGE" --help 2>&1)" ||
  fail "mcpctl does not run in $IMAGE: $(tail -n 5 <<<"$out")"
out="$(timeout 60 podman run --rm --network none --entrypoint /usr/local/bin/mcpd "$IMAGE" --help 2>&1)" ||
  fail "mcpd does not run in $IMAGE: $(tail -n 5 <<<"$out")"

# ---------------------------------------------------------------------------------------------
# The cluster, its NATS ports on free host ports (ctest runs other tests on 4222 etc.).
read -r -a PORTS < <(python3 - <<'PY'
import socket
socks = []
for _ in range(6):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)
export MCPD_IMAGE="$IMAGE" NATS_IMAGE="$NATS_IMAGE"
export MCPD_NATS_1_PORT="${PORTS[0]}" MCPD_NATS_2_PORT="${PORTS[1]}" MCPD_NATS_3_PORT="${PORTS[2]}"
export MCPD_NATS_1_HTTP_PORT="${PORTS[3]}" MCPD_NATS_2_HTTP_PORT="${PORTS[4]}" MCPD_NATS_3_HTTP_PORT="${PORTS[5]}"
URLS=("nats://127.0.0.1:${PORTS[0]}" "nats://127.0.0.1:${PORTS[1]}" "nats://127.0.0.1:${PORTS[2]}")

# A machine whose HTTPS goes through a proxy with a CA of its own (local certificates in
# /usr/local/share/ca-certificates) gives the nodes its CA bundle, or npx in them cannot fetch
# the servers from the npm registry (Node.js in the image reads the system store).
COMPOSE_FILES=(-f "$COMPOSE_FILE")
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null && [ -s /etc/ssl/certs/ca-certificates.crt ]; then
  {
    echo "services:"
    for svc in mcpd-1 mcpd-2 mcpd-3; do
      printf '  %s:\n    volumes:\n      - /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro\n' "$svc"
    done
  } >"$WORK/ca-override.yml"
  COMPOSE_FILES+=(-f "$WORK/ca-override.yml")
  log "this machine has local CA certificates: the nodes get its /etc/ssl/certs/ca-certificates.crt"
fi

log "podman-compose up: project $PROJECT, NATS on 127.0.0.1:${PORTS[0]},${PORTS[1]},${PORTS[2]}"
timeout 180 podman-compose -p "$PROJECT" "${COMPOSE_FILES[@]}" up -d --no-build >"$WORK/compose-up.log" 2>&1 ||
  fail "podman-compose up failed (exit $?)"
mapfile -t CONTAINERS < <(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}' | sort)
[ "${#CONTAINERS[@]}" -eq 6 ] || fail "expected 6 containers, found ${#CONTAINERS[@]}: ${CONTAINERS[*]}"
container() {  # container <service>: its container's name
  local c
  for c in "${CONTAINERS[@]}"; do
    [ "$(podman inspect -f '{{index .Config.Labels "com.docker.compose.service"}}' "$c")" != "$1" ] || { echo "$c"; return; }
  done
  fail "no container for the service $1 among ${CONTAINERS[*]}"
}

# Waits until a command succeeds, at most <seconds>.
wait_for() {  # wait_for <seconds> <what> <command...>
  local limit=$(( SECONDS + $1 )) what="$2" out=""
  shift 2
  until out="$("$@" 2>&1)"; do
    [ "$SECONDS" -lt "$limit" ] || fail "$what: not within the deadline; last answer: $(tail -n 5 <<<"$out")"
    sleep 2
  done
}

# Every container healthy by its own healthcheck (nats: /healthz; mcpd: the image's
# mcpd-healthcheck, `mcpctl nodes` listing its node id), run by hand: no systemd runs them.
for svc in nats-1 nats-2 nats-3 mcpd-1 mcpd-2 mcpd-3; do
  c="$(container "$svc")"
  wait_for 120 "$svc ($c) healthy" podman healthcheck run "$c"
done
log "all 6 containers healthy"
readyz() {  # readyz <container>: its mcpd's /readyz answers 200 (node is in the image)
  podman exec "$1" node -e '
    require("http").get("http://127.0.0.1:9464/readyz", r => {
      let b = ""; r.on("data", d => b += d);
      r.on("end", () => { console.log(r.statusCode, b.trim()); process.exit(r.statusCode === 200 ? 0 : 1); });
    }).on("error", e => { console.log(e.message); process.exit(1); });'
}
for svc in mcpd-1 mcpd-2 mcpd-3; do
  wait_for 60 "$svc /readyz" readyz "$(container "$svc")"
done
log "every node's /readyz: 200"
nodes_seen() {  # nodes_seen <url> <node ids...>: mcpctl nodes through <url> lists them all
  local url="$1" out id
  shift
  out="$("$MCPCTL" --nats "$url" --timeout 5000 --json nodes --wait 2000)" || return 1
  for id in "$@"; do tr -d ' \n' <<<"$out" | grep -qF "\"id\":\"$id\"" || { echo "no $id in: $out"; return 1; }; done
}
for url in "${URLS[@]}"; do
  wait_for 60 "the three nodes through $url" nodes_seen "$url" node-1 node-2 node-3
done
log "mcpctl nodes through each nats-server: node-1, node-2, node-3"

# Calls: `everything echo` through each nats-server. The first ones start the server in each
# node (npx fetches it from the npm registry on a fresh volume), so they get a longer deadline.
call() {  # call <url> <message>: the echo comes back
  local out
  out="$("$MCPCTL" --nats "$1" --timeout 60000 call everything echo --args "{\"message\":\"$2\"}" 2>&1)" || { echo "$out"; return 1; }
  grep -qF "$2" <<<"$out" || { echo "no echo of '$2' in: $out"; return 1; }
}
n=0
for url in "${URLS[@]}"; do
  n=$((n + 1))
  wait_for 240 "everything echo through nats-$n ($url)" call "$url" "hello via nats-$n"
done
# More calls, so that each node most likely has served some (a call lands on any node of the
# queue group) and none is still fetching the server when one is killed.
for i in $(seq 1 9); do
  call "${URLS[$(( i % 3 ))]}" "warm-up $i" >/dev/null || fail "warm-up call $i through ${URLS[$(( i % 3 ))]} failed"
done
log "everything echo through each of the 3 nats-servers"

victim="$(container mcpd-2)"
log "killing $victim (node-2)"
podman kill "$victim" >/dev/null || fail "podman kill $victim failed"
wait_for 30 "node-2 gone from mcpctl nodes" bash -c \
  "! \"$MCPCTL\" --nats \"${URLS[0]}\" --timeout 5000 --json nodes --wait 2000 | tr -d ' \n' | grep -qF '\"id\":\"node-2\"'"
status="$(podman inspect -f '{{.State.Status}}' "$victim")"
failed=0
for round in 1 2 3; do
  n=0
  for url in "${URLS[@]}"; do
    n=$((n + 1))
    out="$(call "$url" "after the kill $round via nats-$n")" || { failed=$((failed + 1)); echo "    call $round through nats-$n failed: $out" >&2; }
  done
done
[ "$failed" -eq 0 ] || fail "$failed of 9 calls failed after node-2 was killed"
for url in "${URLS[@]}"; do
  nodes_seen "$url" node-1 node-3 >/dev/null || fail "node-1 and node-3 do not both answer through $url after the kill"
done
log "node-2 killed ($victim: $status): 9 of 9 calls through the 3 nats-servers answered by node-1 and node-3"
log "passed"
