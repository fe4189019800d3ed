#!/usr/bin/env bash
# gokmod depmod/modprobe/modinfo against Debian's kmod 30 and trixie's kmod 34.2, in one
# run, on the same inputs: fresh copies of the 6.1 tree (target: gokmod >= 4x kmod 34.2,
# identical output), depmod after one module changed (on the 6.12 .ko.xz tree: >= 50x),
# the xz trees, the pure-Go xz decoders, depmod -A on an up-to-date tree, modprobe -n of
# an alias and modinfo by name (>= 1x both), then a summary of those targets. Ratios are
# medians of alternating runs; RSS is the peak over the runs. kmod only writes files
# (depmod -b on copies) and only reads (modprobe -n/-D with -d): nothing is loaded.
set -euo pipefail
cd "$(dirname "$0")/.."
CGO_ENABLED=0 go build -trimpath -o bin/gokmod ./cmd/gokmod
exec go run ./internal/cmd/benchdepmod -gokmod bin/gokmod "$@"
