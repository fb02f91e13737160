#!/usr/bin/env bash
# End-to-end tests of the `cfsim` binary: each case runs it as a person would and checks the text it
# prints and its exit code (0 passed / identical, 1 failed / differs, 2 bad usage).
#   usage: e2e.sh PATH/TO/cfsim CASE
# Each case runs in a fresh temporary directory (failing runs leave traces under ./out/traces).
set -uo pipefail

CFSIM=$(realpath "$1")
CASE=$2
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cfsim-e2e-$CASE.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1

fail() {
  echo "FAIL [$CASE]: $*" >&2
  for f in out.txt err.txt; do
    [ -f "$f" ] && { echo "--- $f:" >&2; head -c 3000 "$f" >&2; }
  done
  exit 1
}

# expect CODE CMD...: runs CMD with stdout in out.txt, stderr in err.txt; checks the exit code.
expect() {
  local want=$1
  shift
  "$@" >out.txt 2>err.txt
  local got=$?
  [ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want"
}
has() { grep -qF -- "$2" "$1" || fail "$1 lacks: $2"; }
lacks() { ! grep -qF -- "$2" "$1" || fail "$1 should not contain: $2"; }
lines() { local n; n=$(wc -l <"$1"); [ "$n" -eq "$2" ] || fail "$1 has $n lines, expected $2"; }

# A usage error: exit 2, exactly one line on stderr holding TEXT, nothing on stdout.
usage_error() {
  local text=$1
  shift
  expect 2 "$@"
  lines err.txt 1
  has err.txt "cfsim: error: "
  has err.txt "$text"
  [ ! -s out.txt ] || fail "'$*' printed on stdout: $(cat out.txt)"
}

# The first seed in 1..40 on which kernel-race fails (its planted lost update); the scenario tests
# check that such seeds exist.
failing_race_seed() {
  "$CFSIM" sweep kernel-race --seeds 1..40 --out race.jsonl >/dev/null 2>&1
  grep -F '"passed":false' race.jsonl | head -1 | sed -E 's/.*"seed":([0-9]+).*/\1/'
}

hash_of() { sed -nE 's/.*trace hash (0x[0-9a-f]{16}).*/\1/p' "$1" | head -1; }

case "$CASE" in

list)
  expect 0 "$CFSIM" list
  has out.txt "kernel-race"
  has out.txt "kernel-pipeline"
  # one line per scenario: the name, then its one-sentence description
  grep -qE '^kernel-race +Kernel demo with a planted lost-update bug' out.txt || fail "list line for kernel-race"
  [ "$(grep -c . out.txt)" -eq "$(grep -cE '^[a-z0-9-]+  +[A-Z].*\.$' out.txt)" ] || fail "every list line is 'name  Description.'"
  expect 0 "$CFSIM" --help
  has out.txt "sweep"
  has out.txt "faults"
  expect 0 "$CFSIM" run --help
  has out.txt "--shuffle-ties"
  ;;

faults)
  # the fault table: every verb and knob with its target, arguments and source, as Markdown
  expect 0 "$CFSIM" faults
  [ ! -s err.txt ] || fail "cfsim faults wrote on stderr"
  has out.txt "# Fault verbs, knobs and buggify sites"
  grep -qE '^\| `container-crash` \| `BINDING/name` \| `exit_code` 0\.\.255, default 1: ' out.txt || fail "the container-crash row"
  grep -qE '^\| `kernel-pipeline` \| `app-kill-worker` \| ' out.txt || fail "the scenario's own verb"
  grep -qE '^\| `r2\.error_ppm` \| 0\.\.1000000 ppm \| 0 \| ' out.txt || fail "the r2.error_ppm knob row"
  has out.txt '| `container-rollout` |'
  has out.txt "| hand-only |"
  has out.txt '| `net.dropped_connection` |'
  ;;

diff_beyond_records)
  "$CFSIM" run kernel-race --seed 2 --trace t.jsonl >/dev/null
  n=$(($(wc -l <t.jsonl) - 1))
  # a member outside the trace format in one record: the reader drops it, diff must not
  sed -E '3s/^\{/{"note":"edited",/' t.jsonl >extra.jsonl
  cmp -s t.jsonl extra.jsonl && fail "the edit changed nothing"
  expect 1 "$CFSIM" diff t.jsonl extra.jsonl
  has out.txt "the traces differ first at record #2"
  has out.txt 'members outside the trace format (replay and explain ignore them): A (none), B {"note":"edited"}'
  expect 1 "$CFSIM" diff extra.jsonl t.jsonl
  has out.txt 'A {"note":"edited"}, B (none)'
  # the same records, but the footer edited, extended or missing
  sed -E '$s/"hash":"0x[0-9a-f]{16}"/"hash":"0x0000000000000000"/' t.jsonl >footer.jsonl
  expect 1 "$CFSIM" diff t.jsonl footer.jsonl
  has out.txt "the traces hold the same $n records, but A has a footer with hash"
  has out.txt "B has a footer with hash 0x0000000000000000"
  head -n "$n" t.jsonl >nofooter.jsonl
  expect 1 "$CFSIM" diff t.jsonl nofooter.jsonl
  has out.txt "B has no footer (its run was aborted after its last record)"
  sed -E '$s/^\{/{"x":1,/' t.jsonl >footer-extra.jsonl
  expect 1 "$CFSIM" diff t.jsonl footer-extra.jsonl
  has out.txt 'their footers differ outside the trace format: A (none), B {"x":1}'
  # whitespace and the members' order are not differences
  sed -E '3s/^\{"i":([0-9]+),"t":([0-9]+),/{"t":\2, "i":\1,/' t.jsonl >reordered.jsonl
  cmp -s t.jsonl reordered.jsonl && fail "the reordering changed nothing"
  expect 0 "$CFSIM" diff t.jsonl reordered.jsonl
  has out.txt "identical: $n records"
  ;;

