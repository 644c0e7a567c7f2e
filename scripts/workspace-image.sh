#!/usr/bin/env bash
# workspace-image.sh builds the local Docker image coder-workspace:latest
# (make workspace-image) without any registry: debootstrap installs Debian
# bookworm's minbase variant plus images/workspace/packages.txt from the
# Debian mirror this machine's apt uses, apt-get adds apt-packages.txt, the
# root filesystem is configured
# (user coder, sudo, locale, busybox applets), trimmed (apt caches and lists,
# documentation) and packed into a tarball, and the image is built FROM
# scratch with it.
#
# Needs root (debootstrap runs maintainer scripts in a chroot); re-runs
# itself through `sudo -n` otherwise. Installs debootstrap with apt-get when
# it is missing.
#
# Idempotent: the image carries a label with a hash of its inputs
# (images/workspace/* and this script); when the existing image has the same
# hash, nothing is done. Downloaded packages are kept in
# .toolchain/workspace-image/cache for the next build.
#
# Environment:
#   WORKSPACE_IMAGE   image tag to build (default coder-workspace:latest)
#   DEBIAN_MIRROR     Debian mirror (default: the one in /etc/apt/sources.list*)
#   FORCE=1           rebuild even when the image is up to date
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
image=${WORKSPACE_IMAGE:-coder-workspace:latest}
src=$repo/images/workspace
work=$repo/.toolchain/workspace-image
root=$work/rootfs
suite=bookworm
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

# debian_mirrors prints the Debian archive and its security archive: from
# DEBIAN_MIRROR, else the first ones in apt's sources (one-line or deb822
# format), else deb.debian.org.
debian_mirrors() {
	local uris main security
	uris=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk '$1 == "deb" || $1 == "URIs:" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\//) print $i }' || true)
	main=${DEBIAN_MIRROR:-$(grep -v security <<<"$uris" | head -n1 || true)}
	security=$(grep security <<<"$uris" | head -n1 || true)
	echo "${main:-http://deb.debian.org/debian}"
	echo "${security:-http://deb.debian.org/debian-security}"
}

# unmount_rootfs unmounts whatever a failed debootstrap left mounted in the
# root filesystem (proc, sys), deepest first, so that it can be removed.
unmount_rootfs() {
	findmnt -rno TARGET 2>/dev/null | awk -v r="$root" 'index($0, r) == 1' | sort -r |
		while read -r m; do umount -l "$m" || true; done
}

# apt_install installs apt-packages.txt with apt-get in the chroot (with
# /proc mounted, as maintainer scripts expect), downloading into the same
# package cache as debootstrap.
apt_install() {
	local extra
	extra=$(grep -Ev '^[[:space:]]*(#|$)' "$src/apt-packages.txt" | paste -sd' ')
	[[ -n "$extra" ]] || return 0
	log "apt-get install $extra"
	mkdir -p "$work/cache/partial"
	mount -t proc proc "$root/proc"
	mount --bind "$work/cache" "$root/var/cache/apt/archives"
	local rc=0
	chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C \
		apt-get install -y -qq --no-install-recommends $extra >"$work/apt.log" 2>&1 || rc=$?
	umount "$root/var/cache/apt/archives" "$root/proc"
	if ((rc != 0)); then
		tail -n 30 "$work/apt.log" >&2
		die "apt-get install in the root filesystem failed (log: $work/apt.log)"
	fi
}

# configure runs in the chroot: what a Dockerfile's RUN would do, without
# needing a base image to run it in.
configure() {
	chroot "$root" /bin/bash -euo pipefail -s <<'CHROOT'
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

# The user the workspace runs as: uid 1000 like the volume the templates
# mount, bash, a home from /etc/skel, passwordless sudo.
useradd --create-home --uid 1000 --user-group --shell /bin/bash --comment coder coder
printf 'coder ALL=(ALL:ALL) NOPASSWD: ALL\n' >/etc/sudoers.d/coder
chmod 0440 /etc/sudoers.d/coder
visudo -cq

# A UTF-8 locale (C.UTF-8 is built into libc; en_US.UTF-8 is what most
# tools and people expect).
sed -i 's/^# *\(en_US.UTF-8 UTF-8\)/\1/' /etc/locale.gen
locale-gen >/dev/null
update-locale LANG=en_US.UTF-8

# busybox's applets (httpd, wget, ip, ...) where no real program exists.
busybox --list-full | while read -r path; do
	name=${path##*/}
	for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
		[ -e "$d/$name" ] && continue 2
	done
	ln -s /bin/busybox "/$path"
done

# Login shells (the web terminal, interactive ssh) read /etc/profile, which
# resets PATH on Debian: put the agent's `coder` back in front.
cat >/etc/profile.d/coder.sh <<'PROFILE'
# coder-workspace: the workspace agent's directory holding `coder` (coder
# stat, coder publickey...) stays first on PATH in login shells.
if [ -n "${CODER_AGENT_BIN_DIR-}" ]; then
	case ":$PATH:" in
	*":$CODER_AGENT_BIN_DIR:"*) ;;
	*) PATH="$CODER_AGENT_BIN_DIR:$PATH" ;;
	esac
