#!/usr/bin/env bash
# fuzz.sh: run every fuzz target in the tree for a short, bounded time, so
# that the parsers of outside input are fuzzed on every CI run and none of
# the targets rots. Targets are discovered, not listed: a new Fuzz function
# anywhere runs without editing this file.
#
# Usage: scripts/fuzz.sh [package-pattern...]   (default: ./...)
#   FUZZTIME=10s   how long each target runs (go test -fuzztime)
#   FUZZMINIMIZETIME=3s  how long to shrink an input (go's default of 60s
#                  would let shrinking new coverage eat a short run)
#   GO_TAGS=...    build tags (default ts_debug_websockets, as the Makefile)
#   LIST_FLAGS=... extra flags for the listing step; the Makefile passes
#                  -race so that it reuses the packages the race-enabled
#                  test run already compiled
#
# go test accepts one -fuzz target per package per invocation, so each
# target is its own `go test -run '^$' -fuzz '^Name$'`. A failure leaves the
# crashing input under the package's testdata/fuzz/<Name>/ (commit it: it
# becomes a seed that every `go test` replays) and the script exits 1 after
# trying the other targets. The seed corpora themselves run in the ordinary
# test suite. Packages whose TestMain needs PostgreSQL want the Makefile's
# wrapper: go run ./scripts/testpg -- scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."

export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export GOFLAGS="${GOFLAGS:--mod=mod}"
FUZZTIME="${FUZZTIME:-10s}"
FUZZMINIMIZETIME="${FUZZMINIMIZETIME:-3s}"
read -ra list_flags <<<"${LIST_FLAGS:-}"
GO_TAGS="${GO_TAGS-ts_debug_websockets}"
patterns=("${@:-./...}")

# Candidate packages are those with a Fuzz function in a _test.go file
# (a quick grep, so that -list below builds only them, not every test
# binary of the tree); `go test -list` then names the targets its build
# tags really compile.
mapfile -t dirs < <(go list -f '{{.Dir}}' "${patterns[@]}")
candidates=()
for dir in "${dirs[@]}"; do
	if grep -qs '^func Fuzz' "$dir"/*_test.go; then
		candidates+=("./$(realpath --relative-to=. "$dir")")
	fi
done
if [[ ${#candidates[@]} -eq 0 ]]; then
	echo "fuzz.sh: no fuzz targets found in ${patterns[*]}" >&2
	exit 1
fi

# `go test -list` prints a package's matching names, then its "ok <pkg>"
# line. Each package is listed on its own, so one that does not build is
# reported as failed and the others are still fuzzed.
failed=()
targets=()
for cand in "${candidates[@]}"; do
	if ! listing="$(go test "${list_flags[@]}" -tags "$GO_TAGS" -list '^Fuzz' "$cand" 2>&1)"; then
		echo "$listing" >&2
		echo "fuzz.sh: cannot list the fuzz targets of $cand" >&2
		failed+=("$cand")
		continue
	fi
	pending=()
	while read -r first second _; do
		case "$first" in
		Fuzz*) pending+=("$first") ;;
		ok)
			for name in "${pending[@]}"; do targets+=("$second $name"); done
			pending=()
			;;
		esac
	done <<<"$listing"
done

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for entry in "${targets[@]}"; do
	read -r pkg name <<<"$entry"
	echo "fuzz.sh: $pkg $name for $FUZZTIME" >&2
	start=$SECONDS
	ok=0
	for attempt in 1 2; do
		if go test -tags "$GO_TAGS" -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" "$pkg" 2>&1 | tee "$log"; [[ ${PIPESTATUS[0]} -eq 0 ]]; then
			ok=1
			break
		fi
		# Go's fuzzing engine sometimes ends a run with "context deadline
		# exceeded" when -fuzztime expires while a worker is busy (a loaded
		# machine): no input failed, none was written. That, and only that,
		# is tried once more; a real failure writes its input and fails.
		if [[ $attempt -eq 1 ]] && grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written to' "$log"; then
			echo "fuzz.sh: $name: the fuzzing engine timed out without a failing input; running it once more" >&2
			continue
		fi
		break
	done
	if [[ $ok -eq 0 ]]; then
		failed+=("$pkg.$name")
		continue
	fi
	echo "fuzz.sh: $name done in $((SECONDS - start))s" >&2
done

echo "fuzz.sh: ${#targets[@]} targets, ${#failed[@]} failed" >&2
if [[ ${#failed[@]} -gt 0 ]]; then
	echo "fuzz.sh: failed: ${failed[*]}" >&2
	exit 1
fi