usage_errors)
  usage_error "unknown scenario 'kernel-rac' (did you mean 'kernel-race'?" "$CFSIM" run kernel-rac
  usage_error "bad seed 'abc': expected a decimal integer from 0 to 18446744073709551615" "$CFSIM" run kernel-race --seed abc
  usage_error "bad seed '18446744073709551616'" "$CFSIM" run kernel-race --seed 18446744073709551616
  usage_error "bad seed '1e3'" "$CFSIM" run kernel-race --seed 1e3
  usage_error "bad --until" "$CFSIM" run kernel-race --until 5parsecs
  usage_error "'nothere.txt' is neither none, swarm nor a readable fault plan file" "$CFSIM" run kernel-race --faults nothere.txt
  printf 'cfsim-faults v1\nat soon app-kill-worker\n' >bad-plan.txt
  usage_error "bad fault plan file 'bad-plan.txt'" "$CFSIM" run kernel-pipeline --faults bad-plan.txt
  printf 'cfsim-faults v1\nat 1s explode-host\n' >unknown-verb.txt
  usage_error "unknown verb 'explode-host'" "$CFSIM" run kernel-pipeline --faults unknown-verb.txt
  usage_error "bad seed range '5..1': the first seed is larger than the last" "$CFSIM" sweep kernel-race --seeds 5..1
  usage_error "bad shard '3/3': need 0 <= I < N" "$CFSIM" sweep kernel-race --seeds 1..5 --shard 3/3
  usage_error "bad shard 'x'" "$CFSIM" sweep kernel-race --seeds 1..5 --shard x
  usage_error "bad --jobs 0" "$CFSIM" sweep kernel-race --seeds 1..5 --jobs 0
  usage_error "unknown scenario 'nope'" "$CFSIM" sweep nope --seeds 1..5
  usage_error "unknown verb 'explode-host'" "$CFSIM" sweep kernel-pipeline --seeds 1..3 --faults unknown-verb.txt
  # an unknown command is named, with the real ones listed
  usage_error "unknown command 'frobnicate'; the commands are list, run, replay, sweep, merge, diff, explain, timeline, faults (see cfsim --help)" "$CFSIM" frobnicate
  usage_error "(see cfsim --help)" "$CFSIM"
  usage_error "(see cfsim --help)" "$CFSIM" run
  usage_error "(see cfsim --help)" "$CFSIM" run kernel-race --no-such-flag
  # an output path that is not a regular file (a FIFO here; /dev/null for real) is refused before
  # anything runs: writing through a renamed temporary file would replace it
  mkfifo fifo
  usage_error "cannot write 'fifo': it exists and is not a regular file" "$CFSIM" run kernel-race --trace fifo
  usage_error "cannot write 'fifo': it exists and is not a regular file" "$CFSIM" run kernel-race --perfetto fifo
  usage_error "cannot write 'fifo': it exists and is not a regular file" "$CFSIM" sweep kernel-race --seeds 1..2 --out fifo
  [ -p fifo ] || fail "the FIFO was replaced"
  [ -z "$(find . -name '*.jsonl*')" ] || fail "a usage error must not leave traces behind"
  ;;

