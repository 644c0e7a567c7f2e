// Package clistat measures what `coder stat` prints: CPU, memory and disk
// usage of the workspace, from the kernel's own files. Inside a container it
// reads the container's cgroup (v1 or v2) so a workspace started with
// `--cpus 0.5 --memory 256m` reports 0.5 cores and 256 MiB, not the host's
// figures; with Host it reads /proc/stat and /proc/meminfo instead.
//
// House rules: every path is read below Statter.Root, so tests point it at
// fixture trees (testdata/) that stand for a whole machine; no goroutines;
// the only wait is the CPU sampling interval, taken through Statter.Wait so
// tests replace it and advance their own clock.
package clistat
