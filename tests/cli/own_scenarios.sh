#!/usr/bin/env bash
# A program of its own over cfsim::cli_main (own_scenarios_cli.cpp): list, run, replay and sweep
# work on its scenarios, its binary is named in printed commands, and it carries no demo scenario.
#   usage: own_scenarios.sh PATH/TO/own_scenarios_cli
set -uo pipefail
BIN=$(realpath "$1")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cfsim-own.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1

fail() {
  echo "FAIL: $*" >&2
  for f in out.txt err.txt; do [ -f "$f" ] && { echo "--- $f:" >&2; head -c 3000 "$f" >&2; }; done
  exit 1
}
expect() {
  local want=$1
  shift
  "$@" >out.txt 2>err.txt
  local got=$?
  [ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want"
}
has() { grep -qF -- "$2" "$1" || fail "$1 lacks: $2"; }
lacks() { ! grep -qF -- "$2" "$1" || fail "$1 should not contain: $2"; }

expect 0 "$BIN" list
has out.txt "own-flaky"
has out.txt "own-steady"
lacks out.txt "kernel-race"
[ "$(wc -l <out.txt)" -eq 2 ] || fail "list shows $(wc -l <out.txt) scenarios, expected 2"

expect 0 "$BIN" run own-steady --seed 3 --trace steady.jsonl
expect 0 "$BIN" replay steady.jsonl
has out.txt "identical: "

# Messages name this program, not cfsim.
expect 2 "$BIN" run kernel-race
has err.txt "own_scenarios_cli: error: "

# A sweep forks this program: its children know the program's scenarios.
expect 1 "$BIN" sweep own-flaky --seeds 1..20 --jobs 2 --out results.jsonl
[ "$(wc -l <results.jsonl)" -eq 20 ] || fail "sweep wrote $(wc -l <results.jsonl) result lines, expected 20"
has results.jsonl '"passed":true'
has results.jsonl '"passed":false'
has results.jsonl "$BIN run own-flaky --seed"
seed=$(grep -F '"passed":false' results.jsonl | head -1 | sed -E 's/.*"seed":([0-9]+).*/\1/')

# A failing run writes its trace; replay reproduces it, and explain and timeline read it.
expect 1 "$BIN" run own-flaky --seed "$seed"
has out.txt "counter-0 finished last"
trace="out/traces/own-flaky-$seed.jsonl"
[ -f "$trace" ] || fail "no trace at $trace"
expect 0 "$BIN" replay "$trace"
has out.txt "identical: "
has out.txt "FAILED"
expect 0 "$BIN" timeline "$trace"
has out.txt "counter-1"
echo "ok"
