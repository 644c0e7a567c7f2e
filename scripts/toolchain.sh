#!/usr/bin/env bash
# toolchain.sh (make toolchain) prepares an offline Terraform toolchain in
# .toolchain/ at the repository root, using nothing but the Go module proxy:
#
#   .toolchain/bin/terraform   a terraform >= TERRAFORM_MIN_VERSION from PATH
#                              (symlinked), else one built from source
#   .toolchain/mirror/         a filesystem mirror holding the providers built
#                              from source, under registry.terraform.io/ and
#                              (hard links) registry.opentofu.org/
#   .toolchain/terraformrc     a CLI config that installs providers only from
#                              that mirror (TF_CLI_CONFIG_FILE)
#   .toolchain/env             the export lines printed at the end
#
# Versions come from tools/toolchain/versions.env and tools/toolchain/go.mod.
# Every step leaves a stamp keyed on what it was built from, so a second run
# does nothing and takes well under a second.
#
# Environment:
#   TOOLCHAIN_DIR              where to build (default <repo>/.toolchain)
#   TOOLCHAIN_BUILD_TERRAFORM=1  build terraform from source even if PATH has one
#   TOOLCHAIN_SKIP_KUBERNETES=1  leave the kubernetes provider out (saves ~4 min)
#   TOOLCHAIN_SKIP_UTILITY=1   leave hashicorp/time, local and http out (~4 min)
#   EXTRA_PROVIDERS=DIR        merge the providers in DIR into the mirror
#                              (zips or unpacked mirror layout, see merge_dir)
#   TOOLCHAIN_PREBUILT_DIRS    directories searched for a prebuilt
#                              hashicorp/aws in mirror layout (see link_aws)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${TOOLCHAIN_DIR:-$repo/.toolchain}
tools=$repo/tools/toolchain

log() { printf 'toolchain: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# shellcheck source=../tools/toolchain/versions.env
source "$tools/versions.env"

case "$(uname -s)/$(uname -m)" in
Linux/x86_64) platform=linux_amd64 ;;
Linux/aarch64 | Linux/arm64) platform=linux_arm64 ;;
Darwin/x86_64) platform=darwin_amd64 ;;
Darwin/arm64) platform=darwin_arm64 ;;
*) die "unsupported platform $(uname -s)/$(uname -m)" ;;
esac

mkdir -p "$dir/bin" "$dir/stamps" "$dir/mirror"
dir=$(cd "$dir" && pwd)

# One run at a time: a second make waits instead of racing the first.
if command -v flock >/dev/null; then
	exec 9>"$dir/lock"
	flock -n 9 || {
		log "another toolchain build holds $dir/lock; waiting"
		flock 9
	}
fi

# fresh NAME KEY: true when the stamp NAME records KEY.
fresh() {
	local have=
	[[ -f "$dir/stamps/$1" ]] && read -r have <"$dir/stamps/$1"
	[[ "$have" == "$2" ]]
}
stamp() { printf '%s\n' "$2" >"$dir/stamps/$1"; }

need_go() {
	command -v go >/dev/null || die "go not found in PATH: building from source needs Go (see docs/toolchain.md)"
	export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
}

# version_ge A B: true when version A >= version B.
version_ge() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]; }

# system_terraform prints the first terraform on PATH that is not ours.
system_terraform() {
	local p real
	local IFS=:
	for p in $PATH; do
		[[ -n "$p" && -x "$p/terraform" && ! -d "$p/terraform" ]] || continue
		real=$(cd "$p" && pwd -P)
		[[ "$real" == "$dir/bin" ]] && continue
		printf '%s\n' "$p/terraform"
		return 0
	done
	return 1
}

