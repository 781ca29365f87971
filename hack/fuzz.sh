#!/bin/sh
# Runs every native Go fuzz target for a short while (default 10s each).
set -eu
time="${1:-10s}"
cd "$(dirname "$0")/.."
for pkg in $(go list ./internal/... ./cmd/...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
		echo "fuzz: $pkg $f ($time)"
		go test -run='^$' -fuzz="^$f\$" -fuzztime="$time" "$pkg"
	done
done
