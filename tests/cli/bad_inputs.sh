#!/usr/bin/env bash
# The table of bad inputs (bad_inputs.tsv), run against the `cfsim` binary: every row's command must
# exit with the row's code and print the row's message fragment (on stderr for exit 2, on either
# stream otherwise), print at most one line on stderr, and never crash (an exit code of 128 or more:
# a signal) or trip a sanitizer. (Stdout may hold what a command said before it met the bad input:
# replay names the trace it reads first.)
#   usage: bad_inputs.sh PATH/TO/cfsim PATH/TO/bad_inputs.tsv
# Rows: WHEN <tab> EXIT <tab> FRAGMENT <tab> COMMAND. WHEN is "any", or "nonroot" for rows that need
# file permissions to bite (root reads a mode-000 file: those rows are skipped when run as root).
# COMMAND is bash, run in a scratch directory holding the fixtures made below; $C is the binary.
set -uo pipefail

C=$(realpath "$1")
export C
TABLE=$(realpath "$2")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cfsim-bad-inputs.XXXXXX")
trap 'chmod -R u+rwx "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1

# --- fixtures ------------------------------------------------------------------------------------
"$C" run kernel-race --seed 2 --trace good.jsonl >/dev/null 2>&1
[ -s good.jsonl ] || { echo "bad_inputs: could not write a good trace" >&2; exit 1; }
n=$(wc -l <good.jsonl)
head -c $(($(stat -c %s good.jsonl) - 10)) good.jsonl >truncated.jsonl
{ head -3 good.jsonl; echo 'this is not json'; } >garbage.jsonl
printf '\x7fELF\x02\x01\x01\x00\x00\x00\xff\xfe\x00\x01binary\x00\n\x00\x00' >binary.bin
: >empty.jsonl
sed -E '1s/"cfsim_version":"[^"]*"/"cfsim_version":"0.0.1"/' good.jsonl >old.jsonl
printf '{"i":0,"t":0,"f":0,"fn":"","c":"app","n":"x","a":{}}\n' >noheader.jsonl
sed -E '1s/"scenario":"kernel-race"/"scenario":"kernel-raze"/' good.jsonl >renamed.jsonl
sed -E '1s/"seed":"2"/"seed":"-2"/' good.jsonl >badseed.jsonl
sed -E '1s/"shuffle_ties":false/"shuffle_ties":"no"/' good.jsonl >badshuffle.jsonl
sed -E '1s/"faults":"none"/"faults":"some"/' good.jsonl >badfaults.jsonl
sed -E '1s/"until":"end"/"until":"soon"/' good.jsonl >baduntil.jsonl
sed -E '1s/"faults":"none"/"faults":"plan","fault_plan":"cfsim-faults v1\\nat 1s explode-host\\n"/' good.jsonl >badplan.jsonl
sed -E '1s/\}\}$/},"build":"gcc"}/' good.jsonl >badbuild.jsonl
sed -E '3s/"i":2,/"i":7,/' good.jsonl >sequence.jsonl
sed -E '3s/"t":[0-9]+,/"t":-5,/' good.jsonl >negtime.jsonl
sed -E '3s/"f":[0-9]+,/"f":"one",/' good.jsonl >badfiber.jsonl
sed -E '$s/"records":[0-9]+/"records":999/' good.jsonl >badcount.jsonl
sed -E '$s/"hash":"0x[0-9a-f]+"/"hash":"0xZZ"/' good.jsonl >badhash.jsonl
{ cat good.jsonl; head -2 good.jsonl | tail -1; } >afterfooter.jsonl
echo '{"end":{"hash":"0x0000000000000000","records":0}}' >footer-only.jsonl
echo '[1,2,3]' >array.jsonl
mkdir dir
echo 'just a file' >notdir
mkfifo fifo
cp good.jsonl unreadable.jsonl && chmod 000 unreadable.jsonl
mkdir readonly-dir && chmod 555 readonly-dir
# fault plans
plan() { printf 'cfsim-faults v1\n%s\n' "$2" >"$1"; }
plan plan-unknown-verb.txt 'at 1s explode-host'
plan plan-old-verb.txt 'at 1s kill-worker index=1'
plan plan-neg-index.txt 'at 1s app-kill-worker index=-2'
plan plan-big-index.txt 'at 1s app-kill-worker index=4'
plan plan-no-index.txt 'at 1s app-kill-worker'
plan plan-bad-arg.txt 'at 1s app-kill-worker idx=1'
plan plan-text-index.txt 'at 1s app-kill-worker index=one'
plan plan-dup-arg.txt 'at 1s app-kill-worker index=1 index=2'
plan plan-bare-arg.txt 'at 1s app-kill-worker index'
plan plan-bad-time.txt 'at soon app-kill-worker index=1'
plan plan-neg-time.txt 'at -1s app-kill-worker index=1'
plan plan-no-at.txt 'app-kill-worker index=1'
plan plan-huge-partition.txt 'at 1s net-partition payments.example duration_ms=9223372036854'
plan plan-unknown-service.txt 'at 1s net-partition nowhere.example'
plan plan-unknown-instance.txt 'at 1s do-reset SHOP/nope'
plan plan-unknown-binding.txt 'at 1s do-reset NOPE/shop-0'
plan plan-no-target.txt 'at 1s do-reset'
plan plan-unknown-knob.txt 'knob net.frobnication_ppm 5'
plan plan-knob-range.txt 'knob net.loss_ppm 2000000'
plan plan-knob-text.txt 'knob net.loss_ppm lots'
plan plan-knob-equals.txt 'knob net.loss_ppm=5'
plan plan-no-version.txt 'at 1s net-heal payments.example'
plan plan-rollout-version.txt 'at 1s container-rollout SHOP version=v9'
plan plan-loss-range.txt 'at 1s net-loss payments.example loss_ppm=1000001'
printf 'at 1s app-kill-worker index=1\n' >plan-headerless.txt
printf 'cfsim-faults v2\nat 1s app-kill-worker index=1\n' >plan-v2.txt
printf 'cfsim-faults v1\nat 1s app-kill-worker ind' >plan-truncated.txt
# sweep results
"$C" sweep kernel-race --seeds 1..3 --out results.jsonl >/dev/null 2>&1
[ -s results.jsonl ] || { echo "bad_inputs: could not write sweep results" >&2; exit 1; }
"$C" sweep kernel-pipeline --seeds 4..4 --out other-results.jsonl >/dev/null 2>&1
echo 'not json' >junk-results.jsonl
head -c 30 results.jsonl >truncated-results.jsonl
echo '{"seed":-1,"passed":true}' >negseed-results.jsonl
echo '{"seed":1,"passed":"yes"}' >badpassed-results.jsonl