bad_traces)
  usage_error "cannot read trace file 'missing.jsonl'" "$CFSIM" replay missing.jsonl
  "$CFSIM" run kernel-race --seed 1 --trace good.jsonl >/dev/null || true
  [ -s good.jsonl ] || fail "no trace written"
  # truncated in the middle of a line
  head -c $(($(stat -c %s good.jsonl) - 10)) good.jsonl >truncated.jsonl
  usage_error "truncated: the last line has no newline" "$CFSIM" replay truncated.jsonl
  # a line that is not JSON
  { head -3 good.jsonl; echo 'this is not json'; } >garbage.jsonl
  usage_error "garbage.jsonl:4: not a JSON object" "$CFSIM" replay garbage.jsonl
  # a trace from another cfsim version
  sed -E '1s/"cfsim_version":"[^"]*"/"cfsim_version":"0.0.1"/' good.jsonl >old.jsonl
  usage_error "written by cfsim 0.0.1, this is cfsim" "$CFSIM" replay old.jsonl
  # a JSON-lines file that is not a run trace (no header first)
  printf '{"i":0,"t":0,"f":0,"fn":"","c":"app","n":"x","a":{}}\n' >noheader.jsonl
  usage_error "not a cfsim run trace: its first record is app.x" "$CFSIM" replay noheader.jsonl
  # a header naming a scenario that does not exist
  sed -E '1s/"scenario":"kernel-race"/"scenario":"kernel-raze"/' good.jsonl >renamed.jsonl
  usage_error "unknown scenario 'kernel-raze' (did you mean 'kernel-race'?" "$CFSIM" replay renamed.jsonl
  : >empty.jsonl
  usage_error "empty trace" "$CFSIM" replay empty.jsonl
  echo '{"end":{"hash":"0x0000000000000000","records":0}}' >footer-only.jsonl
  usage_error "footer-only.jsonl: holds no records, only a footer" "$CFSIM" replay footer-only.jsonl
  expect 0 "$CFSIM" explain footer-only.jsonl
  has out.txt "It holds no records."
  usage_error "cannot read trace file '/': it is a directory" "$CFSIM" replay /
  for cmd in explain timeline; do
    usage_error "truncated" "$CFSIM" $cmd truncated.jsonl
  done
  usage_error "garbage.jsonl:4" "$CFSIM" diff good.jsonl garbage.jsonl
  ;;

