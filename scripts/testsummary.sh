#!/usr/bin/env bash
# Pass `go test -v` output through and close with one count line per suite:
#   <suite>: N passed, N failed, N skipped
# Subtests count too. Exits non-zero when any test failed.
set -euo pipefail
suite=${1:-tests}
awk -v suite="$suite" '
	{ print; fflush() }
	/^ *--- PASS: / { pass++ }
	/^ *--- FAIL: / { fail++ }
	/^ *--- SKIP: / { skip++ }
	/^FAIL\t/ || /^FAIL$/ || /^panic: / { broken = 1 }
	END {
		printf "%s: %d passed, %d failed, %d skipped\n", suite, pass, fail, skip
		exit (fail > 0 || broken) ? 1 : 0
	}'