# --- the rows --------------------------------------------------------------------------------------
rows=0 failed=0 skipped=0
bad_row() {
  echo "FAIL [line $line_no: $cmd]: $*" >&2
  echo "  exit $got; stdout: $(head -c 400 out.txt)" >&2
  echo "  stderr: $(head -c 600 err.txt)" >&2
  failed=$((failed + 1))
}
line_no=0
while IFS=$'\t' read -r when want fragment cmd || [ -n "$when" ]; do
  line_no=$((line_no + 1))
  case "$when" in '' | '#'*) continue ;; esac
  if [ "$when" = nonroot ] && [ "$(id -u)" -eq 0 ]; then skipped=$((skipped + 1)); continue; fi
  rows=$((rows + 1))
  # a fresh out/ for each row, so that no row sees another's traces
  rm -rf out
  timeout 120 bash -c "$cmd" >out.txt 2>err.txt </dev/null
  got=$?
  if [ "$got" -ge 124 ]; then bad_row "crashed, timed out or killed (exit $got)"; continue; fi
  if grep -qE 'Sanitizer|runtime error:' err.txt; then bad_row "a sanitizer report"; continue; fi
  [ "$got" -eq "$want" ] || { bad_row "exit $got, expected $want"; continue; }
  errs=$(grep -c . err.txt)
  [ "$errs" -le 1 ] || { bad_row "$errs lines on stderr, expected one at most"; continue; }
  if [ "$want" -eq 2 ]; then
    [ "$errs" -eq 1 ] || { bad_row "no error line on stderr"; continue; }
    grep -qF -- "cfsim: error: " err.txt || { bad_row "the error line does not start 'cfsim: error: '"; continue; }
    grep -qF -- "$fragment" err.txt || { bad_row "stderr lacks: $fragment"; continue; }
  else
    cat out.txt err.txt | grep -qF -- "$fragment" || { bad_row "the output lacks: $fragment"; continue; }
  fi
  [ -z "$(find . -name '*.tmp' -print -quit)" ] || { bad_row "a temporary file was left behind"; find . -name '*.tmp' -delete; continue; }
done <"$TABLE"

[ -p fifo ] || { echo "FAIL: the FIFO was replaced" >&2; failed=$((failed + 1)); }
echo "bad_inputs: $rows rows, $failed failed, $skipped skipped (as root: rows that need file permissions)"
[ "$failed" -eq 0 ]
