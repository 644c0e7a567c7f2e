# mk/server.mk: the server image for Kubernetes and the Helm chart's tools.
#
#   make server-image   coder-server:latest: the workspace image's Debian tree,
#                       the coder binary, terraform and the provider mirror
#                       (scripts/server-image.sh; a no-op when up to date)
#   make helm           the helm CLI, built from the Go module proxy into
#                       .toolchain/bin/helm (a no-op when present)

SERVER_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
HELM_VERSION ?= v4.3.2
HELM := $(SERVER_ROOT)/.toolchain/bin/helm
# The build lives under its version, so changing HELM_VERSION rebuilds.
HELM_BUILT := $(SERVER_ROOT)/.toolchain/helm/$(HELM_VERSION)/helm

.PHONY: server-image helm

## server-image: build the local image coder-server:latest (coder, terraform, provider mirror) for Kubernetes
server-image: build toolchain workspace-image
	@$(SERVER_ROOT)/scripts/server-image.sh

## helm: build the helm CLI ($(HELM_VERSION)) from the Go module proxy into .toolchain/bin
helm: $(HELM_BUILT)
	@mkdir -p $(dir $(HELM)) && ln -sfn $(HELM_BUILT) $(HELM)
$(HELM_BUILT):
	@mkdir -p $(dir $(HELM_BUILT))
	@echo "helm: building helm $(HELM_VERSION) from the Go module proxy (~5 min cold)..."
	@t0=$$(date +%s); GOBIN=$(dir $(HELM_BUILT)) GOFLAGS= $(or $(GO),go) install -trimpath -ldflags='-s -w' helm.sh/helm/v4/cmd/helm@$(HELM_VERSION) && \
		echo "helm: built $$($(HELM_BUILT) version --short) in $$(( $$(date +%s) - t0 ))s"
