#!/usr/bin/env bash
# Tests scripts/lint-determinism itself (registered in ctest as lint_determinism_selftest).
# Usage: tests/lint/lint_selftest.sh LINTER FIXTURES_DIR
#
# The fixture tree FIXTURES_DIR/bad/{sim,model,scenarios} holds code that breaks every rule, each
# offending line marked "EXPECT-LINT <rule>", next to comments and look-alikes that must pass. The
# linter must exit 1 and report exactly the marked lines with exactly those rules: no miss, no
# false positive. It must also exit 2 when pointed at a tree without those folders, and 0 on a
# clean one.
set -uo pipefail
linter=$1
fixtures=$2
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$linter" "$fixtures/bad" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -ne 1 ]; then
  echo "FAIL: expected exit 1 on the bad fixtures, got $rc"; cat "$tmp/out" "$tmp/err"; fail=1
fi
grep -q "hit(s)" "$tmp/err" || { echo "FAIL: no summary on stderr"; fail=1; }

# What the linter reported: "file:line rule".
sed -nE 's/^([^:]+):([0-9]+): \[([a-z-]+)\].*/\1:\2 \3/p' "$tmp/out" | LC_ALL=C sort >"$tmp/got"
# What the markers demand.
(cd "$fixtures/bad" && grep -rnE '// EXPECT-LINT [a-z-]+$' sim model scenarios |
  sed -nE 's#^([^:]+):([0-9]+):.*// EXPECT-LINT ([a-z-]+)$#\1:\2 \3#p') | LC_ALL=C sort >"$tmp/want"
if [ "$(wc -l <"$tmp/want")" -lt 20 ]; then echo "FAIL: the fixtures lost their markers"; fail=1; fi
if ! diff -u "$tmp/want" "$tmp/got" >"$tmp/diff"; then
  echo "FAIL: reported lines differ from the EXPECT-LINT markers (- missed, + false positive):"
  cat "$tmp/diff"; fail=1
fi
for rule in real-clock os-randomness process-id thread std-random unordered-container; do
  grep -q " $rule\$" "$tmp/got" || { echo "FAIL: rule $rule never fired"; fail=1; }
done

# A clean tree passes; a tree without the folders is a usage error, not a silent pass.
mkdir -p "$tmp/clean/sim" "$tmp/empty"
printf '%s\n' '// steady_clock, rand() and std::thread are only named here.' 'int f(int x) { return x; }' >"$tmp/clean/sim/ok.cpp"
"$linter" "$tmp/clean" >/dev/null 2>&1; rc=$?
[ "$rc" -eq 0 ] || { echo "FAIL: expected exit 0 on a clean tree, got $rc"; fail=1; }
"$linter" "$tmp/empty" >/dev/null 2>&1; rc=$?
[ "$rc" -eq 2 ] || { echo "FAIL: expected exit 2 on a tree without sim/model/scenarios, got $rc"; fail=1; }
"$linter" "$tmp/no-such-dir" >/dev/null 2>&1; rc=$?
[ "$rc" -eq 2 ] || { echo "FAIL: expected exit 2 on a missing root, got $rc"; fail=1; }

[ "$fail" -eq 0 ] && echo "lint_selftest: ok ($(wc -l <"$tmp/want") expected hits found, no false positives)"
exit "$fail"
