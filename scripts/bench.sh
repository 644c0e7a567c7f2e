#!/usr/bin/env bash
# bench.sh: run the project's headline Go benchmarks and print their figures
# as a short table. docs/benchmarks.md explains each figure.
#
# Usage: scripts/bench.sh [name-regex]
#   BENCHTIME=3s  default -benchtime for entries that do not set their own
#   COUNT=1       -count (repeat runs; each run is a table row)
#   RAW=1         also print go test's own output
#
# The benchmarks start a real PostgreSQL (dbtestutil); see
# scripts/install-postgres.sh. Those of ./provisionerd, ./provisionerd/terraform
# and ./e2e also need the offline Terraform toolchain (make toolchain); ./e2e
# needs Docker with the workspace image (make workspace-image) and OpenSSH's
# sshd (apt-get install openssh-server). Close other heavy work first: figures
# from a busy machine are noise.
#
# A benchmark that fails is reported and the others still run; the script
# then exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."

export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export GOFLAGS="${GOFLAGS:--mod=mod}"
BENCHTIME="${BENCHTIME:-3s}"
# The product's build tags (the Makefile's GO_TAGS).
GO_TAGS="${GO_TAGS-ts_debug_websockets}"
COUNT="${COUNT:-1}"
FILTER="${1:-.}"

# ---------------------------------------------------------------------------
# BENCHMARKS: one entry per benchmark, "package BenchmarkName [benchtime]".
# Add yours here (keep the package path relative, ./...). A benchtime of the
# form 50x runs exactly that many iterations.
BENCHMARKS=(
	"./coderd BenchmarkUsersMe"
	"./coderd BenchmarkLogin 3s"
	"./coderd/userpassword BenchmarkHash"
	"./coderd/rbac BenchmarkAuthorize 1s"
	"./coderd/database/dbtestutil BenchmarkNewDB"
	"./provisionerd BenchmarkJobPickup 300x"
	"./provisionerd BenchmarkJobThroughput 1x"
	"./provisionerd/terraform BenchmarkBuild 3x"
	"./tailnet BenchmarkThroughput 2s"
	"./tailnet BenchmarkCoordinator 2000x"
	"./coderd/coordpg BenchmarkCrossReplicaUpdate 1000x"
	"./coderd/coordpg BenchmarkSameReplicaUpdate 1000x"
	"./scaletest BenchmarkScaleAgents 1x"
	"./agent/agentssh BenchmarkExecTrue 2s"
	"./agent/speedtest BenchmarkThroughput 10x"
	"./agent BenchmarkAgentIdleRSS 1x"
	"./e2e BenchmarkCreateVsApply 3x"
	"./e2e BenchmarkSSHConnect 5x"
	"./site BenchmarkWorkspacesPage 20x"
	"./site BenchmarkTerminalPage 10x"
	"./coderd BenchmarkKeystrokeEcho 2s"
	"./coderd BenchmarkAppProxy 5x"
)
# ---------------------------------------------------------------------------

out="$(mktemp)"
trap 'rm -f "$out" "$out.run"' EXIT

failed=()
for entry in "${BENCHMARKS[@]}"; do
	read -r pkg name benchtime <<<"$entry"
	[[ "$name" =~ $FILTER ]] || continue
	echo "running $name ($pkg, benchtime ${benchtime:-$BENCHTIME})..." >&2
	start=$SECONDS
	# -timeout: go test's default of 10m would cut the end-to-end ones
	# short on a slow machine.
	if ! go test -tags "$GO_TAGS" -run '^$' -bench "^${name}\$" -benchtime "${benchtime:-$BENCHTIME}" -count "$COUNT" -timeout 30m "$pkg" >"$out.run" 2>&1; then
		cat "$out.run" >&2
		echo "bench.sh: $name failed" >&2
		failed+=("$name")
		continue
	fi
	echo "  done in $((SECONDS - start))s" >&2
	[[ -n "${RAW:-}" ]] && cat "$out.run" >&2
	grep -E '^Benchmark' "$out.run" >>"$out" || true
	rm -f "$out.run"
done

