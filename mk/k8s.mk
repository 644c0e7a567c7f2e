# mk/k8s.mk: the local single-node Kubernetes test cluster (issue 11).
# Included from the top-level Makefile; paths are relative to the repository
# root whatever the current directory. Needs root (the kubelet, containerd
# and CNI do).
#
#   make k8s           build Kubernetes 1.34 from the Go module proxy (cached)
#                      and start the cluster; a no-op when it already runs
#   make k8s-images    import local Docker images (K8S_IMAGES, default
#                      coder-workspace:latest) into the cluster's containerd
#   make k8s-down      stop it and remove everything it made, then check
#   make k8s-test      up, the cluster tests (tools/k8s/e2e), down
#
# State lives in .toolchain/k8s (K8S_DIR). See docs/kubernetes.md.

K8S_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)

.PHONY: k8s k8s-build k8s-down k8s-images k8s-test k8s-e2e test-k8s

# K8S_E2E=0 leaves the Kubernetes end-to-end test out of make test (a
# machine without root, or a quick local run); CI runs it.
K8S_E2E ?= 1

## k8s-build: build the cluster's binaries from the Go module proxy (cached by inputs, and machine-wide in ~/.cache/opencoder/k8s-bin)
k8s-build:
	@$(K8S_ROOT)/scripts/k8s-build.sh

## k8s: start the single-node Kubernetes test cluster (builds it from the Go module proxy the first time)
k8s:
	@$(K8S_ROOT)/scripts/k8s-up.sh

## k8s-images: import local Docker images (K8S_IMAGES) into the test cluster
k8s-images:
	@$(K8S_ROOT)/scripts/k8s-images.sh

## k8s-down: stop the test cluster and remove what it made
k8s-down:
	@$(K8S_ROOT)/scripts/k8s-down.sh

## k8s-test: start the cluster, run the cluster tests against it, stop it
k8s-test:
	@$(K8S_ROOT)/scripts/k8s-up.sh
	@cd $(K8S_ROOT)/tools/k8s && KUBECONFIG=$(or $(K8S_DIR),$(K8S_ROOT)/.toolchain/k8s)/etc/admin.kubeconfig \
		K8S_KUBECTL=$(or $(K8S_DIR),$(K8S_ROOT)/.toolchain/k8s)/bin/kubectl \
		K8S_TEST=1 GOTOOLCHAIN=local GOFLAGS=-mod=mod $(or $(GO),go) test -count=1 -v ./e2e/...; rc=$$?; \
		$(K8S_ROOT)/scripts/k8s-down.sh || rc=1; exit $$rc

## k8s-e2e: the product on the cluster: server image built and imported, helm install, a kubernetes workspace, coder ssh (e2e/TestKubernetesHelmWorkspace), then down
k8s-e2e: build server-image helm
	@K8S_IMAGES="coder-workspace:latest coder-server:latest" $(K8S_ROOT)/scripts/k8s-up.sh
	@K8S_IMAGES="coder-workspace:latest coder-server:latest" $(K8S_ROOT)/scripts/k8s-images.sh
	@cd $(K8S_ROOT) && KUBECONFIG=$(or $(K8S_DIR),$(K8S_ROOT)/.toolchain/k8s)/etc/admin.kubeconfig \
		K8S_KUBECTL=$(or $(K8S_DIR),$(K8S_ROOT)/.toolchain/k8s)/bin/kubectl \
		K8S_TEST=1 $(or $(GO),go) run ./scripts/testpg -- $(or $(GO),go) test -tags '$(GO_TAGS)' -count=1 -timeout 20m \
		-run TestKubernetesHelmWorkspace -v ./e2e; rc=$$?; \
		$(K8S_ROOT)/scripts/k8s-down.sh || rc=1; exit $$rc

## test-k8s: make test's Kubernetes step (K8S_E2E=0 skips it): one cluster up for the cluster's own
## tests (tools/k8s/e2e) and the product's (e2e/TestKubernetesHelmWorkspace), then down
test-k8s:
ifeq ($(K8S_E2E),0)
	@echo "test-k8s: skipped (K8S_E2E=0)"
else
	@$(MAKE) --no-print-directory build server-image helm
	@K8S_IMAGES="coder-workspace:latest coder-server:latest" $(K8S_ROOT)/scripts/k8s-up.sh
	@K8S_IMAGES="coder-workspace:latest coder-server:latest" $(K8S_ROOT)/scripts/k8s-images.sh
	@export KUBECONFIG=$(or $(K8S_DIR),$(K8S_ROOT)/.toolchain/k8s)/etc/admin.kubeconfig \
		K8S_KUBECTL=$(or $(K8S_DIR),$(K8S_ROOT)/.toolchain/k8s)/bin/kubectl K8S_TEST=1; rc=0; \
		(cd $(K8S_ROOT)/tools/k8s && GOTOOLCHAIN=local GOFLAGS=-mod=mod $(or $(GO),go) test -count=1 -v ./e2e/...) || rc=1; \
		if [ $$rc = 0 ]; then cd $(K8S_ROOT) && $(or $(GO),go) run ./scripts/testpg -- $(or $(GO),go) test -tags '$(GO_TAGS)' \
			$(TEST_FLAGS) -timeout 25m -run TestKubernetesHelmWorkspace -v ./e2e || rc=1; fi; \
		$(K8S_ROOT)/scripts/k8s-down.sh || rc=1; exit $$rc
endif