run_pass)
  expect 0 "$CFSIM" run kernel-pipeline --seed 1
  has out.txt "kernel-pipeline seed 1 (faults none): passed"
  has out.txt "200 jobs, 200 acknowledged at least once"
  grep -qE 'virtual time [0-9.]+(ns|us|ms|s|m[0-9]+s), [0-9]+ events, trace hash 0x[0-9a-f]{16}, wall time ' out.txt || fail "stats line"
  lacks out.txt "replay:"
  lacks out.txt "trace:"
  [ ! -e out/traces/kernel-pipeline-1.jsonl ] || fail "a passing run without --trace leaves no trace"
  ls out/traces/*.tmp >/dev/null 2>&1 && fail "temporary trace left behind"
  # the same seed gives the same hash; swarm faults are summarised
  h1=$(hash_of out.txt)
  expect 0 "$CFSIM" run kernel-pipeline --seed 1
  [ "$(hash_of out.txt)" = "$h1" ] || fail "same seed, different hash"
  expect 0 "$CFSIM" run kernel-pipeline --seed 1 --faults swarm
  has out.txt "(faults swarm): passed"
  has out.txt "fault plan: "
  [ "$(hash_of out.txt)" != "$h1" ] || fail "swarm faults changed nothing"
  ;;

run_fail_and_replay)
  seed=$(failing_race_seed)
  [ -n "$seed" ] || fail "no failing kernel-race seed in 1..40"
  expect 1 "$CFSIM" run kernel-race --seed "$seed"
  has out.txt "kernel-race seed $seed (faults none): FAILED"
  has out.txt "invariant failed: lost update: counter is 1 after 2 increments"
  has out.txt "trace: out/traces/kernel-race-$seed.jsonl"
  has out.txt "replay: $CFSIM run kernel-race --seed $seed"
  [ -s "out/traces/kernel-race-$seed.jsonl" ] || fail "a failing run always leaves its trace"
  h=$(hash_of out.txt)
  tail -1 "out/traces/kernel-race-$seed.jsonl" | grep -qF "\"hash\":\"$h\"" || fail "trace footer hash differs from the printed hash $h"
  # the printed replay command is exact: run it and get the same failure and hash
  cmd=$(sed -n 's/^  replay: //p' out.txt)
  cp out.txt first.txt
  expect 1 bash -c "$cmd"
  [ "$(hash_of out.txt)" = "$h" ] || fail "the replay command gave another hash"
  # replay from the trace file: identical, with the hash
  expect 0 "$CFSIM" replay "out/traces/kernel-race-$seed.jsonl"
  n=$(($(wc -l <"out/traces/kernel-race-$seed.jsonl") - 1))
  has out.txt "identical: $n records, trace hash $h"
  has out.txt "FAILED"
  ;;

replay_detects_divergence)
  seed=$(failing_race_seed)
  "$CFSIM" run kernel-race --seed "$seed" --trace t.jsonl >/dev/null
  # edit one record: the value the first app.write wrote
  line=$(grep -n '"c":"app","n":"write"' t.jsonl | head -1 | cut -d: -f1)
  [ -n "$line" ] || fail "no app.write record in the trace"
  sed -E "${line}s/\"value\":[0-9]+/\"value\":777/" t.jsonl >edited.jsonl
  cmp -s t.jsonl edited.jsonl && fail "the edit changed nothing"
  expect 1 "$CFSIM" replay edited.jsonl
  idx=$((line - 1))
  has out.txt "DIVERGED at record #$idx"
  grep -qE "^  file: +#$idx .*app\.write value=777" out.txt || fail "the file's side of the difference"
  grep -qE "^  rerun: +#$idx .*app\.write value=1" out.txt || fail "the rerun's side of the difference"
  has out.txt "the records just before it (the same in both):"
  grep -qE "^    #$((idx - 1)) " out.txt || fail "the record just before the difference"
  # diff names the same record; a trace is identical to its copy
  expect 1 "$CFSIM" diff t.jsonl edited.jsonl
  has out.txt "the traces differ first at record #$idx"
  grep -qE "^  B: +#$idx .*value=777" out.txt || fail "diff's B side"
  cp t.jsonl copy.jsonl
  expect 0 "$CFSIM" diff t.jsonl copy.jsonl
  has out.txt "identical: $(($(wc -l <t.jsonl) - 1)) records"
  # a trace cut short (the records after the 5th dropped, and the footer) is reported too
  head -5 t.jsonl >short.jsonl
  expect 1 "$CFSIM" replay short.jsonl
  has out.txt "the file's 5 records all match, but its run stopped there (no footer) and the rerun went on to"
  grep -qE '^  rerun: #5 ' out.txt || fail "the rerun's first record beyond the file"
  ;;

plan_file_and_until)
  printf 'cfsim-faults v1\nat 500ms app-kill-worker index=1\nat 700ms app-kill-worker index=2\n' >plan.txt
  expect 0 "$CFSIM" run kernel-pipeline --faults plan.txt --trace planned.jsonl
  has out.txt "(faults plan.txt): passed"
  has out.txt "2 workers killed, 2 restarted"
  has out.txt "fault plan: 2 actions (app-kill-worker x2), 0 knobs"
  expect 0 "$CFSIM" replay planned.jsonl
  has out.txt "identical:"
  # a failing run with a plan file and a time limit: the replay command carries both
  expect 1 "$CFSIM" run kernel-pipeline --faults plan.txt --until 1s --seed 4
  has out.txt "invariant failed: the client did not finish by"
  has out.txt "replay: $CFSIM run kernel-pipeline --seed 4 --faults plan.txt --until 1.000s"
  h=$(hash_of out.txt)
  cmd=$(sed -n 's/^  replay: //p' out.txt)
  expect 1 bash -c "$cmd"
  [ "$(hash_of out.txt)" = "$h" ] || fail "replay command with plan and until gave another hash"
  expect 0 "$CFSIM" replay out/traces/kernel-pipeline-4.jsonl
  has out.txt "identical:"
  # --shuffle-ties is part of the run: recorded in the header and in the replay command
  expect 0 "$CFSIM" run kernel-pipeline --seed 2 --shuffle-ties --trace shuffled.jsonl
  has out.txt "shuffled ties"
  head -1 shuffled.jsonl | grep -qF '"shuffle_ties":true' || fail "shuffle_ties not in the header"
  expect 0 "$CFSIM" replay shuffled.jsonl
  has out.txt "identical:"
  ;;

timeline)
  seed=$(failing_race_seed)
  COLUMNS=150 expect 1 "$CFSIM" run kernel-race --seed "$seed" --timeline
  head -1 out.txt | grep -qE '^time +kernel +incrementer-0 +incrementer-1 +checks' || fail "timeline columns: $(head -1 out.txt)"
  grep -qE '^ *0\.[0-9]+s +\| +[^|]*app\.read value=0' out.txt || fail "a read in incrementer-0's column (second column)"
  grep -qE 'ended: finished after [0-9.]+ms' out.txt || fail "fiber ends say how long the fiber lived, in human units"
  grep -qE 'check\.no_lost_update passed=false' out.txt || fail "the check in the timeline"
  lacks out.txt "sched.resume"
  has out.txt "kernel-race seed $seed (faults none): FAILED"
  # from a file; with many actors they are grouped by family, each line naming its actor
  "$CFSIM" run kernel-pipeline --seed 1 --faults swarm --trace p.jsonl >/dev/null
  COLUMNS=200 expect 0 "$CFSIM" timeline p.jsonl
  head -1 out.txt | grep -qE 'submit-\*' || fail "submit fibers grouped: $(head -1 out.txt)"
  grep -qE 'submit-[0-9]+: started' out.txt || fail "grouped lines name their fiber"
  expect 0 "$CFSIM" timeline --scheduling p.jsonl
  has out.txt "sched.resume"
  ;;

explain)
  seed=$(failing_race_seed)
  "$CFSIM" run kernel-race --seed "$seed" --trace race.jsonl >/dev/null
  expect 0 "$CFSIM" explain race.jsonl
  has out.txt "Trace race.jsonl: scenario kernel-race, seed $seed, faults none, until end; written by cfsim"
  has out.txt "check no_lost_update: FAILED (counter=1 increments=2)"
  has out.txt "App data: the trace holds no record of a write to a data store"
  has out.txt "Faults: none fired"
  grep -qE '^  2 fibers: incrementer-0\.\.1 \(2\)' out.txt || fail "fibers summarised"
  grep -qE '^  app +4 records: (read 2, write 2|write 2, read 2)' out.txt || fail "app records counted"
  # a trace with data-store records (docs/trace-format.md, "App data")
  cat >data.jsonl <<'EOF'
{"i":0,"t":0,"f":0,"fn":"","c":"meta","n":"header","a":{"cfsim_version":"0.1.0","seed":"9","scenario":"sessions","faults":"plan","until":"end"}}
{"i":1,"t":1000000,"f":3,"fn":"app","c":"disk","n":"write","a":{"container":"main","path":"/data/session.db","size":10}}
{"i":2,"t":2000000,"f":3,"fn":"app","c":"storage","n":"put","a":{"do":"sessions","key":"count","value":"1"}}
{"i":3,"t":2500000,"f":3,"fn":"app","c":"storage","n":"commit","a":{"do":"sessions"}}
{"i":4,"t":3000000,"f":3,"fn":"app","c":"storage","n":"put","a":{"do":"sessions","key":"count","value":"2"}}
{"i":5,"t":4000000,"f":0,"fn":"","c":"fault","n":"crash","a":{"target":"container:main"}}
{"i":6,"t":4000000,"f":0,"fn":"","c":"disk","n":"wipe","a":{"container":"main"}}
{"i":7,"t":4000000,"f":0,"fn":"","c":"storage","n":"rollback","a":{"do":"sessions"}}
{"i":8,"t":9000000,"f":4,"fn":"app","c":"disk","n":"read","a":{"container":"main","path":"/data/session.db","found":false}}
{"i":9,"t":9500000,"f":4,"fn":"app","c":"storage","n":"get","a":{"do":"sessions","key":"count","value":"1"}}
{"i":10,"t":9600000,"f":4,"fn":"app","c":"kv","n":"put","a":{"namespace":"cfg","key":"mode","value":"b"}}
{"i":11,"t":9700000,"f":4,"fn":"app","c":"kv","n":"get","a":{"namespace":"cfg","key":"mode","value":"a"}}
{"end":{"hash":"0x0000000000000001","records":12}}
EOF
  expect 0 "$CFSIM" explain data.jsonl
  has out.txt "App data: 4 writes to 3 pieces of data in container disk, KV, DO storage."
  has out.txt "container disk main: /data/session.db"
  has out.txt "LOST 1 write: disk.wipe container=main (record #6 at 0.004s, by kernel)"
  has out.txt "MISSING (last written at 0.001s (record #1)); caused by disk.wipe container=main (record #6"
  # the rollback took only the write that was not yet committed; the read saw the committed one
  has out.txt "LOST 1 write: storage.rollback do=sessions (record #7"
  has out.txt "STALE (value 1 where the last write (record #4) wrote 2); caused by storage.rollback do=sessions (record #7"
  has out.txt "STALE (value a where the last write (record #10) wrote b); no loss in the trace: a Workers KV read"
  has out.txt "Missing or stale reads (3):"
  has out.txt "Faults (1 records of category fault):"
  ;;

perfetto)
  "$CFSIM" run kernel-pipeline --seed 2 --faults swarm --perfetto p.json --trace p.jsonl >out.txt || fail "run"
  has out.txt "perfetto: p.json"
  [ -s p.json ] || fail "no Perfetto file"
  head -c 40 p.json | grep -qF '{"displayTimeUnit":"ms","traceEvents":[' || fail "not a trace-event document"
  # one named track per actor: the client, each worker, the faults
  for actor in kernel client worker-0 worker-3 faults checks; do
    grep -qF "\"name\":\"thread_name\",\"args\":{\"name\":\"$actor\"}" p.json || fail "no track for $actor"
  done
  grep -qF '"ph":"X"' p.json || fail "no slices"
  ;;

crash)
  # CFSIM_TEST_CRASH=SEED:RECORD aborts the run right after trace record RECORD (a stand-in for a
  # crash in simulated code): the run is reported, its trace keeps every record up to the crash.
  CFSIM_TEST_CRASH=3:40 expect 1 "$CFSIM" run kernel-pipeline --seed 3
  has out.txt "kernel-pipeline seed 3 (faults none): CRASHED: signal 6 (Aborted)"
  has out.txt "trace (every record up to the crash): out/traces/kernel-pipeline-3.jsonl"
  has out.txt "replay: $CFSIM run kernel-pipeline --seed 3"
  t=out/traces/kernel-pipeline-3.jsonl
  lines "$t" 41
  expect 0 "$CFSIM" explain "$t"
  has out.txt "with no footer: the run was aborted"
  # the crash replays: the rerun crashes at the same record
  CFSIM_TEST_CRASH=3:40 expect 0 "$CFSIM" replay "$t"
  has out.txt "identical: the rerun crashed with signal 6 (Aborted)"
  has out.txt "right after record #40, where the recorded run's trace ends too"
  # without the crash, the rerun goes on past the end of the file
  expect 1 "$CFSIM" replay "$t"
  has out.txt "the file's 41 records all match, but its run stopped there (no footer) and the rerun went on"
  # an explicit --trace survives a crash too
  CFSIM_TEST_CRASH=3:10 expect 1 "$CFSIM" run kernel-pipeline --seed 3 --trace mine.jsonl
  lines mine.jsonl 11
  ls ./*.tmp out/traces/*.tmp >/dev/null 2>&1 && fail "temporary trace left behind"
  # a wild write (SIGSEGV) in a fiber: the handler runs on its own stack and still saves the trace.
  # Under AddressSanitizer its report comes instead of the signal (exit code 1 either way).
  rm -f out/traces/kernel-pipeline-3.jsonl
  CFSIM_TEST_CRASH=3:40:segv expect 1 "$CFSIM" run kernel-pipeline --seed 3
  grep -qF "CRASHED: signal 11 (Segmentation fault)" out.txt ||
    { grep -qF "CRASHED: a sanitizer error (its report is on stderr)" out.txt && grep -qF "AddressSanitizer: SEGV" err.txt; } ||
    fail "SIGSEGV not reported"
  has out.txt "trace (every record up to the crash): out/traces/kernel-pipeline-3.jsonl"
  has out.txt "replay: $CFSIM run kernel-pipeline --seed 3"
  lines out/traces/kernel-pipeline-3.jsonl 41
  ;;

sweep)
  expect 1 "$CFSIM" sweep kernel-race --seeds 1..20 --out r.jsonl
  lines r.jsonl 20
  [ "$(sed -E 's/.*"seed":([0-9]+).*/\1/' r.jsonl | tr '\n' ' ')" = "$(seq -s ' ' 1 20) " ] || fail "results not in seed order"
  grep -qE '^\{"scenario":"kernel-race","seed":1,"passed":(true|false),"failure":"[^"]*","trace_hash":"0x[0-9a-f]{16}","events":[0-9]+,"sim_end":[0-9]+,"wall_s":[0-9.e-]+' r.jsonl || fail "result line format"
  nfail=$(grep -c '"passed":false' r.jsonl)
  [ "$nfail" -gt 0 ] || fail "expected failing seeds of kernel-race"
  has out.txt "sweep kernel-race, seeds 1..20, faults none: $((20 - nfail)) passed, $nfail failed"
  has out.txt "failing seeds:"
  has out.txt "results: r.jsonl"
  has err.txt "sweep: 20/20 seeds, $nfail failed"
  # each failing seed: its replay command and trace, matching a single run of that seed
  seed=$(grep -F '"passed":false' r.jsonl | head -1 | sed -E 's/.*"seed":([0-9]+).*/\1/')
  has out.txt "    replay: $CFSIM run kernel-race --seed $seed"
  grep -F "\"seed\":$seed," r.jsonl | grep -qF "\"trace\":\"out/traces/kernel-race-$seed.jsonl\"" || fail "trace path in result"
  [ -s "out/traces/kernel-race-$seed.jsonl" ] || fail "failing seed's trace"
  h=$(grep -F "\"seed\":$seed," r.jsonl | sed -E 's/.*"trace_hash":"(0x[0-9a-f]+)".*/\1/')
  "$CFSIM" run kernel-race --seed "$seed" >single.txt
  [ "$(hash_of single.txt)" = "$h" ] || fail "sweep and run disagree on seed $seed's hash"
  # two jobs at once: the same results, in the same order
  expect 1 "$CFSIM" sweep kernel-race --seeds 1..20 --jobs 2 --out r2.jsonl
  diff <(sed -E 's/"wall_s":[^,}]*//' r.jsonl) <(sed -E 's/"wall_s":[^,}]*//' r2.jsonl) >/dev/null || fail "--jobs 2 changed the results"
  # results on stdout when there is no --out; a passing sweep exits 0
  expect 0 "$CFSIM" sweep kernel-pipeline --seeds 1..3 --faults swarm
  lines out.txt 3
  has err.txt "sweep kernel-pipeline, seeds 1..3, faults swarm: 3 passed, 0 failed"
  ;;

