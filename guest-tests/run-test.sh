#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs one guest test and compares its exit status with the expected one.
#
#   run-test.sh [--qemu] VMM IMAGE EXPECT TIMEOUT -- [VMM ARGS...]
#
# VMM ARGS use the vmm's syntax (--cpus N, --memory size=S[,hugepages=2M], --cmdline STR,
# --initrd FILE). With --qemu (or GUEST_RUNNER=qemu) the same entry runs under
# qemu-system-x86_64 instead (VMM is then ignored); QEMU's isa-debug-exit status (v << 1) | 1
# is mapped back to v so that both runners compare. GUEST_QEMU_ACCEL=kvm|tcg picks the
# accelerator (default: kvm if /dev/kvm is usable, else tcg). Exit 0 = pass, 1 = fail,
# 77 = not applicable under QEMU (vmm-only image formats; --qemu runs only).
set -u

runner=${GUEST_RUNNER:-vmm}
if [ "${1:-}" = "--qemu" ]; then
	runner=qemu
	shift
fi
if [ $# -lt 5 ] || [ "$5" != "--" ]; then
	echo "usage: $0 [--qemu] VMM IMAGE EXPECT TIMEOUT -- [VMM ARGS...]" >&2
	exit 2
fi
vmm=$1 image=$2 expect=$3 timeout=$4
shift 5
if [ ! -r "$image" ]; then
	echo "FAIL: no image $image"
	exit 1
fi

# A hugepage-backed entry needs a reserved pool on the host (tools/setup.sh test reserves
# one); without it the vmm refuses to start with a message naming the numbers, and the test
# fails: nothing is skipped.

if [ "$runner" = qemu ]; then
	# QEMU's own boot path for a bzImage would run the real-mode setup, which we do not have.
	if [ "$(dd if="$image" bs=1 skip=514 count=4 2>/dev/null)" = "HdrS" ]; then
		echo "SKIP: bzImage tests run under the vmm only"
		exit 77
	fi
	accel=${GUEST_QEMU_ACCEL:-}
	if [ -z "$accel" ]; then
		if [ -w /dev/kvm ]; then accel=kvm; else accel=tcg; fi
	fi
	if [ "$accel" = kvm ]; then
		cpu=${GUEST_QEMU_CPU:-host,-arch-capabilities}
	else
		cpu=${GUEST_QEMU_CPU:-qemu64}
	fi
	set -- "$@" END
	qargs=""
	smp=1 mem=128M append="" initrd=""
	while [ "$1" != END ]; do
		case "$1" in
		--cpus) smp=$2; shift 2 ;;
		--memory) mem=${2#size=}; mem=${mem%%,*}; shift 2 ;;
		--cmdline) append=$2; shift 2 ;;
		--initrd) initrd=$2; shift 2 ;;
		*) echo "run-test.sh: no QEMU equivalent for '$1'" >&2; exit 2 ;;
		esac
	done
	shift
	set -- -accel "$accel" -cpu "$cpu" -smp "$smp" -m "$mem" -kernel "$image" \
		-device isa-debug-exit,iobase=0xf4,iosize=4 -serial stdio -display none \
		-nodefaults -no-reboot
	# Tells a guest that it runs under the reference, for the few documented differences
	# (QEMU reads unassigned memory as 0, our vmm as all ones).
	set -- "$@" -append "${append:+$append }runner=qemu"
	[ -n "$initrd" ] && set -- "$@" -initrd "$initrd"	# a multiboot module under QEMU
	echo "qemu-system-x86_64 $*"
	err=$(mktemp)
	timeout "$timeout" qemu-system-x86_64 "$@" </dev/null 2>"$err"
	rc=$?
	cat "$err" >&2
	# QEMU's own errors also exit with 1, which is what a guest's exit(0) looks like.
	if [ $rc -eq 1 ] && grep -v -i warning "$err" | grep -q .; then
		rm -f "$err"
		echo "FAIL: QEMU failed"
		exit 1
	fi
	rm -f "$err"
	if [ $rc -eq 124 ]; then
		echo "FAIL: timed out after ${timeout}s"
		exit 1
	fi
	if [ $(( rc & 1 )) -eq 0 ]; then
		echo "FAIL: QEMU exited with $rc without a write to the exit port (crash or reset?)"
		exit 1
	fi
	status=$(( rc >> 1 ))
else
	echo "$vmm run --kernel $image $* --serial stdio --timeout $timeout"
	# The vmm enforces --timeout itself; this outer bound only catches a hung vmm.
	timeout $(( timeout + 15 )) "$vmm" run --kernel "$image" "$@" --serial stdio \
		--timeout "$timeout" </dev/null
	status=$?
fi

if [ "$status" -eq "$expect" ]; then
	echo "PASS: exit status $status"
	exit 0
fi
echo "FAIL: exit status $status, expected $expect"
exit 1
