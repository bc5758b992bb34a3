#!/usr/bin/env bash
# Boots Debian's linux-image-cloud-amd64 (vmlinux via the 64-bit boot protocol, with a busybox
# initramfs) and checks what the host allows us to see:
#  - on a host with VMX/SVM: the kernel boots to our /init, which prints a marker and powers
#    off through ACPI (exit status 0);
#  - on the nested "PVM" hosts of this project (see ../shared/ENVIRONMENT.md) the kernel's
#    early boot runs (ring 0 emulated at ~1 us/instruction) until it reaches an instruction the
#    host cannot emulate: then the serial log must contain the "Memory: ...K available" line
#    and the VMM must end with its crash status (123) and a report that names the emulation
#    failure, RIP and instruction bytes. A timeout (a hang) fails the test.
# Usage: linux-boot.sh VMM WORKDIR
set -euo pipefail
vmm=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"

kernel=$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$kernel" ]; then
	echo "FAIL: no /boot/vmlinuz-*-cloud-amd64: install linux-image-cloud-amd64" >&2
	exit 1
fi
echo "kernel: $kernel"
python3 "$here/extract-vmlinux.py" "$kernel" "$work/vmlinux"

# initramfs: busybox and an /init that proves userspace ran, then powers off.
rm -rf "$work/root" && mkdir -p "$work/root/bin" "$work/root/proc" "$work/root/sys" "$work/root/dev"
cp /bin/busybox "$work/root/bin/busybox"
ln -s busybox "$work/root/bin/sh"
cat > "$work/root/init" <<'INIT'
#!/bin/sh
/bin/busybox mount -t proc proc /proc
echo "VMM-LINUX-INIT-OK: $(/bin/busybox cat /proc/cpuinfo | /bin/busybox grep -c ^processor) CPUs"
/bin/busybox poweroff -f
INIT
chmod +x "$work/root/init"
(cd "$work/root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initramfs.gz"

log=$work/serial.log
err=$work/vmm.err
rm -f "$log"
set +e
"$vmm" run --kernel "$work/vmlinux" --initrd "$work/initramfs.gz" \
	--cmdline "console=ttyS0 earlyprintk=serial,ttyS0 panic=-1 nokaslr" \
	--memory size=512M --cpus 2 --serial "file=$log" --timeout "${LINUX_BOOT_TIMEOUT:-720}" 2>"$err"
rc=$?
set -e
echo "vmm exit status: $rc"
echo "--- last lines of the serial log:"; tail -n 15 "$log" || true
echo "--- vmm stderr:"; cat "$err"

if grep -q "VMM-LINUX-INIT-OK" "$log"; then
	[ $rc = 0 ] || { echo "FAIL: init ran but the VM did not power off cleanly"; exit 1; }
	echo "PASS: Linux booted to init and powered off"
	exit 0
fi
grep -Eq "Memory: [0-9]+K/[0-9]+K available" "$log" ||
	{ echo "FAIL: the serial log never reached the 'Memory: ... available' line"; exit 1; }
case $rc in
123)
	grep -q "RIP 0x" "$err" && grep -q "instruction bytes: [0-9a-f]" "$err" ||
		{ echo "FAIL: crash report lacks RIP or instruction bytes"; exit 1; }
	echo "PASS: early boot reached 'Memory: ... available'; the host's emulation gap was reported:"
	grep -m1 "RIP 0x" "$err"
	;;
124) echo "FAIL: timeout: the guest hung instead of being reported"; exit 1 ;;
*) echo "FAIL: unexpected exit status $rc"; exit 1 ;;
esac