if [[ ! -s "$out" && ${#failed[@]} -eq 0 ]]; then
	echo "bench.sh: no benchmark matched '$FILTER'" >&2
	exit 1
fi

echo
echo "$(go env GOOS)/$(go env GOARCH), $(nproc) CPUs, $(go version | awk '{print $3}'), $(date -u +%Y-%m-%dT%H:%MZ)"
# A result line is: name iterations (value unit)...; show time/op in a
# readable unit and every other metric as reported, four to a line.
awk '
function human(ns) {
	if (ns >= 1e9) return sprintf("%.2fs", ns / 1e9)
	if (ns >= 1e6) return sprintf("%.2fms", ns / 1e6)
	if (ns >= 1e3) return sprintf("%.2fµs", ns / 1e3)
	return sprintf("%.0fns", ns)
}
BEGIN { printf "%-34s %10s %12s  %s\n", "benchmark", "runs", "time/op", "other figures" }
{
	name = $1; sub(/-[0-9]+$/, "", name)
	t = ""; extra = ""; n = 0
	for (i = 3; i < NF; i += 2) {
		if ($(i + 1) == "ns/op") { t = human($i); continue }
		if (n > 0 && n % 4 == 0) extra = extra sprintf("\n%60s", "")
		extra = extra sprintf("%s %s   ", $i, $(i + 1)); n++
	}
	printf "%-34s %10s %12s  %s\n", name, $2, t, extra
}' "$out"

# The speed aims (issue 10): each figure against its baseline measured in
# the same run, as a ratio. Rows whose benchmarks did not run are left out.
awk '
{
	name = $1; sub(/-[0-9]+$/, "", name)
	for (i = 3; i < NF; i += 2) m[name, $(i + 1)] = $i
}
function row(figure, value, base, ratio, aim) {
	printf "%-44s %16s %16s %8s  %s\n", figure, value, base, ratio, aim
}
function have(n, u) { return ((n, u) in m) }
END {
	print ""
	row("speed aim (value vs baseline, same run)", "value", "baseline", "ratio", "aim")
	s = "BenchmarkSSHConnect"
	if (have(s, "coder/openssh"))
		row("coder ssh WS -- true / ssh localhost true", m[s, "coder-ssh-ms"] " ms", m[s, "openssh-ms"] " ms", sprintf("%.2f", m[s, "coder/openssh"]), "<= 1.5")
	if (have(s, "config-ssh/openssh"))
		row("OpenSSH via config-ssh / plain OpenSSH", m[s, "config-ssh-ms"] " ms", m[s, "openssh-ms"] " ms", sprintf("%.2f", m[s, "config-ssh/openssh"]), "<= 2")
	t = "BenchmarkThroughput/"
	d = m[t "tailnet-direct", "MB/s"]; r = m[t "tailnet-derp", "MB/s"]; l = m[t "loopback-tcp", "MB/s"]
	if (d > 0 && r > 0)
		row("DERP-relayed / direct tailnet throughput", r " MB/s", d " MB/s", sprintf("%.2f", r / d), ">= 0.3")
	if (d > 0 && l > 0)
		row("direct tailnet / loopback TCP throughput", d " MB/s", l " MB/s", sprintf("%.3f", d / l), ">= 0.25")
	c = "BenchmarkCreateVsApply"
	if (have(c, "create/bare"))
		row("coder create / bare terraform init+apply", m[c, "create-s"] " s", m[c, "bare-s"] " s", sprintf("%.2f", m[c, "create/bare"]), "<= 1.2")
	k = "BenchmarkCoordinator/pairs=5000"
	if (have(k, "p99-µs"))
		row("coordinator p99 update, 5,000 pairs", m[k, "p99-µs"] " µs", "-", "-", "< 100000 µs (" int(m[k, "B/pair"] / 1024) " KiB/pair)")
	g = "BenchmarkScaleAgents"
	if (have(g, "api-p95-ms")) {
		row(sprintf("agent API p95, %d agents on 2 replicas", m[g, "agents"]), m[g, "api-p95-ms"] " ms", "-", "-", "< 100 ms (p99 " m[g, "api-p99-ms"] " ms)")
		row("their node updates across replicas, p99", m[g, "node-p99-ms"] " ms", "-", "-", "< 200 ms")
		row("PostgreSQL transactions per agent per minute", sprintf("%.1f", m[g, "pg-q/agent/min"]), sprintf("%.0f/min idle", m[g, "pg-idle-q/min"]), "-", "report")
	}
	a = "BenchmarkAgentIdleRSS"
	if (have(a, "rss-MiB"))
		row("agent idle RSS (anonymous)", sprintf("%.1f (%.1f) MiB", m[a, "rss-MiB"], m[a, "anon-MiB"]), sprintf("%.1f MiB", m[a, "baseline-rss-MiB"]), sprintf("%.2f", m[a, "rss/baseline"]), "< 40 MiB (< 15)")
}' "$out"

if [[ ${#failed[@]} -gt 0 ]]; then
	echo "bench.sh: failed: ${failed[*]}" >&2
	exit 1
fi
