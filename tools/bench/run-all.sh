#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs every benchmark and prints markdown tables (what `make bench` runs; docs/benchmarks.md).
#   run-all.sh BUILD_DIR [--smoke] [--runs N] [--only startup,exits,prefault,memory]
# Needs root for the hugepage pool (it raises vm.nr_hugepages to 1100 if lower).
set -eu
if [ $# -lt 1 ]; then
	echo "usage: $0 BUILD_DIR [--smoke] [--runs N] [--only LIST]" >&2
	exit 2
fi
exec python3 "$(dirname "$0")/bench.py" "$@"
