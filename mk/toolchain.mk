# mk/toolchain.mk: the offline Terraform toolchain, the local workspace image
# and the template tests. Included from the top-level Makefile; paths are
# relative to the repository root whatever the current directory.
#
#   make toolchain         terraform + providers built from the Go module proxy
#                          into .toolchain/ (a filesystem mirror), 15-25 min cold,
#                          about a second when up to date;
#                          EXTRA_PROVIDERS=DIR merges an admin's providers in
#   make workspace-image   the local Docker image coder-workspace:latest: Debian
#                          bookworm by debootstrap (root or sudo), 5-9 min cold,
#                          under a second when up to date
#   make test-templates    the template tests (needs both of the above)
#   make clean-toolchain   remove .toolchain/
#
# See docs/toolchain.md.

TOOLCHAIN_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)

.PHONY: toolchain workspace-image test-templates clean-toolchain

## toolchain: build terraform + providers from the Go module proxy into .toolchain/ (offline mirror)
toolchain:
	@EXTRA_PROVIDERS='$(EXTRA_PROVIDERS)' $(TOOLCHAIN_ROOT)/scripts/toolchain.sh

## workspace-image: build the local Docker image coder-workspace:latest (Debian bookworm via debootstrap, no registry)
workspace-image:
	@$(TOOLCHAIN_ROOT)/scripts/workspace-image.sh

## test-templates: terraform init/validate every template, apply the docker one for real
test-templates: toolchain workspace-image
	cd $(TOOLCHAIN_ROOT) && $(or $(GO),go) test -tags '$(GO_TAGS)' -race -count=1 ./templates/...

## clean-toolchain: remove .toolchain/ (the next make toolchain rebuilds everything)
clean-toolchain:
	rm -rf $(TOOLCHAIN_ROOT)/.toolchain
