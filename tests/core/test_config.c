// SPDX-License-Identifier: MIT
/* Option parsing and validation: every bad input gets -EINVAL and a message naming it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "vmm/vmm.h"

static struct vmm_config c;
static char err[512];

static void setup(void)
{
	vmm_config_default(&c);
	err[0] = 0;
}

#define expect_refused(opt, val, needle) do {					\
	cr_expect_neq(vmm_config_set(&c, opt, val, err, sizeof(err)), 0,	\
		      "%s %s accepted", opt, val);				\
	cr_expect(strstr(err, needle), "message '%s' lacks '%s'", err, needle);	\
} while (0)

Test(config, memory_sizes_and_suboptions, .init = setup)
{
	cr_assert_eq(vmm_config_set(&c, "memory", "size=1G,hugepages=2M,prefault=on,mlock=off,"
				    "shared=on,prefault-threads=4", err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(c.mem.size, 1ull << 30);
	cr_expect_eq(c.mem.hugepage_size, 2ull << 20);
	cr_expect(c.mem.prefault);
	cr_expect_eq(c.mem.backend, VMM_MEM_MEMFD);
	cr_expect_eq(c.mem.prefault_threads, 4);
	cr_assert_eq(vmm_config_set(&c, "memory", "512M", err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(c.mem.size, 512ull << 20);
	cr_assert_eq(vmm_config_set(&c, "memory", "size=4608MiB", err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(c.mem.size, 4608ull << 20);
}

Test(config, unknown_suboption_is_named, .init = setup)
{
	expect_refused("memory", "size=1G,hugepage=2M", "hugepage");
	expect_refused("cpus", "2,pin=0", "pin");
	expect_refused("serial", "tty", "tty");
}

Test(config, unknown_option_is_named, .init = setup)
{
	expect_refused("disk", "/dev/sda", "--disk");
}

Test(config, bad_sizes_are_refused, .init = setup)
{
	expect_refused("memory", "size=", "size");
	expect_refused("memory", "size=-1G", "size");
	expect_refused("memory", "size=1.5G", "size");
	expect_refused("memory", "size=99999999999999999999", "size");
	expect_refused("memory", "size=17179869184T", "size");	/* << 40 overflows */
	expect_refused("memory", "size=1G,hugepages=4M", "hugepages");
	expect_refused("memory", "prefault=on", "no size");
}

Test(config, cpu_counts_affinity_and_rt, .init = setup)
{
	cr_assert_eq(vmm_config_set(&c, "cpus", "4,affinity=0-1:1:0,rt=50,disable-exits=hlt+pause",
				    err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(c.cpus.count, 4);
	cr_expect_eq(c.cpus.affinity[0], 0);
	cr_expect_eq(c.cpus.affinity[1], 1);
	cr_expect_eq(c.cpus.affinity[2], 1);
	cr_expect_eq(c.cpus.affinity[3], 0);
	cr_expect_eq(c.cpus.affinity[4], -1);
	cr_expect_eq(c.cpus.rt_prio, 50);
	cr_expect_eq(c.cpus.disable_exits, VMM_EXITS_HLT | VMM_EXITS_PAUSE);
	expect_refused("cpus", "0", "count");
	expect_refused("cpus", "65", "count");
	expect_refused("cpus", "2,rt=100", "rt");
	expect_refused("cpus", "2,affinity=3-1", "CPU range");
	expect_refused("cpus", "2,affinity=x", "CPU list");
	expect_refused("cpus", "2,emulator=0-", "CPU list");
	expect_refused("cpus", "2,halt-poll=-5", "halt-poll");
	cr_assert_eq(vmm_config_set(&c, "cpus", "1,emulator=0,halt-poll=50000", err, sizeof(err)), 0);
	cr_expect_eq(c.cpus.emulator[0], 0);
	cr_expect_eq(c.cpus.emulator[1], -1);
	cr_expect_eq(c.cpus.halt_poll_ns, 50000);
	expect_refused("cpus", "2,disable-exits=cstate", "cstate");
}

Test(config, validation_catches_what_parsing_cannot, .init = setup)
{
	cr_expect_eq(vmm_config_validate(&c, err, sizeof(err)), -EINVAL);	/* no kernel */
	cr_expect(strstr(err, "kernel"), "%s", err);
	cr_assert_eq(vmm_config_set(&c, "kernel", "/boot/x", err, sizeof(err)), 0);
	c.mem.size = 8u << 20;
	cr_expect_eq(vmm_config_validate(&c, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "minimum"), "%s", err);
	c.mem.size = (64u << 20) + 4096;
	c.mem.hugepage_size = 2u << 20;
	cr_expect_eq(vmm_config_validate(&c, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "multiple"), "%s", err);
	c.mem.hugepage_size = 0;
	cr_expect_eq(vmm_config_validate(&c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(vmm_config_set(&c, "cpus", "1,affinity=0:1", err, sizeof(err)), 0);
	cr_expect_eq(vmm_config_validate(&c, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "affinity"), "%s", err);
}

Test(config, struct_size_mismatch_is_refused, .init = setup)
{
	cr_assert_eq(vmm_config_set(&c, "kernel", "/boot/x", err, sizeof(err)), 0);
	c.size = 12;
	cr_expect_eq(vmm_config_validate(&c, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "vmm_config_default"), "%s", err);
}

Test(config, overlong_values_are_refused, .init = setup)
{
	static char big[VMM_CMDLINE_MAX + 10];

	memset(big, 'x', sizeof(big) - 1);
	expect_refused("cmdline", big, "cmdline");
	expect_refused("kernel", big, "kernel");
}

Test(config, timeout_seconds, .init = setup)
{
	cr_assert_eq(vmm_config_set(&c, "timeout", "1.5", err, sizeof(err)), 0);
	cr_expect_eq(c.timeout_ms, 1500);
	expect_refused("timeout", "-3", "timeout");
	expect_refused("timeout", "soon", "timeout");
}

Test(config, nics_are_added_and_checked, .init = setup)
{
	cr_assert_eq(vmm_config_set(&c, "net", "tap=vnet0,mac=52:54:00:00:00:09,queues=2", err,
				    sizeof(err)), 0, "%s", err);
	cr_assert_eq(vmm_config_set(&c, "net", "fd=5:6", err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(c.nr_nets, 2);
	cr_expect_str_eq(c.net[0].tap, "vnet0");
	cr_expect_eq(c.net[0].queues, 2);
	cr_expect_eq(c.net[0].mac[5], 9);
	cr_expect_eq(c.net[1].nfds, 2);
	cr_expect_eq(c.net[1].queues, 2);
	cr_expect_eq(c.net[1].mac[5], 0x57);
	expect_refused("net", "mac=52:54:00:00:00:01", "tap=NAME");
	expect_refused("net", "tap=x,mac=01:00:00:00:00:01", "MAC");
	expect_refused("net", "tap=x,mac=52:54:00:00:00", "MAC");
	expect_refused("net", "tap=x,queues=9", "queues");
	expect_refused("net", "tap=averyveryverylongname", "TAP name");
	expect_refused("net", "tap=x,fd=3", "exclude");
	expect_refused("net", "fd=3,queues=2", "fds");
	expect_refused("net", "tap=x,speed=10G", "speed");
	cr_expect_eq(c.nr_nets, 2, "refused NICs must not be added");
}
