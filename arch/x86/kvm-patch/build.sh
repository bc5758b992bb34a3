#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Build check for the EPT-views KVM patch series (docs/kvm-views.md):
#   1. installs Debian's linux-source-6.12 and the build dependencies if missing,
#   2. unpacks it into DIR (default: a new temporary directory),
#   3. applies 000[1-3]-*.patch with patch -p1 --fuzz=0 (any failed hunk aborts),
#   4. runs scripts/checkpatch.pl --no-tree on each patch (errors or warnings abort),
#   5. builds only arch/x86/kvm (kvm.ko, kvm-intel.ko, kvm-amd.ko) twice:
#      a. defconfig + KVM, KVM_INTEL, KVM_AMD as modules, KVM_WERROR=y, HYPERV=y;
#         no vmlinux, so modpost cannot resolve kernel symbols (warnings only);
#      b. Debian's own config and Module.symvers for the same kernel
#         (linux-headers-<ver>+deb12-amd64, fetched with apt-get download and
#         unpacked, not installed): modpost checks every symbol, and the
#         modules carry Debian's vermagic, so they load into Debian's kernel of
#         that version (KVM_VIEWS_DEBIAN=0 skips this build),
#   6. checks that kvm-views-uapi.h matches the patched UAPI headers,
#   7. builds only the kvm_views_test selftest and runs it once: on a kernel
#      without the series it must SKIP (exit 4); 0 (PASS) is accepted too, for a
#      host running the patched modules.  Anything else fails.
#
# Usage: bash arch/x86/kvm-patch/build.sh [DIR]
# Nothing here loads the modules: see docs/kvm-views.md for checking on an
# Intel host.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=${1:-$(mktemp -d /tmp/kvm-views.XXXXXX)}
jobs=${JOBS:-2}
tarball=/usr/src/linux-source-6.12.tar.xz
deps=(linux-source-6.12 gcc make perl bc bison flex libelf-dev libssl-dev xz-utils patch kmod)
debian_build=${KVM_VIEWS_DEBIAN:-1}

t_start=$(date +%s)
passed=0
skipped=0

# Each step's header shows the time elapsed since the script started.
step() {
	printf '== kvm-patch [%4d s] %s\n' "$(($(date +%s) - t_start))" "$1"
}

ok() {
	passed=$((passed + 1))
	echo "   ok: $1"
}

die() {
	echo "kvm-patch: FAILED: $*" >&2
	echo "kvm-patch: $passed passed, 1 failed"
	exit 1
}

missing=()
for p in "${deps[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if ((${#missing[@]})); then
	step "installing ${missing[*]}"
	sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
fi
[ -f "$tarball" ] || die "$tarball missing after installing linux-source-6.12"
src_version=$(dpkg-query -W -f='${Version}' linux-source-6.12)

mkdir -p "$work"
work=$(cd "$work" && pwd)
tree=$work/linux-source-6.12
step "unpacking linux-source-6.12 $src_version into $work"
rm -rf "$tree"
tar -C "$work" -xf "$tarball"
cd "$tree"
kver=$(make -s kernelversion)