step_terraform() {
	local sys real key version built=$dir/terraform/$TERRAFORM_VERSION/terraform
	if [[ "${TOOLCHAIN_BUILD_TERRAFORM:-}" != 1 ]] && sys=$(system_terraform); then
		real=$(readlink -f "$sys")
		key="system $real $(stat -c %s-%Y "$real" 2>/dev/null || stat -f %z-%m "$real")"
		if fresh terraform "$key" && [[ -e "$dir/bin/terraform" ]]; then
			return 0
		fi
		version=$("$real" version 2>/dev/null | sed -n '1s/^Terraform v\([0-9][0-9.]*\).*/\1/p')
		if [[ -n "$version" ]] && version_ge "$version" "$TERRAFORM_MIN_VERSION"; then
			ln -sfn "$real" "$dir/bin/terraform"
			stamp terraform "$key"
			log "using terraform $version from $sys"
			return 0
		fi
		log "ignoring $sys (version '${version:-unknown}' < $TERRAFORM_MIN_VERSION)"
	fi
	key="source $TERRAFORM_VERSION"
	if ! fresh terraform-build "$key" || [[ ! -x "$built" ]]; then
		need_go
		log "building terraform $TERRAFORM_VERSION from source (~4 min)..."
		local t0=$SECONDS gobin=$dir/terraform/.gobin goflags=${GOFLAGS:-}
		rm -rf "$gobin"
		mkdir -p "$gobin" "$(dirname "$built")"
		# go install pkg@version uses the module's own go.mod: no -mod flag.
		GOBIN=$gobin GOFLAGS="${goflags//-mod=mod/}" \
			go install -trimpath -ldflags='-s -w' "github.com/hashicorp/terraform@v$TERRAFORM_VERSION" ||
			die "go install github.com/hashicorp/terraform@v$TERRAFORM_VERSION failed"
		mv "$gobin/terraform" "$built"
		rm -rf "$gobin"
		stamp terraform-build "$key"
		log "built terraform $TERRAFORM_VERSION in $((SECONDS - t0))s"
	fi
	ln -sfn "$built" "$dir/bin/terraform"
	stamp terraform "$key"
}

# check_pins fails when go.mod and versions.env disagree.
check_pins() {
	grep -Eq "^[[:space:]]*github.com/coder/terraform-provider-coder/v2 v${CODER_PROVIDER_VERSION//./\\.}\$" "$tools/go.mod" ||
		die "tools/toolchain/go.mod does not require terraform-provider-coder v$CODER_PROVIDER_VERSION (versions.env): update both"
	grep -Eq "kreuzwerker/terraform-provider-docker v0\.0\.0-[0-9]+-$DOCKER_PROVIDER_COMMIT" "$tools/go.mod" ||
		die "tools/toolchain/go.mod does not replace the docker provider with commit $DOCKER_PROVIDER_COMMIT (versions.env): update both"
}

# build_tool OUT PKG [LDFLAGS]: go build a tool pinned in tools/toolchain.
build_tool() {
	(cd "$tools" && GOFLAGS="${GOFLAGS:-} -mod=mod" \
		go build -trimpath -ldflags="-s -w ${3:-}" -o "$1" "$2")
}

