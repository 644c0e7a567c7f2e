#!/usr/bin/env bash
# server-image.sh builds the local Docker image coder-server:latest (make
# server-image) without a registry: the workspace image's Debian root
# filesystem (built from Debian's packages by make workspace-image, so a
# cold machine builds one Debian tree, not two), plus the coder binary,
# terraform and the provider mirror from .toolchain, with a terraformrc that
# installs providers only from that mirror. It runs as uid 1000 and is
# happy with a read-only root filesystem (the Helm chart mounts emptyDirs
# for state, cache, home and /tmp).
#
# Idempotent: the image carries a label with a hash of its inputs (the
# binary, terraform, the mirror's file list, this script); when the existing
# image has the same hash nothing is done.
#
# Environment:
#   SERVER_IMAGE       tag to build (default coder-server:latest)
#   WORKSPACE_IMAGE    base image (default coder-workspace:latest)
#   CODER_BIN          the coder binary (default build/coder)
#   SERVER_IMAGE_AWS=1 include the hashicorp/aws provider (~700 MB; left out
#                      by default: the cloud templates need it, the image's
#                      kubernetes and docker templates do not)
#   FORCE=1            rebuild even when the image is up to date
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
image=${SERVER_IMAGE:-coder-server:latest}
base=${WORKSPACE_IMAGE:-coder-workspace:latest}
bin=${CODER_BIN:-$repo/build/coder}
mirror=$repo/.toolchain/mirror
ctx=$repo/.toolchain/server-image
label=org.opencoder.server-image.inputs

log() { printf 'server-image: [%3ds] %s\n' "$SECONDS" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

[[ -x $bin ]] || die "$bin is missing: run make build first"
[[ -d $mirror ]] || die "$mirror is missing: run make toolchain first"
tf=$(readlink -f "$repo/.toolchain/bin/terraform" 2>/dev/null) || true
[[ -x ${tf:-} ]] || die "no terraform in .toolchain/bin: run make toolchain first"
docker image inspect "$base" >/dev/null 2>&1 || die "base image $base is missing: run make workspace-image first"

# The mirror's provider directories to bake in, relative to the mirror.
providers() {
	(cd "$mirror" && find . -mindepth 4 -maxdepth 4 -type d | LC_ALL=C sort |
		{ if [[ ${SERVER_IMAGE_AWS:-} == 1 ]]; then cat; else grep -v '/hashicorp/aws/'; fi })
}

inputs_hash() {
	{
		sha256sum "$bin" "$tf" "${BASH_SOURCE[0]}"
		docker image inspect -f '{{.Id}}' "$base"
		(cd "$mirror" && providers | xargs -r -I{} find {} -type f -printf '%p %s\n' | LC_ALL=C sort)
	} | sha256sum | cut -c1-32
}

want=$(inputs_hash)
have=$(docker image inspect -f "{{index .Config.Labels \"$label\"}}" "$image" 2>/dev/null || true)
if [[ $want == "$have" && ${FORCE:-} != 1 ]]; then
	log "$image is up to date (inputs $want)"
	exit 0
fi

log "building $image (inputs $want) from $base"
rm -rf "$ctx"
mkdir -p "$ctx/mirror"
cp "$bin" "$ctx/coder"
cp "$tf" "$ctx/terraform"
# Hard links where the file system allows: the mirror is hundreds of MB.
(cd "$mirror" && providers | while read -r d; do
	mkdir -p "$ctx/mirror/$(dirname "$d")"
	cp -al "$d" "$ctx/mirror/$d" 2>/dev/null || cp -a "$d" "$ctx/mirror/$d"
done)
cat >"$ctx/terraformrc" <<'RC'
# Providers come only from the mirror baked into the image.
provider_installation {
  filesystem_mirror {
    path = "/opt/coder/mirror"
  }
}
RC
cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM $base
COPY coder terraform /usr/local/bin/
COPY mirror /opt/coder/mirror
COPY terraformrc /etc/coder/terraformrc
ENV TF_CLI_CONFIG_FILE=/etc/coder/terraformrc \\
    CHECKPOINT_DISABLE=1 \\
    CODER_PROVISIONER_PROVIDER_MIRROR=/opt/coder/mirror \\
    CODER_PROVISIONER_DAEMON_PROVIDER_MIRROR=/opt/coder/mirror \\
    CODER_PROVISIONER_DAEMON_INSTALL_TERRAFORM=false \\
    HOME=/home/coder
USER 1000:1000
WORKDIR /home/coder
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/coder"]
CMD ["server", "--http-address", "0.0.0.0:8080"]
LABEL $label=$want
DOCKERFILE
docker build -q -t "$image" "$ctx" >/dev/null
rm -rf "$ctx"
log "built $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%d MB", $1/1e6}'))"
