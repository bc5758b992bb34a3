#!/usr/bin/env bash
# One command from a fresh Debian 12 machine (as root, or with sudo):
#   tools/setup.sh run    install build dependencies, build, boot the bundled guest
#   tools/setup.sh test   install, build, run every test, then again under ASan+UBSan;
#                         fuzz the vhost-user parser; build the KVM patch series
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}
jobs=$(nproc)
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo

deps=(build-essential cmake pkg-config python3 libfdt-dev liburing-dev libseccomp-dev
      libcriterion-dev)
# Tests also use the reference VMM, the Debian kernel, and tools to unpack it.
testdeps=(qemu-system-x86 linux-image-cloud-amd64 lz4 xz-utils zstd gzip cpio busybox-static iproute2
	  iputils-ping iptables clang libclang-rt-14-dev dpdk-dev)

install() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} = 0 ] && return
	$sudo apt-get update -q
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

build() {	# build DIR [cmake args...]
	local dir=$1; shift
	cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
	cmake --build "$dir" -j "$jobs"
}

# Hugepage-backed guests in the tests need a pool; reserve it if it is smaller.
reserve_hugepages() {
	local want=$1 have
	have=$(cat /proc/sys/vm/nr_hugepages)
	if [ "$have" -lt "$want" ]; then
		echo "$want" | $sudo tee /proc/sys/vm/nr_hugepages >/dev/null || true
	fi
}

case $mode in
run)
	install "${deps[@]}"
	build build
	exec build/vmm/vmm run
	;;
test)
	install "${deps[@]}" "${testdeps[@]}"
	reserve_hugepages 1200
	build build
	(cd build && ctest --output-on-failure -j 2 --timeout 900)
	# Same tests under AddressSanitizer + UndefinedBehaviorSanitizer, minus the slow
	# ones that exercise no more host code (the Linux boot runs once, above).
	build build-asan -DSANITIZE=ON
	(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j 2 -LE slow --timeout 900)
	# The vhost-user message parser under libFuzzer (clang, ASan+UBSan) for 30 s.
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DFUZZ=ON -DBUILD_TESTING=OFF >/dev/null
	cmake --build build-fuzz -j "$jobs" --target fuzz_vu_msg
	(cd build-fuzz && ctest --output-on-failure -L fuzz)
	# The KVM patch series (docs/kvm-views.md): apply to Debian's linux-source-6.12,
	# checkpatch, build the KVM modules and the selftest. Once, not per build flavour.
	kv=$(mktemp -d /tmp/kvm-views-ci.XXXXXX)
	trap 'rm -rf "$kv"' EXIT
	bash arch/x86/kvm-patch/build.sh "$kv"
	;;
*)
	echo "usage: $0 run|test" >&2
	exit 2
	;;
esac
