#!/usr/bin/env bash
# docs/faults.md is the output of `cfsim faults`, byte for byte: the table is generated from the
# registrations, so a verb, knob or argument changed in model/ must be regenerated into the docs.
#   usage: faults_doc.sh PATH/TO/cfsim PATH/TO/docs/faults.md
set -uo pipefail
CFSIM=$1
DOC=$2
out=$(mktemp "${TMPDIR:-/tmp}/cfsim-faults.XXXXXX")
trap 'rm -f "$out"' EXIT
"$CFSIM" faults >"$out" || { echo "FAIL: '$CFSIM faults' exited $?" >&2; exit 1; }
if ! diff -u "$DOC" "$out" >&2; then
  echo "FAIL: $DOC is not the output of 'cfsim faults' (the diff above: - the file, + the command)." >&2
  echo "Regenerate it from the source tree: build/release/bin/cfsim faults > docs/faults.md" >&2
  exit 1
fi