sweep_crash_isolated)
  CFSIM_TEST_CRASH=2:30 expect 1 "$CFSIM" sweep kernel-pipeline --seeds 1..4 --jobs 2 --out r.jsonl
  lines r.jsonl 4
  grep -F '"seed":2,' r.jsonl | grep -qF '"failure":"crashed: signal 6' || fail "seed 2 reported as crashed"
  grep -F '"seed":2,' r.jsonl | grep -qF '"trace":"out/traces/kernel-pipeline-2.jsonl"' || fail "crashed seed's trace"
  lines out/traces/kernel-pipeline-2.jsonl 31
  [ "$(grep -c '"passed":true' r.jsonl)" -eq 3 ] || fail "the other seeds ran and passed"
  has out.txt "seed 2: crashed: signal 6"
  ;;

shard_merge)
  expect 1 "$CFSIM" sweep kernel-race --seeds 1..12 --out all.jsonl
  for i in 0 1 2; do
    "$CFSIM" sweep kernel-race --seeds 1..12 --shard $i/3 --out shard-$i.jsonl >/dev/null 2>&1
  done
  [ "$(sed -E 's/.*"seed":([0-9]+).*/\1/' shard-1.jsonl | tr '\n' ' ')" = "2 5 8 11 " ] || fail "shard 1/3 takes every 3rd seed from the 2nd"
  expect 1 "$CFSIM" merge shard-0.jsonl shard-1.jsonl shard-2.jsonl --out merged.jsonl
  has out.txt "merged 3 files: 12 results for kernel-race, seeds 1..12 (none missing)"
  diff <(sed -E 's/"wall_s":[^,}]*//' all.jsonl) <(sed -E 's/"wall_s":[^,}]*//' merged.jsonl) >/dev/null || fail "merged shards differ from the unsplit sweep"
  # a missing shard is named; overlapping shards are refused
  expect 1 "$CFSIM" merge shard-0.jsonl shard-2.jsonl
  has err.txt "seeds 1..12 (4 missing: 2, 5, 8, 11)"
  usage_error "seed 1 appears in both shard-0.jsonl and shard-0.jsonl:1: overlapping shards?" "$CFSIM" merge shard-0.jsonl shard-0.jsonl
  echo 'not json' >junk.jsonl
  usage_error "junk.jsonl:1: not a sweep result line" "$CFSIM" merge junk.jsonl
  ;;

