#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, builds mcpd twice
# (optimised, then with AddressSanitizer + UndefinedBehaviorSanitizer) and runs every test in
# both builds. Ends with ctest's summary line. Usage: scripts/test.sh [ctest args...]
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
run_suite build release -DCMAKE_BUILD_TYPE=RelWithDebInfo
# Under the sanitizers, skip what runs no sanitized code of ours or repeats itself at length:
# the deployment check (scripts and the release binaries), the lock-annotation lint and the 26-scenario conformance
# sweep (its three required scenarios still run sanitized).
CTEST_ARGS=("$@" -E "deploy_files_check|conformance_full_suite|thread_safety_lint")
ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
  run_suite build-asan "asan+ubsan" -DCMAKE_BUILD_TYPE=Debug -DMCPD_SANITIZE=ON -DMCPD_BUILD_BENCH=OFF
