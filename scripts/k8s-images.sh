#!/usr/bin/env bash
# k8s-images.sh (make k8s-images) copies local Docker images into the test
# cluster's containerd (namespace k8s.io), since the cluster has no registry
# to pull from: pods use them with imagePullPolicy: Never (or IfNotPresent).
#
# K8S_IMAGES lists the images (default: coder-workspace:latest); an image
# Docker does not have is skipped with a note. Each import is keyed on the
# Docker image ID, so an unchanged image is not copied again. Needs a running
# cluster (make k8s); k8s-up.sh calls it at the end.
set -euo pipefail

# shellcheck source=k8s-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/k8s-lib.sh"

images=${K8S_IMAGES:-coder-workspace:latest}
ctr_ version >/dev/null 2>&1 || die "the cluster's containerd is not running (make k8s)"
command -v docker >/dev/null || {
	log "no docker: no images to import"
	exit 0
}
stamps=$store/imported
mkdir -p "$stamps"
for img in $images; do
	id=$(docker image inspect -f '{{.Id}}' "$img" 2>/dev/null) || {
		log "image $img: not in Docker, skipped (build it first, then make k8s-images)"
		continue
	}
	stamp=$stamps/$(printf '%s' "$img" | tr '/:' '__')
	# The import also names the image by its config digest, which is the
	# Docker image ID: both the stamp and the store must have it.
	if [[ -f "$stamp" && "$(cat "$stamp")" == "$id" ]] && ctr_ images ls -q | grep -qx "$id"; then
		log "image $img: up to date"
		continue
	fi
	log "image $img: importing ${id:7:12}"
	t=$(date +%s)
	docker save "$img" | ctr_ images import - >/dev/null
	echo "$id" >"$stamp"
	log "image $img: imported in $(($(date +%s) - t))s"
done