parallel_shards)
  # docs/cli.md: a sweep split in shards through GNU parallel equals the unsplit sweep.
  command -v parallel >/dev/null || fail "GNU parallel is not installed (scripts/install-deps)"
  "$CFSIM" sweep kernel-race --seeds 1..30 --out whole.jsonl >/dev/null 2>&1
  parallel --will-cite --jobs 2 "$CFSIM" sweep kernel-race --seeds 1..30 --shard {}/4 --out part-{}.jsonl ::: 0 1 2 3 >/dev/null 2>&1
  for i in 0 1 2 3; do [ -s part-$i.jsonl ] || fail "shard $i wrote nothing"; done
  "$CFSIM" merge part-*.jsonl --out merged.jsonl >out.txt 2>err.txt
  has out.txt "30 results for kernel-race, seeds 1..30 (none missing)"
  diff <(sed -E 's/"wall_s":[^,}]*//' whole.jsonl) <(sed -E 's/"wall_s":[^,}]*//' merged.jsonl) >/dev/null || fail "parallel shards differ from the unsplit sweep"
  ;;

run_threw)
  # CFSIM_TEST_CRASH=SEED:RECORD:throw makes the kernel throw at record RECORD (a stand-in for a
  # scenario's callback or fault handler that throws): the report describes the run that happened.
  CFSIM_TEST_CRASH=2:200:throw expect 1 "$CFSIM" run kernel-pipeline --seed 2 --faults swarm
  has out.txt "kernel-pipeline seed 2 (faults swarm): FAILED"
  has out.txt "  the run threw an exception: CFSIM_TEST_CRASH: a test exception after record #"
  lacks out.txt "invariant failed"
  lacks out.txt "0x0000000000000000"
  lacks out.txt "fault plan: 0 actions, 0 knobs"
  t=out/traces/kernel-pipeline-2.jsonl
  has out.txt "trace: $t"
  h=$(hash_of out.txt)
  tail -1 "$t" | grep -qF "\"hash\":\"$h\"" || fail "the printed hash $h is not the trace's"
  n=$(($(wc -l <"$t") - 1))
  grep -qE "virtual time [0-9.]+(ns|us|ms|s) at its last record, $n records \(the exception ended the kernel's loop" out.txt ||
    fail "the numbers line of a run that threw"
  # the plan is the one the seed draws, as a run that does not throw reports it
  plan=$(grep -F "fault plan:" out.txt)
  [ "$plan" = "  fault plan: 10 actions (app-kill-worker x10), 0 knobs" ] || fail "the plan: $plan"
  "$CFSIM" run kernel-pipeline --seed 2 --faults swarm >plain.txt
  [ "$(grep -F "fault plan:" plain.txt)" = "$plan" ] || fail "another plan than the seed's: $plan"
  # the same run throws the same way: its trace replays identical
  CFSIM_TEST_CRASH=2:200:throw expect 0 "$CFSIM" replay "$t"
  has out.txt "identical: $n records, trace hash $h"
  has out.txt "the run threw an exception: CFSIM_TEST_CRASH"
  # a sweep records the hash of the run that threw, and the exception
  CFSIM_TEST_CRASH=2:200:throw expect 1 "$CFSIM" sweep kernel-pipeline --seeds 1..3 --out r.jsonl
  line=$(grep -F '"seed":2,' r.jsonl)
  echo "$line" | grep -qF '"exception":"CFSIM_TEST_CRASH: a test exception after record #' || fail "no exception in: $line"
  echo "$line" | grep -qF '"events":null' || fail "events of a run that threw: $line"
  h2=$(echo "$line" | sed -E 's/.*"trace_hash":"(0x[0-9a-f]+)".*/\1/')
  [ "$h2" != 0x0000000000000000 ] || fail "sweep recorded hash 0"
  tail -1 out/traces/kernel-pipeline-2.jsonl | grep -qF "\"hash\":\"$h2\"" || fail "sweep hash $h2 is not its trace's"
  CFSIM_TEST_CRASH=2:200:throw "$CFSIM" run kernel-pipeline --seed 2 >single.txt
  [ "$(hash_of single.txt)" = "$h2" ] || fail "sweep and run disagree on the hash of a run that threw"
  lacks r.jsonl "not deterministic"
  ;;