step "applying the series to $kver"
shopt -s nullglob
patches=("$here"/000[1-9]-*.patch)
((${#patches[@]} == 3)) || die "expected 3 patches in $here, found ${#patches[@]}"
for p in "${patches[@]}"; do
	if ! out=$(patch -p1 --forward --batch --fuzz=0 <"$p" 2>&1); then
		echo "$out" >&2
		die "$(basename "$p") does not apply to $kver"
	fi
	if grep -qi "hunk.*\(failed\|fuzz\)" <<<"$out"; then
		echo "$out" >&2
		die "$(basename "$p") applies only partially to $kver"
	fi
	ok "applied $(basename "$p")"
done
[ -z "$(find . -name '*.rej' -print -quit)" ] || die "reject files left behind"

step "checkpatch"
for p in "${patches[@]}"; do
	if ! out=$(perl scripts/checkpatch.pl --no-tree -q "$p" 2>&1); then
		echo "$out" >&2
		die "checkpatch reports errors or warnings in $(basename "$p")"
	fi
	ok "checkpatch clean: $(basename "$p")"
done

# The Debian-config build gets its own tree; hard links are enough, as the
# builds only create files.
debtree=$work/linux-debian-config
rm -rf "$debtree"
[ "$debian_build" = 0 ] || cp -al "$tree" "$debtree"

step "configuring (defconfig + KVM, KVM_INTEL, KVM_AMD as modules)"
make -s defconfig >/dev/null
# HYPERV compiles the VMX-on-Hyper-V paths that patch 2 touches.
scripts/config --module KVM --module KVM_INTEL --module KVM_AMD \
	--enable KVM_WERROR --enable HYPERV
make -s olddefconfig >/dev/null
for c in CONFIG_KVM=m CONFIG_KVM_INTEL=m CONFIG_KVM_AMD=m CONFIG_KVM_WERROR=y; do
	grep -qx "$c" .config || die "$c did not stick in .config"
done

step "make modules_prepare"
make -s -j"$jobs" modules_prepare >/dev/null

step "building arch/x86/kvm (KVM_WERROR: warnings are errors)"
# No vmlinux is built (an hour on 2 cores), so modpost cannot resolve the
# symbols kvm.ko imports from the kernel: those are reported as warnings.
if ! make -j"$jobs" M=arch/x86/kvm KBUILD_MODPOST_WARN=1 modules >"$work/kvm-build.log" 2>&1; then
	tail -40 "$work/kvm-build.log" >&2
	die "KVM modules do not build, see $work/kvm-build.log"
fi
for m in kvm kvm-intel kvm-amd; do
	[ -f "arch/x86/kvm/$m.ko" ] || die "arch/x86/kvm/$m.ko was not produced"
done
ok "kvm.ko kvm-intel.ko kvm-amd.ko built (defconfig)"

debian_build_kvm() {
	local abi=$kver+deb12 pkg hdr krel vm
	pkg=linux-headers-$abi-amd64
	step "building arch/x86/kvm with Debian's $abi-amd64 config and Module.symvers"
	rm -rf "$work/debian-headers" "$work/$pkg"_*.deb
	if ! (cd "$work" && apt-get download "$pkg" >/dev/null 2>&1); then
		apt-get update -qq >/dev/null 2>&1 || true
		if ! (cd "$work" && apt-get download "$pkg" >/dev/null 2>&1); then
			echo "   SKIP: $pkg cannot be downloaded, no Debian-config build"
			skipped=$((skipped + 1))
			return 0
		fi
	fi
	dpkg-deb -x "$work/$pkg"_*.deb "$work/debian-headers"
	hdr=$work/debian-headers/usr/src/$pkg
	krel=$(cat "$hdr/include/config/kernel.release")
	cd "$debtree"
	cp "$hdr/.config" .config
	cp "$hdr/Module.symvers" Module.symvers
	scripts/config --module KVM --module KVM_INTEL --module KVM_AMD
	make -s olddefconfig >/dev/null
	make -s -j"$jobs" KERNELRELEASE="$krel" modules_prepare >/dev/null
	if ! make -j"$jobs" KERNELRELEASE="$krel" M=arch/x86/kvm modules \
		>"$work/kvm-build-debian.log" 2>&1; then
		tail -40 "$work/kvm-build-debian.log" >&2
		die "KVM modules do not build with Debian's config, see $work/kvm-build-debian.log"
	fi
	if grep -E "warning:|WARNING:" "$work/kvm-build-debian.log" >&2; then
		die "warnings (compiler or modpost) with Debian's config"
	fi
	for m in kvm kvm-intel kvm-amd; do
		vm=$(modinfo -F vermagic "arch/x86/kvm/$m.ko")
		[ "${vm%% *}" = "$krel" ] || die "$m.ko has vermagic '$vm', expected $krel"
	done
	ok "kvm.ko kvm-intel.ko kvm-amd.ko built for Debian $krel, all symbols resolved"
	cd "$tree"
}
if [ "$debian_build" != 0 ]; then
	debian_build_kvm
fi

step "make headers (for the selftest and the UAPI check)"
make -s -j"$jobs" headers >/dev/null

step "checking kvm-views-uapi.h against the patched UAPI headers"
cat >"$work/uapi-dump.c" <<'EOF'
#include <stdio.h>
#ifdef STANDALONE
#include "kvm-views-uapi.h"
#else
#include <linux/kvm.h>
#include <linux/kvm_para.h>
#endif
#include <stddef.h>
int main(void)
{
	printf("cap %#x count %#x vmfunc %#x hc %#x\n", KVM_CAP_EPT_VIEWS,
	       KVM_EPT_VIEWS_CAP_COUNT_MASK, KVM_EPT_VIEWS_CAP_VMFUNC,
	       KVM_EPT_VIEWS_CAP_HYPERCALL);
	printf("create %#lx set %#lx\n", (unsigned long)KVM_CREATE_EPT_VIEW,
	       (unsigned long)KVM_SET_EPT_VIEW_ACCESS);
	printf("r %#x w %#x x %#x default %#x\n", KVM_EPT_VIEW_ACCESS_READ,
	       KVM_EPT_VIEW_ACCESS_WRITE, KVM_EPT_VIEW_ACCESS_EXEC,
	       KVM_EPT_VIEW_SLOT_DEFAULT);
	printf("struct %zu %zu %zu %zu %zu\n", sizeof(struct kvm_ept_view_access),
	       offsetof(struct kvm_ept_view_access, view),
	       offsetof(struct kvm_ept_view_access, slot),
	       offsetof(struct kvm_ept_view_access, access),
	       offsetof(struct kvm_ept_view_access, flags));
	printf("exitflag %#llx hc %#x\n",
	       (unsigned long long)KVM_MEMORY_EXIT_FLAG_EPT_VIEW,
	       KVM_HC_EPT_VIEW_SWITCH);
	return 0;
}
EOF
gcc -std=gnu11 -Wall -Wextra -Werror -DSTANDALONE -I"$here" \
	-o "$work/uapi-standalone" "$work/uapi-dump.c"
gcc -std=gnu11 -Wall -Wextra -Werror -isystem "$tree/usr/include" \
	-o "$work/uapi-patched" "$work/uapi-dump.c"
# The standalone header must also stay a no-op next to the patched headers.
echo '#include <linux/kvm.h>
#include <linux/kvm_para.h>
#include "kvm-views-uapi.h"
int main(void) { return 0; }' |
	gcc -std=gnu11 -Wall -Wextra -Werror -isystem "$tree/usr/include" -I"$here" \
		-x c -o /dev/null - || die "kvm-views-uapi.h conflicts with the patched headers"
if ! diff <("$work/uapi-standalone") <("$work/uapi-patched"); then
	die "kvm-views-uapi.h does not match the patched include/uapi headers"
fi
ok "kvm-views-uapi.h matches include/uapi/linux/kvm.h and kvm_para.h"

step "building the kvm_views_test selftest"
st=tools/testing/selftests/kvm
# 6.12 keeps x86 tests in x86_64/ with TEST_GEN_PROGS_x86_64 in Makefile;
# 6.14+ moved them to x86/ and Makefile.kvm.  Handle both, fail otherwise.
if [ -d "$st/x86_64" ]; then
	arch_dir=x86_64 mk=$st/Makefile anchor=TEST_GEN_PROGS_x86_64
elif [ -d "$st/x86" ] && [ -f "$st/Makefile.kvm" ]; then
	arch_dir=x86 mk=$st/Makefile.kvm anchor=TEST_GEN_PROGS_x86
else
	die "unknown selftests/kvm layout"
fi
grep -q "^$anchor += " "$mk" || die "no $anchor list in $mk"
cp "$here/selftest/kvm_views_test.c" "$st/$arch_dir/"
grep -q "$arch_dir/kvm_views_test\$" "$mk" ||
	sed -i "0,/^$anchor += /s||$anchor += $arch_dir/kvm_views_test\n&|" "$mk"
grep -q "^$anchor += $arch_dir/kvm_views_test\$" "$mk" || die "could not add the test to $mk"
test_bin=$tree/$st/$arch_dir/kvm_views_test
if ! make -C "$st" -j"$jobs" "$test_bin" >"$work/selftest-build.log" 2>&1; then
	tail -40 "$work/selftest-build.log" >&2
	die "the selftest does not build, see $work/selftest-build.log"
fi
if grep -q "kvm_views_test.c.*warning:" "$work/selftest-build.log"; then
	grep "kvm_views_test.c.*warning:" "$work/selftest-build.log" >&2
	die "the selftest builds with warnings"
fi
ok "kvm_views_test built"

step "running kvm_views_test once against the running kernel ($(uname -r))"
set +e
"$test_bin"
rc=$?
set -e
case $rc in
4) echo "   SKIP, as expected: the running kernel has no KVM_CAP_EPT_VIEWS (or no /dev/kvm)"
   skipped=1 ;;
0) ok "kvm_views_test PASSED: the running kernel has the series" ;;
*) die "kvm_views_test exited with $rc (only 4 = skip or 0 = pass are acceptable)" ;;
esac

step "done"
echo "kernel source:  linux-source-6.12 $src_version ($kver), series: ${patches[*]##*/}"
echo "produced files:"
for f in "$tree"/arch/x86/kvm/kvm{,-intel,-amd}.ko "$test_bin" \
	"$debtree"/arch/x86/kvm/kvm{,-intel,-amd}.ko; do
	if [ -f "$f" ]; then
		printf '  %-78s %9s bytes\n' "$f" "$(stat -c %s "$f")"
	fi
done
echo "work dir:       $work ($(du -sh "$work" | cut -f1))"
echo "build time:     $(($(date +%s) - t_start)) s with -j$jobs"
echo "kvm-patch: $passed passed, 0 failed, $skipped skipped"