# fetch_source NAME MODULE@VERSION: copy a module's source from the module
# cache into $dir/src/NAME and print that directory. Providers are built from
# a copy because go install refuses a go.mod with replace directives or
# naming another module path (the hashicorp providers of 2019-2020 declare
# github.com/terraform-providers/...).
fetch_source() {
	local src=$dir/src/$1 from
	from=$(cd / && GOFLAGS= go mod download -json "$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
	[[ -d "$from" ]] || die "go mod download $2 failed"
	rm -rf "$src"
	mkdir -p "$(dirname "$src")"
	cp -R "$from" "$src"
	chmod -R u+w "$src"
	# Module zips keep only vendor/modules.txt, which would make go build
	# insist on -mod=vendor: dependencies come from the proxy instead.
	rm -rf "$src/vendor"
	printf '%s\n' "$src"
}

# build_source OUT NAME MODULE@VERSION: build a provider from its module's
# own go.mod (missing go.sum lines are filled from the proxy).
build_source() {
	local src
	src=$(fetch_source "$2" "$3")
	(cd "$src" && GOFLAGS="${GOFLAGS:-} -mod=mod" go build -trimpath -ldflags='-s -w' -o "$1" .)
}

build_kubernetes() {
	local out=$1 src
	src=$(fetch_source terraform-provider-kubernetes "github.com/hashicorp/terraform-provider-kubernetes@v$KUBERNETES_PROVIDER_VERSION")
	# Its dependency graph names vbom.ml/util (kubectl's, long gone from
	# the proxy) though no package of it is compiled: stand in a stub.
	if grep -q '^vbom.ml/util ' "$src/go.sum"; then
		mkdir -p "$src/_stub/vbom"
		printf 'module vbom.ml/util\n' >"$src/_stub/vbom/go.mod"
		(cd "$src" && go mod edit -replace vbom.ml/util=./_stub/vbom)
	fi
	(cd "$src" && GOFLAGS="${GOFLAGS:-} -mod=mod" go build -trimpath -ldflags='-s -w' -o "$out" .)
}

# provider NS NAME VERSION KEY ETA BUILD-COMMAND...: build one provider into
# the mirror unless its stamp says it is there.
provider() {
	local ns=$1 name=$2 version=$3 key=$4 eta=$5
	shift 5
	local rel=$ns/$name/$version/$platform bin=terraform-provider-${name}_v$version
	local d=$dir/mirror/registry.terraform.io/$rel
	local tofu=$dir/mirror/registry.opentofu.org/$rel
	if ! fresh "provider-$ns-$name" "$key" || [[ ! -x "$d/$bin" ]]; then
		need_go
		log "building provider $ns/$name $version from source ($eta)..."
		local t0=$SECONDS
		# Only one version per provider: drop the ones built before.
		rm -rf "$dir/mirror/registry.terraform.io/$ns/$name" "$dir/mirror/registry.opentofu.org/$ns/$name"
		mkdir -p "$d"
		"$@" "$d/$bin.tmp" || die "building provider $ns/$name $version failed"
		mv "$d/$bin.tmp" "$d/$bin"
		stamp "provider-$ns-$name" "$key"
		log "built provider $ns/$name $version in $((SECONDS - t0))s"
	fi
	# OpenTofu's hostname: real directories (neither Terraform nor OpenTofu
	# follows a symlinked version directory) and a hard link to the binary.
	if [[ -L "$dir/mirror/registry.opentofu.org/$ns/$name/$version" || ! "$tofu/$bin" -ef "$d/$bin" ]]; then
		rm -rf "$dir/mirror/registry.opentofu.org/$ns/$name"
		mkdir -p "$tofu"
		ln -f "$d/$bin" "$tofu/$bin" 2>/dev/null || cp "$d/$bin" "$tofu/$bin"
	fi
}

build_time() { build_source "$1" terraform-provider-time "github.com/hashicorp/terraform-provider-time@v$TIME_PROVIDER_VERSION"; }
build_local() { build_source "$1" terraform-provider-local "github.com/hashicorp/terraform-provider-local@v$LOCAL_PROVIDER_VERSION"; }
build_http() { build_source "$1" terraform-provider-http "github.com/hashicorp/terraform-provider-http@v$HTTP_PROVIDER_VERSION"; }

build_coder() { build_tool "$1" github.com/coder/terraform-provider-coder/v2; }
build_docker() {
	build_tool "$1" github.com/terraform-providers/terraform-provider-docker "-X main.version=$DOCKER_PROVIDER_VERSION"
}

# link_into FILE TARGET: hard-link FILE to TARGET (the mirror then survives
# FILE's removal and costs no space), else symlink it (another file system).
link_into() {
	[[ "$1" -ef "$2" ]] && return 0
	mkdir -p "$(dirname "$2")"
	ln -f "$1" "$2" 2>/dev/null || ln -sfn "$1" "$2"
}

# merge_host HOSTDIR: link every provider file under HOSTDIR (a hostname
# directory laid out as a filesystem mirror: NAMESPACE/TYPE/VERSION/OS_ARCH/FILE
# for unpacked providers, NAMESPACE/TYPE/FILE.zip for packed ones) into the
# mirror's directory of that hostname, and registry.terraform.io's also into
# registry.opentofu.org's; prints one line per file.
merge_host() {
	local root=$1 host f rel
	host=$(basename "$root")
	while IFS= read -r f; do
		rel=${f#"$root"/}
		link_into "$f" "$dir/mirror/$host/$rel"
		[[ "$host" == registry.terraform.io ]] && link_into "$f" "$dir/mirror/registry.opentofu.org/$rel"
		printf '%s\n' "$host/$rel"
	done < <(find -L "$root" -mindepth 3 -maxdepth 5 -type f \
		\( -path "$root/*/*/*/*/*" -o -path "$root/*/*/terraform-provider-*.zip" \) 2>/dev/null | sort)
}

# merge_dir DIR: merge an admin's providers (EXTRA_PROVIDERS) into the
# mirror. DIR holds any of
#   terraform-provider-TYPE_VERSION_OS_ARCH.zip             (namespace hashicorp)
#   NAMESPACE/terraform-provider-TYPE_VERSION_OS_ARCH.zip
#   registry.terraform.io/NAMESPACE/TYPE/VERSION/OS_ARCH/terraform-provider-TYPE_vVERSION
#   (and any other hostname directory, or packed zips, in mirror layout)
# Zips are linked as they are: Terraform reads the packed layout itself.
merge_dir() {
	local src=$1 f ns base type n=0
	[[ -d "$src" ]] || die "EXTRA_PROVIDERS=$src is not a directory"
	src=$(cd "$src" && pwd)
	while IFS= read -r f; do
		base=$(basename "$f") ns=hashicorp
		[[ "$(dirname "$f")" != "$src" ]] && ns=$(basename "$(dirname "$f")")
		# Zips inside a hostname directory belong to merge_host.
		[[ "$ns" == *.* ]] && continue
		[[ "$base" =~ ^terraform-provider-([a-z0-9-]+)_([0-9][^_]*)_([a-z0-9]+_[a-z0-9]+)\.zip$ ]] ||
			die "$f: expected terraform-provider-TYPE_VERSION_OS_ARCH.zip"
		type=${BASH_REMATCH[1]}
		link_into "$f" "$dir/mirror/registry.terraform.io/$ns/$type/$base"
		link_into "$f" "$dir/mirror/registry.opentofu.org/$ns/$type/$base"
		n=$((n + 1))
	done < <(find -L "$src" -mindepth 1 -maxdepth 2 -type f -name 'terraform-provider-*.zip' | sort)
	local h
	for h in "$src"/*/; do
		[[ -d "$h" && "$(basename "$h")" == *.* ]] || continue
		n=$((n + $(merge_host "${h%/}" | wc -l)))
	done
	log "merged $n provider file(s) from $src (EXTRA_PROVIDERS)"
}

# link_aws: machines of this kind may carry a prebuilt hashicorp/aws (too
# large and too new to build from the module proxy) in mirror layout; link
# it in when present. Only the named directories are looked at, so that a
# warm run stays fast.
link_aws() {
	local roots=${TOOLCHAIN_PREBUILT_DIRS:-/opt/tf-plugins /usr/share/terraform/plugins /usr/local/share/terraform/plugins ${HOME:-/root}/.terraform.d/plugins}
	local r f found=
	for r in $roots; do
		for f in "$r"/registry.terraform.io/hashicorp/aws/*/"$platform"/terraform-provider-aws_*; do
			[[ -f "$f" ]] || continue
			found=${f#"$r"/registry.terraform.io/}
			link_into "$f" "$dir/mirror/registry.terraform.io/$found"
			link_into "$f" "$dir/mirror/registry.opentofu.org/$found"
			log "hashicorp/aws: linked prebuilt $f"
		done
	done
	[[ -n "$found" ]] || log "hashicorp/aws: no prebuilt provider in $roots (not mirrored)"
}

write_config() {
	local rc=$dir/terraformrc env=$dir/env tmp
	tmp=$(mktemp "$dir/.terraformrc.XXXXXX")
	cat >"$tmp" <<EOF
# Written by scripts/toolchain.sh. Terraform and OpenTofu install providers
# only from this mirror, never from a registry:
#   export TF_CLI_CONFIG_FILE=$rc
provider_installation {
  filesystem_mirror {
    path = "$dir/mirror"
  }
}
EOF
	if cmp -s "$tmp" "$rc"; then rm -f "$tmp"; else mv "$tmp" "$rc"; fi
	printf 'export PATH="%s:$PATH"\nexport TF_CLI_CONFIG_FILE="%s"\n' "$dir/bin" "$rc" >"$env"
}

main() {
	check_pins
	step_terraform
	gomod_key=$(cat "$tools/go.mod" "$tools/go.sum" | cksum | cut -d' ' -f1)
	# Three groups build side by side: their module downloads and the
	# long single-threaded links overlap the other groups' compiles. The
	# two providers built in the tools module stay in one group (two go
	# builds in one module could both rewrite its go.sum).
	local pids=() failed=0 pid
	{
		provider coder coder "$CODER_PROVIDER_VERSION" "$CODER_PROVIDER_VERSION $gomod_key" "~3 min" build_coder
		provider kreuzwerker docker "$DOCKER_PROVIDER_VERSION" "$DOCKER_PROVIDER_VERSION $DOCKER_PROVIDER_COMMIT $gomod_key" "~5 min" build_docker
	} &
	pids+=($!)
	if [[ "${TOOLCHAIN_SKIP_KUBERNETES:-}" != 1 ]]; then
		provider hashicorp kubernetes "$KUBERNETES_PROVIDER_VERSION" "$KUBERNETES_PROVIDER_VERSION" "~4 min" build_kubernetes &
		pids+=($!)
	fi
	if [[ "${TOOLCHAIN_SKIP_UTILITY:-}" != 1 ]]; then
		{
			provider hashicorp time "$TIME_PROVIDER_VERSION" "$TIME_PROVIDER_VERSION" "~2 min" build_time
			provider hashicorp local "$LOCAL_PROVIDER_VERSION" "$LOCAL_PROVIDER_VERSION" "~1.5 min" build_local
			provider hashicorp http "$HTTP_PROVIDER_VERSION" "$HTTP_PROVIDER_VERSION" "~1 min" build_http
		} &
		pids+=($!)
	fi
	for pid in "${pids[@]}"; do
		wait "$pid" || failed=1
	done
	[[ $failed == 0 ]] || die "a provider build failed (its error is above)"
	link_aws
	if [[ -n "${EXTRA_PROVIDERS:-}" ]]; then merge_dir "$EXTRA_PROVIDERS"; fi
	write_config

	log "ready in $dir (${SECONDS}s); to use it:"
	cat "$dir/env"
}

# Everything runs from main, so that editing this file during a build does not
# derail the running shell.
main "$@"
