#!/bin/sh
# SPDX-License-Identifier: MIT
# Timer and device-interrupt latency under our VMM and QEMU, side by side (docs/latency.md).
#   run.sh BUILD_DIR [--samples N] [--interval-us US] [--out DIR] [--smoke] [--vmm-args ARGS] ...
# See run.py for every option. Writes BUILD_DIR/latency/{latency.md,timer.svg,irq.svg,*.log}.
set -eu
if [ $# -lt 1 ]; then
	echo "usage: $0 BUILD_DIR [--samples N] [--interval-us US] [--smoke] [...]" >&2
	exit 2
fi
exec python3 "$(dirname "$0")/run.py" "$@"
