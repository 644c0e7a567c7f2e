# The two commands a new machine needs:
#   make run    builds, starts the server with built-in PostgreSQL and a built-in provisioner
#   make test   installs what the tests need and runs them all (with -race),
#               plus the gofmt/vet checks, a benchmark smoke and a fuzz smoke
SHELL := /bin/bash
GO ?= go
export GOTOOLCHAIN ?= local
export GOFLAGS ?= -mod=mod
BIN := build/coder
GO_SOURCES := $(shell find . -name '*.go' -not -path './.toolchain/*' -not -path './tools/*' 2>/dev/null) go.mod go.sum
TEST_TIMEOUT ?= 50m
TEST_FLAGS ?= -race -count=1
# GO_TAGS are the build tags of the product and of every test and
# benchmark run: ts_debug_websockets compiles upstream's websocket DERP
# client, which `coder server --derp-force-websockets` needs (a binary
# without it refuses the flag at start-up; see docs/tailnet.md). The
# scripts read it from the environment; tests that build the binary use
# testutil.BuildTags, which must stay equal to this default.
GO_TAGS ?= ts_debug_websockets
export GO_TAGS
GO_BUILD_FLAGS = -tags '$(GO_TAGS)'

.PHONY: all build prepare site-assets run test test-go check-fmt vet bench-smoke fuzz-smoke lint fmt bench deps clean
all: build

## deps: install machine packages the product and tests need (PostgreSQL, OpenSSH client and server, iproute2, node-xterm, Chromium, Prometheus)
deps:
	@bash scripts/install-postgres.sh

# XTERM_JS is the web terminal's script, bundled from Debian's node-xterm
# and embedded in the binary (site/static/vendor is not in git).
XTERM_JS := site/static/vendor/xterm.js
$(XTERM_JS): scripts/xtermbundle/main.go
	$(GO) run ./scripts/xtermbundle -out site/static/vendor
	@touch $(XTERM_JS)

## site-assets: bundle xterm.js for the dashboard's terminal (needs make deps)
site-assets: $(XTERM_JS)

## build: build the coder binary into build/coder
build: $(BIN)
$(BIN): $(GO_SOURCES) $(XTERM_JS)
	@mkdir -p build
	$(GO) build $(GO_BUILD_FLAGS) -o $(BIN) ./cmd/coder

-include $(sort $(wildcard mk/*.mk))

## prepare: machine packages, then the Terraform toolchain and the workspace image side by side
## (the toolchain is compile-bound, the image download- and disk-bound: together they take
## about as long as the toolchain alone); each is a no-op when up to date
prepare: deps
	@$(MAKE) --no-print-directory -j2 toolchain workspace-image

## run: build and start the server (built-in PostgreSQL, one built-in provisioner) on http://127.0.0.1:3000
run: prepare
	@$(MAKE) --no-print-directory build
	TF_CLI_CONFIG_FILE=$(CURDIR)/.toolchain/terraformrc ./$(BIN) server $(RUN_ARGS)

## test: everything, as CI runs it (.ci/run): gofmt, vet, the suite, the Kubernetes end-to-end test
## (make k8s-e2e; K8S_E2E=0 leaves it out), a benchmark smoke, a fuzz smoke (prepare's toolchain and
## image, the helm CLI and the cluster's binaries built side by side first)
test: deps
	@$(MAKE) --no-print-directory -j4 toolchain workspace-image helm $(if $(filter 0,$(K8S_E2E)),,k8s-build)
	@$(MAKE) --no-print-directory site-assets
	@$(MAKE) --no-print-directory check-fmt
	@$(MAKE) --no-print-directory vet
	@$(MAKE) --no-print-directory test-go
	@$(MAKE) --no-print-directory test-k8s
	@$(MAKE) --no-print-directory bench-smoke
	@$(MAKE) --no-print-directory fuzz-smoke

## test-go: the Go tests (-race), with one PostgreSQL server for the whole run
test-go:
	$(GO) run ./scripts/testpg -- $(GO) test $(GO_BUILD_FLAGS) $(TEST_FLAGS) -timeout $(TEST_TIMEOUT) ./...

## bench-smoke: every benchmark once, at its -short sizes, so none rots; figures are printed, never compared
## (without -race: the suite already ran the same code under the race detector)
bench-smoke:
	$(GO) run ./scripts/testpg -- $(GO) test $(GO_BUILD_FLAGS) -count=1 -short -run '^$$' -bench . -benchtime 1x -timeout 20m ./...

## fuzz-smoke: every fuzz target for FUZZTIME (10s) each (scripts/fuzz.sh)
fuzz-smoke:
	LIST_FLAGS=-race $(GO) run ./scripts/testpg -- bash scripts/fuzz.sh

## check-fmt: fail if a Go file needs gofmt
check-fmt:
	@bad=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi

## vet: go vet with the product's build tags
vet:
	$(GO) vet $(GO_BUILD_FLAGS) ./...

## lint: gofmt and go vet
lint: check-fmt vet

fmt:
	gofmt -w $$(git ls-files '*.go')

## bench: print the speed figures (see docs/benchmarks.md)
bench: deps
	@bash scripts/bench.sh

clean:
	rm -rf build