killed)
  # kill -9 of a run's child: no handler runs, the trace is left under its temporary name; the
  # parent keeps it under the name it reports. CFSIM_TEST_CRASH=SEED:RECORD:hang stops the child at
  # RECORD (after some buffers reached the file) until it is killed.
  for explicit in no yes; do
    rm -rf out mine.jsonl
    if [ $explicit = yes ]; then t=mine.jsonl; set -- --trace mine.jsonl; else t=out/traces/kernel-pipeline-3.jsonl; set --; fi
    CFSIM_TEST_CRASH=3:1500:hang "$CFSIM" run kernel-pipeline --seed 3 "$@" >out.txt 2>err.txt &
    parent=$!
    tmp=""
    for _ in $(seq 1 200); do
      tmp=$(ls "$t".*.tmp 2>/dev/null | head -1)
      [ -n "$tmp" ] && [ "$(stat -c %s "$tmp")" -gt 60000 ] && break
      sleep 0.05
    done
    [ -n "$tmp" ] || fail "no temporary trace appeared"
    sleep 0.2
    child=${tmp%.tmp}
    child=${child##*.}
    kill -9 "$child"
    wait "$parent"
    got=$?
    [ "$got" -eq 1 ] || fail "a killed run exited $got, expected 1"
    has out.txt "kernel-pipeline seed 3 (faults none): CRASHED: signal 9 (Killed)"
    has out.txt "trace (the records written before the kill; those still in the process's buffer were lost with it): $t"
    [ -s "$t" ] || fail "the reported trace $t does not exist"
    ls "$t".*.tmp >/dev/null 2>&1 && fail "the temporary trace was left behind"
    [ "$(tail -c 1 "$t" | od -An -c | tr -d ' ')" = '\n' ] || fail "the trace does not end in a whole line"
    expect 1 "$CFSIM" replay "$t"
    has out.txt "records all match, but its run stopped there (no footer) and the rerun went on"
    expect 0 "$CFSIM" timeline "$t"
    expect 0 "$CFSIM" explain "$t"
    has out.txt "with no footer: the run was aborted"
  done
  ;;

build_recorded)
  # the header line records the build (docs/trace-format.md), outside the hashed records
  "$CFSIM" run kernel-race --seed 2 --trace t.jsonl >first.txt
  head -1 t.jsonl | grep -qE '"build":\{"cfsim":"[^"]+","sqlite":"[0-9.]+","boost":"[0-9_]+","compiler":"(gcc|clang) [^"]+","flags":"[^"]*-ffp-contract=off[^"]*"\}' ||
    fail "no build on the header line: $(head -1 t.jsonl)"
  expect 0 "$CFSIM" replay t.jsonl
  lacks out.txt "note:"
  # another build: said before the records are compared; the records (and the hash) are the same
  sed -E '1s/"sqlite":"[0-9.]+"/"sqlite":"3.0.0"/; 1s/"compiler":"[^"]+"/"compiler":"clang 99"/' t.jsonl >other.jsonl
  expect 0 "$CFSIM" replay other.jsonl
  [ "$(sed -n 2p out.txt)" = "  note: the trace was written by another build than this binary's; the rerun may take other steps for that reason alone:" ] ||
    fail "the build note is not the first thing replay says: $(sed -n 2p out.txt)"
  grep -qE '^    sqlite: 3\.0\.0 \(trace\) vs [0-9.]+ \(this binary\)$' out.txt || fail "the sqlite line"
  grep -qE '^    compiler: clang 99 \(trace\) vs (gcc|clang) .* \(this binary\)$' out.txt || fail "the compiler line"
  has out.txt "identical:"
  expect 0 "$CFSIM" diff t.jsonl other.jsonl
  head -1 out.txt | grep -qF "note: the traces were written by different builds; their records may differ for that reason alone:" ||
    fail "diff's build note first: $(head -1 out.txt)"
  grep -qE '^  sqlite: [0-9.]+ \(A\) vs 3\.0\.0 \(B\)$' out.txt || fail "diff's sqlite line"
  has out.txt "identical: "
  # a trace from before builds were recorded still reads; replay and diff say that it says nothing
  sed -E '1s/,"build":\{[^}]*\}//' t.jsonl >old.jsonl
  head -1 old.jsonl | grep -qF '"build"' && fail "the build was not removed"
  expect 0 "$CFSIM" replay old.jsonl
  has out.txt "note: the trace does not record the build that wrote it (an older cfsim)"
  expect 0 "$CFSIM" diff old.jsonl t.jsonl
  has out.txt "note: only B records the build that wrote it"
  expect 0 "$CFSIM" explain old.jsonl
  ;;

*)
  fail "unknown case"
  ;;
esac
echo "ok [$CASE]"
