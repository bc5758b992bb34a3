// SPDX-License-Identifier: MIT
/* --net ...,shmem=,protect= (docs/vhost-user-shmem.md §1, §4, §5): every rule, with its message. */
#include <criterion/criterion.h>
#include <string.h>

#include "vmm/vmm.h"

static struct vmm_config c;
static char err[512];

static void setup(void)
{
	vmm_config_default(&c);
	c.kernel_image = "x";
	c.kernel_image_len = 1;
	c.mem.backend = VMM_MEM_MEMFD;
	err[0] = 0;
}

TestSuite(config_netshm, .init = setup);

#define expect_refused(val, needle) do {					\
	cr_expect_neq(vmm_config_set(&c, "net", val, err, sizeof(err)), 0,	\
		      "--net %s accepted", val);				\
	cr_expect(strstr(err, needle), "message '%s' lacks '%s'", err, needle);	\
} while (0)

static int validate(void)
{
	err[0] = 0;
	return vmm_config_validate(&c, err, sizeof(err));
}

Test(config_netshm, shared_and_peer_modes_parse)
{
	cr_assert_eq(vmm_config_set(&c, "net", "vhost-user=/tmp/s,shmem=shared", err,
				    sizeof(err)), 0, "%s", err);
	cr_expect_eq(c.net[0].shmem, VMM_NETSHM_SHARED);
	cr_expect_eq(c.net[0].protect, VMM_NETSHM_PROTECT_UNSET);
	cr_expect_eq(validate(), 0, "%s", err);
	setup();
	cr_assert_eq(vmm_config_set(&c, "net", "vhost-user=/tmp/s,shmem=peer,protect=none", err,
				    sizeof(err)), 0, "%s", err);
	cr_expect_eq(c.net[0].shmem, VMM_NETSHM_PEER);
	cr_expect_eq(c.net[0].protect, VMM_NETSHM_PROTECT_NONE);
	setup();
	cr_assert_eq(vmm_config_set(&c, "net", "vhost-user=/tmp/s,shmem=peer,protect=vmfunc",
				    err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(c.net[0].protect, VMM_NETSHM_PROTECT_VMFUNC);
	cr_expect_eq(validate(), 0, "config is fine; KVM support is checked at creation");
}

Test(config_netshm, unknown_mode_is_refused)
{
	expect_refused("vhost-user=/tmp/s,shmem=yes", "shared or peer");
	expect_refused("vhost-user=/tmp/s,shmem=peer,protect=ept", "none or vmfunc");
}

Test(config_netshm, shmem_with_tap_is_refused)
{
	expect_refused("tap=tap0,shmem=shared", "vhost-user");
}

Test(config_netshm, shmem_with_fds_is_refused)
{
	expect_refused("fd=3,shmem=shared", "vhost-user");
}

Test(config_netshm, protect_without_peer_mode_is_refused)
{
	expect_refused("vhost-user=/tmp/s,shmem=shared,protect=none", "shmem=peer");
	expect_refused("vhost-user=/tmp/s,protect=none", "shmem=peer");
}

Test(config_netshm, peer_mode_without_protect_is_refused)
{
	expect_refused("vhost-user=/tmp/s,shmem=peer", "full access to its peers' RAM");
	cr_expect(strstr(err, "protect=none"), "%s", err);
	cr_expect(strstr(err, "protect=vmfunc"), "%s", err);
}

Test(config_netshm, second_shmem_nic_is_refused)
{
	cr_assert_eq(vmm_config_set(&c, "net", "vhost-user=/tmp/a,shmem=shared", err,
				    sizeof(err)), 0, "%s", err);
	cr_assert_eq(vmm_config_set(&c, "net", "vhost-user=/tmp/b", err, sizeof(err)), 0,
		     "a plain second vhost-user NIC is fine: %s", err);
	expect_refused("vhost-user=/tmp/c,shmem=shared", "only one NIC");
}

Test(config_netshm, library_config_with_two_shmem_nics_is_refused)
{
	c.nr_nets = 2;
	for (int i = 0; i < 2; i++) {
		strcpy(c.net[i].vhost_user, "/tmp/s");
		c.net[i].queues = 1;
		c.net[i].shmem = VMM_NETSHM_SHARED;
	}
	cr_expect_neq(validate(), 0);
	cr_expect(strstr(err, "only one NIC"), "%s", err);
}

Test(config_netshm, library_config_peer_without_protect_is_refused)
{
	c.nr_nets = 1;
	strcpy(c.net[0].vhost_user, "/tmp/s");
	c.net[0].queues = 1;
	c.net[0].shmem = VMM_NETSHM_PEER;
	cr_expect_neq(validate(), 0);
	cr_expect(strstr(err, "protect=none"), "%s", err);
}

Test(config_netshm, ram_reaching_the_region_window_is_refused)
{
	cr_assert_eq(vmm_config_set(&c, "net", "vhost-user=/tmp/s,shmem=shared", err,
				    sizeof(err)), 0, "%s", err);
	/* 3 GiB low + 60 GiB from 4 GiB ends exactly at 64 GiB: fine. One page more is not. */
	c.mem.size = (63ull << 30);
	cr_expect_eq(validate(), 0, "%s", err);
	c.mem.size = (63ull << 30) + 4096;
	cr_expect_neq(validate(), 0);
	cr_expect(strstr(err, "64 GiB"), "%s", err);
	c.net[0].shmem = VMM_NETSHM_OFF;
	cr_expect_eq(validate(), 0, "without shmem the RAM may be larger: %s", err);
}

/* §8: doorbell=on|off, default off, only with shmem=. */
Test(config_netshm, doorbell_parses_and_defaults_off)
{
	cr_assert_eq(vmm_config_set(&c, "net", "vhost-user=/tmp/s,shmem=shared", err,
				    sizeof(err)), 0, "%s", err);
	cr_expect_not(c.net[0].doorbell, "doorbells are off by default");
	setup();
	cr_assert_eq(vmm_config_set(&c, "net", "vhost-user=/tmp/s,shmem=shared,doorbell=on", err,
				    sizeof(err)), 0, "%s", err);
	cr_expect(c.net[0].doorbell);
	cr_expect_eq(validate(), 0, "%s", err);
	setup();
	cr_assert_eq(vmm_config_set(&c, "net", "vhost-user=/tmp/s,shmem=peer,protect=none,"
				    "doorbell=on", err, sizeof(err)), 0, "%s", err);
	cr_expect(c.net[0].doorbell);
	setup();
	cr_assert_eq(vmm_config_set(&c, "net", "vhost-user=/tmp/s,shmem=shared,doorbell=off",
				    err, sizeof(err)), 0, "%s", err);
	cr_expect_not(c.net[0].doorbell);
}

Test(config_netshm, doorbell_without_shmem_is_refused)
{
	expect_refused("vhost-user=/tmp/s,doorbell=on", "needs shmem=");
	expect_refused("tap=tap0,doorbell=on", "needs shmem=");
	expect_refused("vhost-user=/tmp/s,shmem=shared,doorbell=yes", "on or off");
}

Test(config_netshm, library_config_doorbell_without_shmem_is_refused)
{
	c.nr_nets = 1;
	strcpy(c.net[0].vhost_user, "/tmp/s");
	c.net[0].queues = 1;
	c.net[0].doorbell = true;
	cr_expect_neq(validate(), 0);
	cr_expect(strstr(err, "needs shmem="), "%s", err);
}
