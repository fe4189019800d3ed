#!/usr/bin/env bash
# Time insmod+rmmod of 20 real modules with kmod and gokmod in one guest; print the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
go run ./internal/cmd/benchinsmod "$@"
