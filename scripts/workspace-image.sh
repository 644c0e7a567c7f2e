#!/usr/bin/env bash
# workspace-image.sh builds the local Docker image coder-workspace:latest
# (make workspace-image) without any registry: the root filesystem is
# unpacked from Debian packages fetched with apt-get download (nothing is
# installed on the host, no maintainer script runs) and built FROM scratch.
#
# Idempotent: the image carries a label with a hash of its inputs
# (images/workspace/* and this script); when the existing image has the same
# hash, nothing is done.
#
# Environment:
#   WORKSPACE_IMAGE   image tag to build (default coder-workspace:latest)
#   FORCE=1           rebuild even when the image is up to date
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
image=${WORKSPACE_IMAGE:-coder-workspace:latest}
src=$repo/images/workspace
work=$repo/.toolchain/workspace-image
label=org.opencoder.workspace-image.inputs

log() { printf 'workspace-image: [%3ds] %s\n' "$SECONDS" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# The inputs hash: every file under images/workspace plus this script.
inputs_hash() {
	(
		cd "$repo"
		{
			find images/workspace -type f -print
			echo scripts/workspace-image.sh
		} | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-32
	)
}

# resolve EXCLUDE PACKAGE... prints the packages and the closure of their
# Depends and Pre-Depends (first alternative of each group), never descending
# into a package matching the regular expression EXCLUDE. One recursive
# apt-cache call gives the graph; awk walks it.
resolve() {
	local exclude=$1
	shift
	apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
		--no-breaks --no-replaces --no-enhances "$@" 2>/dev/null |
		awk -v wanted="$*" -v exclude="$exclude" '
			/^[^ ]/ { pkg = $1; alt = 0; next }
			/^ +\|?(Pre)?Depends: / {
				name = $NF; isalt = ($1 ~ /^\|/)
				take = !alt; alt = isalt
				if (take && name !~ /^</ && name !~ /:/) deps[pkg] = deps[pkg] " " name
			}
			END {
				n = split(wanted, queue, " ")
				for (i = 1; i <= n; i++) seen[queue[i]] = 1
				for (i = 1; i <= n; i++) {
					m = split(deps[queue[i]], d, " ")
					for (j = 1; j <= m; j++) {
						if (d[j] in seen) continue
						if (exclude != "" && d[j] ~ exclude) continue
						seen[d[j]] = 1
						queue[++n] = d[j]
					}
				}
				for (p in seen) print p
			}' | LC_ALL=C sort
}

# known PACKAGE...: true when apt has all of them.
known() { apt-cache show --no-all-versions "$@" >/dev/null 2>&1; }

main() {
	command -v docker >/dev/null || die "docker not found in PATH"

	local hash current old_id new_id root
	hash=$(inputs_hash)
	current=$(docker image inspect -f "{{index .Config.Labels \"$label\"}}" "$image" 2>/dev/null || true)
	if [[ "$current" == "$hash" && "${FORCE:-}" != 1 ]]; then
		log "$image is up to date (inputs $hash)"
		return 0
	fi
	docker info >/dev/null 2>&1 || die "cannot reach the Docker engine (docker info failed)"
	old_id=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)

	command -v apt-get >/dev/null || die "apt-get not found: building the image needs a Debian or Ubuntu host"
	command -v dpkg-deb >/dev/null || die "dpkg-deb not found"

	log "building $image (inputs $hash)"

	# Packages: the list, their dependencies, minus the exclusions.
	local wanted pkgs exclude
	mapfile -t wanted < <(grep -Ev '^[[:space:]]*(#|$)' "$src/packages.txt")
	exclude=$(grep -Ev '^[[:space:]]*(#|$)' "$src/exclude.txt" | paste -sd'|')
	if ! known "${wanted[@]}"; then
		[[ $(id -u) == 0 ]] || die "apt does not know all of ${wanted[*]}: run apt-get update as root"
		log "refreshing apt package lists (apt-get update)"
		apt-get update -qq >/dev/null
		known "${wanted[@]}" || die "apt cannot find all of: ${wanted[*]}"
	fi
	mapfile -t pkgs < <(resolve "$exclude" "${wanted[@]}")

	rm -rf "$work"
	mkdir -p "$work/debs" "$work/rootfs" "$work/context"
	log "downloading ${#pkgs[@]} Debian packages"
	(cd "$work/debs" && apt-get download -qq -o APT::Sandbox::User=root "${pkgs[@]}" >/dev/null) ||
		die "apt-get download failed"

	root=$work/rootfs
	# A merged-/usr layout, as Debian bookworm has.
	mkdir -p "$root"/usr/{bin,sbin,lib,lib64,local/bin}
	local d deb
	for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done
	log "unpacking into a root filesystem"
	for deb in "$work"/debs/*.deb; do
		dpkg-deb --fsys-tarfile "$deb" | tar -x --keep-directory-symlink -C "$root"
	done
	rm -rf "$root"/usr/share/{doc,man,info,locale,lintian,bash-completion}

	ln -sf bash-static "$root/usr/bin/bash"

	log "writing the CA bundle"
	# What update-ca-certificates would have written.
	mkdir -p "$root/etc/ssl/certs"
	find "$root/usr/share/ca-certificates" -name '*.crt' -print0 | LC_ALL=C sort -z |
		xargs -0 cat >"$root/etc/ssl/certs/ca-certificates.crt"

	cp -a "$src/rootfs/." "$root/"
	mkdir -p "$root"/{tmp,var/tmp,root,home/coder,run,proc,sys,dev}
	chmod 1777 "$root/tmp" "$root/var/tmp"
	chmod 0700 "$root/root"

	log "packing rootfs.tar"
	# Everything belongs to root except the home of coder (uid 1000), without
	# needing root here.
	tar --numeric-owner --owner=0 --group=0 --sort=name --exclude=./home/coder \
		-C "$root" -cf "$work/context/rootfs.tar" .
	tar --numeric-owner --owner=1000 --group=1000 --sort=name \
		-C "$root" -rf "$work/context/rootfs.tar" ./home/coder
	cp "$src/Dockerfile" "$work/context/Dockerfile"

	log "docker build ($(du -sh "$work/context/rootfs.tar" | cut -f1) root filesystem)"
	# Built under a temporary tag: $image only gets it (and its inputs label)
	# once it passed the smoke test.
	local candidate=coder-workspace-candidate:$hash
	if ! docker build -t "$candidate" --label "$label=$hash" "$work/context" >"$work/build.log" 2>&1; then
		cat "$work/build.log" >&2
		die "docker build failed"
	fi

	log "smoke test"
	# Smoke test: what the agent's init script and developers rely on.
	docker run --rm --network none "$candidate" sh -c '
		set -e
		for c in sh bash wget curl git; do command -v "$c" >/dev/null || { echo "missing $c"; exit 1; }; done
		test -s /etc/ssl/certs/ca-certificates.crt
		test "$(id -un)" = coder
		test -w /tmp && test -w "$HOME"
	' || die "smoke test of $candidate failed"
	docker tag "$candidate" "$image"
	docker image rm "$candidate" >/dev/null

	new_id=$(docker image inspect -f '{{.Id}}' "$image")
	if [[ -n "$old_id" && "$old_id" != "$new_id" ]]; then
		docker image rm "$old_id" >/dev/null 2>&1 || true
	fi
	rm -rf "$work/debs" "$work/rootfs" "$work/context"
	log "built $image"
}

# Everything runs from main, so that editing this file during a build does not
# derail the running shell.
main "$@"
