# The two commands a new machine needs:
#   make run    builds, starts the server with built-in PostgreSQL and a built-in provisioner
#   make test   installs what the tests need and runs them all (with -race)
SHELL := /bin/bash
GO ?= go
export GOTOOLCHAIN ?= local
export GOFLAGS ?= -mod=mod
BIN := build/coder
GO_SOURCES := $(shell find . -name '*.go' -not -path './.toolchain/*' -not -path './tools/*' 2>/dev/null) go.mod go.sum
TEST_TIMEOUT ?= 50m
TEST_FLAGS ?= -race -count=1

.PHONY: all build run test lint fmt bench deps clean
all: build

## deps: install machine packages the product and tests need (PostgreSQL, OpenSSH client)
deps:
	@bash scripts/install-postgres.sh

## build: build the coder binary into build/coder
build: $(BIN)
$(BIN): $(GO_SOURCES)
	@mkdir -p build
	$(GO) build -o $(BIN) ./cmd/coder

-include mk/toolchain.mk

## run: build and start the server (built-in PostgreSQL, one built-in provisioner) on http://127.0.0.1:3000
run: deps toolchain workspace-image build
	TF_CLI_CONFIG_FILE=$(CURDIR)/.toolchain/terraformrc ./$(BIN) server $(RUN_ARGS)

## test: everything, as CI runs it
test: deps toolchain workspace-image
	$(GO) vet ./...
	$(GO) run ./scripts/testpg -- $(GO) test $(TEST_FLAGS) -timeout $(TEST_TIMEOUT) ./...

## lint: gofmt and go vet
lint:
	@bad=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

## bench: print the speed figures (see docs/benchmarks.md)
bench: deps
	@bash scripts/bench.sh

clean:
	rm -rf build
