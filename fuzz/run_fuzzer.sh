#!/usr/bin/env bash
# Runs one fuzz target for a bounded time, as the fuzz_<target> ctest tests do: from a fresh
# copy of its checked-in seed corpus (new inputs go to the copy, never into fuzz/corpus/), and
# failing on a crash, a sanitizer report, a leak, a slow input or running out of memory. The
# input that failed is left in the work directory as crash-*, leak-*, timeout-* or oom-*.
# Usage: run_fuzzer.sh <fuzzer> <seed corpus dir> <work dir> <seconds> [libFuzzer flags...]
set -euo pipefail
fuzzer="$1" seeds="$2" work="$3" seconds="$4"
shift 4
rm -rf "$work"
mkdir -p "$work/corpus"
cp "$seeds"/* "$work/corpus/"
exec "$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$work/" "$@" "$work/corpus"