fi
PROFILE

# Packages installed later in the workspace skip documentation too.
cat >/etc/dpkg/dpkg.cfg.d/01-nodoc <<'NODOC'
# coder-workspace: no documentation or translations (like Debian's slim images).
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
NODOC

apt-get clean
CHROOT
}

# trim removes what a container does not need: apt's lists and caches (apt-get
# update fetches them again), documentation but its copyright files,
# translations, logs, and files Docker provides at run time.
trim() {
	rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/debconf/*-old \
		"$root"/var/cache/ldconfig/aux-cache "$root"/usr/share/man/* "$root"/usr/share/info/* \
		"$root"/etc/hostname "$root"/etc/resolv.conf "$root"/etc/machine-id "$root"/var/lib/dbus/machine-id
	find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
	find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
	find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
	find "$root/var/log" -type f -delete
}

main() {
	command -v docker >/dev/null || die "docker not found in PATH"

	local hash current old_id new_id mirror security wanted
	hash=$(inputs_hash)
	current=$(docker image inspect -f "{{index .Config.Labels \"$label\"}}" "$image" 2>/dev/null || true)
	if [[ "$current" == "$hash" && "${FORCE:-}" != 1 ]]; then
		log "$image is up to date (inputs $hash)"
		return 0
	fi
	if [[ $(id -u) != 0 ]]; then
		command -v sudo >/dev/null && sudo -n true 2>/dev/null ||
			die "building the image needs root (debootstrap): run as root or with passwordless sudo"
		exec sudo -n --preserve-env=WORKSPACE_IMAGE,DEBIAN_MIRROR,FORCE,PATH "${BASH_SOURCE[0]}" "$@"
	fi
	docker info >/dev/null 2>&1 || die "cannot reach the Docker engine (docker info failed)"
	old_id=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)

	if ! command -v debootstrap >/dev/null; then
		command -v apt-get >/dev/null || die "debootstrap and apt-get not found: building the image needs a Debian or Ubuntu host"
		log "installing debootstrap (apt-get)"
		apt-get install -y -qq debootstrap >/dev/null 2>&1 ||
			{ apt-get update -qq >/dev/null && apt-get install -y -qq debootstrap >/dev/null; } ||
			die "cannot install debootstrap"
	fi
	{ read -r mirror && read -r security; } < <(debian_mirrors)
	wanted=$(grep -Ev '^[[:space:]]*(#|$)' "$src/packages.txt" | paste -sd,)

	log "building $image (inputs $hash) from $mirror"
	unmount_rootfs
	rm -rf "$root" "$work/context"
	mkdir -p "$work/cache" "$work/context"
	trap unmount_rootfs EXIT
	if ! debootstrap --variant=minbase --include="$wanted" --cache-dir="$work/cache" \
		"$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
		tail -n 30 "$work/debootstrap.log" >&2
		die "debootstrap failed (log: $work/debootstrap.log)"
	fi
	log "configuring the root filesystem"
	cat >"$root/etc/apt/sources.list" <<-SOURCES
		deb $mirror $suite main
		deb $mirror $suite-updates main
		deb $security $suite-security main
	SOURCES
	apt_install
	configure
	trim

	log "packing rootfs.tar ($(du -sh "$root" | cut -f1))"
	tar --numeric-owner --sort=name --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
		-C "$root" -cf "$work/context/rootfs.tar" .
	cp "$src/Dockerfile" "$work/context/Dockerfile"

	log "docker build"
	# Built under a temporary tag: $image only gets it (and its inputs label)
	# once it passed the smoke test.
	local candidate=coder-workspace-candidate:$hash
	if ! docker build -t "$candidate" --label "$label=$hash" "$work/context" >"$work/build.log" 2>&1; then
		cat "$work/build.log" >&2
		die "docker build failed"
	fi

	log "smoke test"
	# What the agent's init script needs; the Go test
	# (templates/workspace_image_test.go) checks the rest.
	docker run --rm --network none "$candidate" sh -c '
		set -e
		for c in sh bash curl git sudo; do command -v "$c" >/dev/null || { echo "missing $c"; exit 1; }; done
		test -s /etc/ssl/certs/ca-certificates.crt
		test "$(id -un)" = coder
		sudo -n true
		busybox httpd --help >/dev/null 2>&1 || test $? = 1
		test -w /tmp && test -w "$HOME"
	' || die "smoke test of $candidate failed"
	docker tag "$candidate" "$image"
	docker image rm "$candidate" >/dev/null

	new_id=$(docker image inspect -f '{{.Id}}' "$image")
	if [[ -n "$old_id" && "$old_id" != "$new_id" ]]; then
		docker image rm "$old_id" >/dev/null 2>&1 || true
	fi
	rm -rf "$root" "$work/context"
	log "built $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
}

# Everything runs from main, so that editing this file during a build does not
# derail the running shell.
main "$@"
