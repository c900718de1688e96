#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, builds mcpd twice
# (optimised, then with AddressSanitizer + UndefinedBehaviorSanitizer) and runs every test in
# both builds; in between, runs the container image and the compose cluster with podman
# (scripts/container_check.sh) and builds the libFuzzer targets (fuzz/, clang) and runs each for 30 s.
# Ends with ctest's summary line. Usage: scripts/test.sh [ctest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

JOBS="$(nproc)"
run_suite() {  # run_suite <build dir> <label> [cmake args...]
  local dir="$1" label="$2"
  shift 2
  echo "==> [$label] configure and build in $dir"
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
  ninja -C "$dir" -j "$JOBS"
  echo "==> [$label] ctest"
  (cd "$dir" && ctest -j "$JOBS" --output-on-failure --timeout 300 "${CTEST_ARGS[@]}")
}

CTEST_ARGS=("$@")
# Line tables only (-g1): stack traces and sanitizer reports keep file:line, and the two builds
# take markedly less time to compile and link than with full debug info.
run_suite build release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"

# The container image (deploy/docker/Dockerfile, --target prebuilt: the release binaries in the
# real runtime stage) and the compose cluster (3 nats-servers + 3 nodes) run with podman: every
# node serves, calls go through each nats-server, and on after one node is killed. About 1.5 min
# with its cache (.cache/containers/ and podman's images), 6-7 min the first time; it skips
# (loudly) only where no container engine can run.
echo "==> [containers] scripts/container_check.sh"
scripts/container_check.sh

# The fuzz targets (fuzz/README.md), each fuzzing for 30 s from its seed corpus: only they and
# the libraries they use are built (no tests, no benchmarks), at -O1 with line tables.
echo "==> [fuzz] configure and build in build-fuzz"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DMCPD_FUZZ=ON -DMCPD_BUILD_TESTS=OFF -DMCPD_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" >/dev/null
ninja -C build-fuzz -j "$JOBS" fuzzers
echo "==> [fuzz] ctest"
(cd build-fuzz && ctest -j 2 --output-on-failure)

# Under the sanitizers, skip what runs no sanitized code of ours or repeats itself at length:
# the deployment check (scripts and the release binaries), the lock-annotation lint, the 26-scenario conformance
# sweep (its three required scenarios still run sanitized) and the soak tests (label soak: their
# RSS bound means nothing under ASan).
CTEST_ARGS=("$@" -E "deploy_files_check|conformance_full_suite|thread_safety_lint" -LE soak)
ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
  run_suite build-asan "asan+ubsan" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g1" -DMCPD_SANITIZE=ON -DMCPD_BUILD_BENCH=OFF
