// Package helm holds the tests of the Helm charts in this directory (the
// charts themselves are YAML): helm lint, helm template against golden
// files, and the refusals of bad values. They run the real helm CLI that
// `make helm` builds into .toolchain/bin.
package helm
