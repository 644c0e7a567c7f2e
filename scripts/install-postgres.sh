#!/usr/bin/env bash
# install-postgres.sh: make sure this machine has what `coder server`'s
# built-in PostgreSQL and the test suite need: the PostgreSQL server programs
# (initdb, pg_ctl, postgres), an OpenSSH client, and OpenSSH's server (the
# baseline of e2e's BenchmarkSSHConnect, which the benchmark smoke in
# `make test` runs).
#
# Idempotent and quick when everything is present. Installs with apt-get
# (Debian/Ubuntu), as root or through sudo; elsewhere it says what to install.
set -euo pipefail

have_pg_server() {
	local d dirs
	IFS=: read -ra dirs <<<"${PATH:-}"
	for d in "${dirs[@]}" /usr/lib/postgresql/*/bin; do
		[[ -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" ]] && return 0
	done
	return 1
}

packages=()
have_pg_server || packages+=(postgresql)
command -v ssh >/dev/null 2>&1 || packages+=(openssh-client)
[ -x /usr/sbin/sshd ] || packages+=(openssh-server)
# The dashboard's web terminal: Debian's xterm.js modules, bundled into one
# browser script by scripts/xtermbundle (libjs-xterm's browser build is a
# stub that cannot run in a browser). The browser tests drive Chromium.
[ -f /usr/share/nodejs/xterm/lib/public/Terminal.js ] || packages+=(node-xterm)
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
# cli's metrics test has a real Prometheus scrape coder server's /metrics.
command -v prometheus >/dev/null 2>&1 || packages+=(prometheus)
# e2e's replica tests put coder server replicas behind a real HAProxy.
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || packages+=(haproxy)
# tailnet's loopback-only test builds a network namespace with ip(8).
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || packages+=(iproute2)

if ((${#packages[@]} == 0)); then
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-postgres: missing ${packages[*]}; install them with your package manager" >&2
	echo "  (macOS: brew install postgresql; Fedora: dnf install postgresql-server openssh-clients)" >&2
	exit 1
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "install-postgres: need root to install ${packages[*]} (run: apt-get install -y ${packages[*]})" >&2
		exit 1
	fi
	sudo=(sudo)
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "install-postgres: installing ${packages[*]} with apt-get (about a minute)..." >&2
apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
if ! "${apt[@]}" update -qq >"$log" 2>&1 ||
	! "${apt[@]}" install -y -qq --no-install-recommends "${packages[@]}" >>"$log" 2>&1; then
	cat "$log" >&2
	echo "install-postgres: apt-get failed (log above)" >&2
	exit 1
fi

if [[ " ${packages[*]} " == *" postgresql "* ]] && ! have_pg_server; then
	echo "install-postgres: postgresql installed but initdb not found under /usr/lib/postgresql/*/bin" >&2
	exit 1
fi
echo "install-postgres: done" >&2
