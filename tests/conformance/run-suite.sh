#!/usr/bin/env bash
# Runs every client scenario of the pinned MCP conformance suite against mcpd's client, one
# after the other, and compares the outcome with the baseline, expected-failures.txt:
#
#   tests/conformance/run-suite.sh [--results FILE] [SCENARIO...]
#   tests/conformance/run-suite.sh --list
#
# Exits 1 if a scenario failed that the baseline does not list (a regression, or a new
# scenario), if a scenario the baseline lists passed (a stale entry: remove it), or if the
# baseline names a scenario the suite does not have. --results FILE writes the outcome as a
# Markdown table (tests/conformance/results.md is one). Naming scenarios runs only those (the
# stale-entry check then covers only them). Each scenario's client may take
# $MCPD_CONFORMANCE_TIMEOUT ms (default 30000); ctest runs this as conformance_full_suite.
set -euo pipefail

RESULTS=""
LIST_ONLY=0
ONLY=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --results) RESULTS="${2:?--results needs a FILE}"; shift 2 ;;
    --list) LIST_ONLY=1; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    *) ONLY+=("$1"); shift ;;
  esac
done
[ -z "$RESULTS" ] || RESULTS="$(cd "$(dirname "$RESULTS")" && pwd)/$(basename "$RESULTS")"

# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
BASELINE="$CONF_DIR/expected-failures.txt"
TIMEOUT_MS="${MCPD_CONFORMANCE_TIMEOUT:-30000}"

mapfile -t ALL < <(conformance list --client | sed -n 's/^  - \([^ ]*\).*/\1/p')
[ "${#ALL[@]}" -gt 0 ] || conf_fail "conformance list --client named no scenarios"
declare -A IS_SCENARIO=()
for s in "${ALL[@]}"; do IS_SCENARIO[$s]=1; done
if [ "$LIST_ONLY" -eq 1 ]; then
  printf '%s\n' "${ALL[@]}"
  exit 0
fi

# The baseline: "<scenario> <reason>" a line; blank lines and '#' comments ignored.
declare -A EXPECTED=()
problems=()
[ -f "$BASELINE" ] || conf_fail "no baseline at $BASELINE"
while IFS= read -r line || [ -n "$line" ]; do
  line="${line%%$'\r'}"
  [[ -z "${line// /}" || "$line" == \#* ]] && continue
  name="${line%% *}"
  reason="${line#"$name"}"
  reason="${reason#"${reason%%[! ]*}"}"
  [ -n "$reason" ] || problems+=("baseline: '$name' has no reason (write '<scenario> <one-line reason>')")
  [ -z "${EXPECTED[$name]+x}" ] || problems+=("baseline: '$name' is listed twice")
  EXPECTED[$name]="$reason"
  [ -n "${IS_SCENARIO[$name]+x}" ] ||
    problems+=("baseline: '$name' is not a client scenario of conformance $PINNED_SUITE (stale entry: remove it)")
done <"$BASELINE"

SCENARIOS=("${ALL[@]}")
if [ "${#ONLY[@]}" -gt 0 ]; then
  for s in "${ONLY[@]}"; do
    [ -n "${IS_SCENARIO[$s]+x}" ] || conf_fail "'$s' is not a client scenario (see --list)"
  done
  SCENARIOS=("${ONLY[@]}")
fi

# Passes worth a word in the results.
declare -A NOTES=(
  [auth/resource-mismatch]="passes because mcpd never starts an OAuth flow: it checks that a client does not authorize against a mismatched resource"
)

cd "$CONF_WORK"
rows=()
passed=0 failed=0 unexpected=0 stale=0
start=$SECONDS
echo "conformance $PINNED_SUITE, Node.js $node_version: ${#SCENARIOS[@]} client scenarios, baseline $BASELINE"
for s in "${SCENARIOS[@]}"; do
  log="$CONF_WORK/$(echo "$s" | tr '/' '_').log"
  t0=$SECONDS rc=0
  # The harness stops the client at TIMEOUT_MS; this outer limit only guards the harness itself.
  timeout $((TIMEOUT_MS / 1000 + 60)) "$NODE" "$CONFORMANCE" client --command "bash $CONF_DIR/run-client.sh" \
    --scenario "$s" --timeout "$TIMEOUT_MS" >"$log" 2>&1 || rc=$?
  secs=$((SECONDS - t0))
  checks="$(sed 's/\x1b\[[0-9;]*m//g' "$log" | sed -n 's/^Passed: \([0-9]*\/[0-9]*\), \([0-9]*\) failed, \([0-9]*\) warnings.*/\1 checks passed, \2 failed, \3 warnings/p' | tail -n 1)"
  [ -n "$checks" ] || checks="no check results (harness exit $rc)"
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    if [ -n "${EXPECTED[$s]+x}" ]; then
      stale=$((stale + 1))
      verdict="STALE" result="pass (listed in the baseline: remove the entry)"
    else
      verdict="ok" result="pass"
    fi
    note="${NOTES[$s]:-}"
  else
    failed=$((failed + 1))
    if [ -n "${EXPECTED[$s]+x}" ]; then
      verdict="expected" result="fail (expected)"
      note="${EXPECTED[$s]}"
    else
      unexpected=$((unexpected + 1))
      verdict="FAIL" result="FAIL (not in the baseline)"
      note="$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -m1 -E '^ +(Error|Warning): |^run-client: |^mcpctl: ' | sed 's/^ *//' || true)"
    fi
  fi
  printf '%-9s %-45s %3ss  %s\n' "$verdict" "$s" "$secs" "$checks"
  if [ "$verdict" = "FAIL" ]; then
    echo "---- $s: the harness said (last 40 lines):"
    sed 's/\x1b\[[0-9;]*m//g' "$log" | tail -n 40 | sed 's/^/    /'
  fi
  rows+=("| \`$s\` | $result | $checks | ${note//|/\\|} |")
done

if [ -n "$RESULTS" ]; then
  {
    echo "# MCP conformance suite: client scenarios"
    echo
    echo "\`@modelcontextprotocol/conformance\` $PINNED_SUITE under Node.js $node_version, every client scenario"
    echo "run by \`tests/conformance/run-suite.sh --results tests/conformance/results.md\` against mcpd's"
    echo "client (\`run-client.sh\`: nats-server + mcpd + mcpctl), on $(date -u +%Y-%m-%d). Expected failures and"
    echo "their reasons come from \`expected-failures.txt\`. Totals: $passed passed, $failed failed"
    echo "($((failed - unexpected)) expected, $unexpected unexpected), $stale stale baseline entries."
    echo
    echo "| scenario | result | checks | note |"
    echo "| --- | --- | --- | --- |"
    printf '%s\n' "${rows[@]}"
  } >"$RESULTS"
  echo "results written to $RESULTS"
fi

for p in "${problems[@]}"; do echo "$p" >&2; done
echo "conformance client suite: $passed passed, $failed failed ($((failed - unexpected)) expected by the baseline)," \
  "$unexpected unexpected, $stale stale baseline entries, in $((SECONDS - start)) s"
[ "$unexpected" -eq 0 ] && [ "$stale" -eq 0 ] && [ "${#problems[@]}" -eq 0 ]
