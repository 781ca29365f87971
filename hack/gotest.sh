#!/usr/bin/env bash
# Runs `go test` with the given arguments. When it fails, the failing tests'
# own messages are printed again at the end: in a long run they are
# otherwise buried among the servers' logs, and whoever reads only the tail
# of the output would not see why the run failed.
set -uo pipefail

log=$(mktemp)
trap 'rm -f "$log"' EXIT

"${GO:-go}" test "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ]; then
	echo
	echo "=== failures (repeated from above) ==="
	# A failure is a "--- FAIL" line, the test's messages (file.go:N: ...)
	# and their indented continuation lines; panics and build errors too.
	awk '
		/^[[:space:]]*--- FAIL/ { print; msg = 0; next }
		/^[[:space:]]+[A-Za-z0-9_.-]+\.go:[0-9]+: / { print; msg = 1; next }
		msg && /^        / { print; next }
		{ msg = 0 }
		/^(FAIL|panic:|fatal error:|# )/ { print }
	' "$log" | head -n 400
fi
exit "$rc"
