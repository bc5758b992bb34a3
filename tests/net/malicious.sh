#!/bin/sh
# SPDX-License-Identifier: MIT
# net-malicious.elf breaks NIC 0's rings one way after another while NIC 1 must keep
# answering: two TAPs in a private namespace, the host side of NIC 1 is 10.0.1.1 (the guest
# ARPs for it after every attack). Passes if the guest exits 0 (every expectation held) and
# the vmm survived to report that status (a vmm crash or error is 122/123, a hang 124).
# A second, short run asks the guest to ARP for an address nobody has: it must fail (1).
#
#   malicious.sh VMM GUEST_DIR
set -u
. "$(dirname "$0")/lib.sh"

if [ $# -ne 2 ]; then
	echo "usage: $0 VMM GUEST_DIR" >&2
	exit 2
fi
vmm=$1 image=$2/net-malicious.elf
net_require
net_setup
ns=vmmtest-$$
log=$NET_TMP/guest.log

net_ns_add "$ns"
net_tap "$ns" vt0
net_tap "$ns" vt1 10.0.1.1/24

run() {
	ip netns exec "$ns" "$vmm" run --kernel "$image" --net tap=vt0 --net tap=vt1 \
		--memory size=64M --cmdline "$1" --serial stdio --timeout 120 >"$log" 2>&1
}

run "peer=10.0.1.1 me=10.0.1.2"
status=$?
cat "$log"
if [ "$status" -ne 0 ]; then
	echo "FAIL: net-malicious ended with status $status (0 expected)"
	exit 1
fi

# The checks can fail: nobody answers for 10.0.1.99.
run "peer=10.0.1.99 me=10.0.1.2"
status=$?
if [ "$status" -ne 1 ]; then
	cat "$log"
	echo "FAIL: with a peer nobody has, net-malicious ended with $status (1 expected)"
	exit 1
fi
echo "PASS: malicious (and the negative control failed as it must)"
