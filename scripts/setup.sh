#!/usr/bin/env bash
# Installs everything mcpd needs to build, test and run on a Debian machine (run as root, or
# with sudo available): the Debian packages, Node.js if missing, and the pinned npm MCP
# servers under tests/. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libnats-dev libssl-dev nlohmann-json3-dev libspdlog-dev libsqlite3-dev catch2
  libtomlplusplus-dev libasio-dev libcurl4-openssl-dev libsystemd-dev
  nats-server sqlite3 docker-compose systemd python3 clang libfuzzer-14-dev
  golang-go golang-github-nats-io-go-nats-dev libcivetweb-dev prometheus
  podman buildah runc debootstrap podman-compose golang-github-containernetworking-plugin-dnsname
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "==> Debian packages: all present"
fi

# valijson (JSON Schema validation, header-only): Debian's package pulls in Qt, Poco and ~100
# other packages for adapters we do not use, so we unpack just its headers into .cache/.
VALIJSON_DIR=.cache/valijson
if [ ! -f "$VALIJSON_DIR/usr/include/valijson/validator.hpp" ] && [ ! -f /usr/include/valijson/validator.hpp ]; then
  echo "==> unpacking the valijson headers into $VALIJSON_DIR"
  tmp="$(mktemp -d)"
  (cd "$tmp" && apt-get download libvalijson-dev >/dev/null 2>&1 ||
     { $SUDO apt-get update -qq && apt-get download libvalijson-dev >/dev/null 2>&1; })
  mkdir -p "$VALIJSON_DIR"
  dpkg -x "$tmp"/libvalijson-dev_*.deb "$VALIJSON_DIR"
  rm -rf "$tmp"
fi

# Pinned npm packages: MCP servers for the tests (tests/) and the quick start
# (deploy/example-servers/), and the Node.js client example (examples/node/).
for dir in tests tests/conformance deploy/example-servers examples/node; do
  if [ ! -d "$dir/node_modules" ] ||
     [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "==> installing pinned npm packages ($dir/package-lock.json)"
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
  else
    echo "==> npm packages in $dir: present"
  fi
done
