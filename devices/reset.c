// SPDX-License-Identifier: MIT
/*
 * i8042 commands and status bits: IBM PS/2 keyboard controller (8042) as documented in the
 * PS/2 Technical Reference and used by Linux drivers/input/serio/i8042.c.
 * CF9: Intel ICH9 datasheet §13.7.5 "RST_CNT - Reset Control Register".
 */
#include <string.h>

#include "base/log.h"
#include "devices/reset.h"

#define I8042_DATA	0	/* 0x60 */
#define I8042_PORT_B	1	/* 0x61, not an 8042 port but decoded alongside on PCs */
#define I8042_CMD	4	/* 0x64 */

#define STR_OBF		0x01
#define STR_SYS		0x04
#define STR_CMD		0x08
#define STR_UNLOCKED	0x10	/* keyboard not inhibited by the key lock */
#define STR_AUXDATA	0x20

#define CTR_KBDINT	0x01
#define CTR_SYS		0x04	/* POST passed: mirrored in status bit 2 */
#define CTR_KBDDIS	0x10
#define CTR_AUXDIS	0x20
#define CTR_XLATE	0x40

#define OUT_RESET_N	0x01
#define OUT_A20		0x02

/* Port B bit 5 is PIT channel 2's output; reading it high ends any polling loop at once. */
#define PORT_B_IDLE	0x20

void i8042_init(struct i8042 *k, struct vm_control ctl)
{
	memset(k, 0, sizeof(*k));
	k->ctl = ctl;
	pthread_mutex_init(&k->lock, NULL);
	k->ctr = CTR_XLATE | CTR_SYS | CTR_KBDINT;
	k->outport = OUT_RESET_N | OUT_A20;
	k->last_was_cmd = true;		/* status reads 0x1c after POST */
}

void i8042_exit(struct i8042 *k)
{
	pthread_mutex_destroy(&k->lock);
}

static void i8042_put(struct i8042 *k, uint8_t v, bool aux)
{
	k->obuf = v;
	k->obf = true;
	k->obf_aux = aux;
}

static uint8_t i8042_status(const struct i8042 *k)
{
	return STR_UNLOCKED | ((k->ctr & CTR_SYS) ? STR_SYS : 0) |
	       (k->last_was_cmd ? STR_CMD : 0) | (k->obf ? STR_OBF : 0) |
	       (k->obf && k->obf_aux ? STR_AUXDATA : 0);
}

/* Returns true if the command pulses the reset line. */
static bool i8042_command(struct i8042 *k, uint8_t cmd)
{
	k->pending = 0;
	switch (cmd) {
	case 0x20:			/* read command byte */
		i8042_put(k, k->ctr, false);
		break;
	case 0x60:			/* write command byte */
	case 0xd1:			/* write output port */
	case 0xd2:			/* next data byte comes back as if from the keyboard */
	case 0xd3:			/* ... as if from the mouse */
	case 0xd4:			/* next data byte goes to the mouse */
		k->pending = cmd;
		break;
	case 0xa7:
		k->ctr |= CTR_AUXDIS;
		break;
	case 0xa8:
		k->ctr &= ~CTR_AUXDIS;
		break;
	case 0xa9:			/* mouse interface test: 0 = lines ok */
	case 0xab:			/* keyboard interface test */
		i8042_put(k, 0x00, false);
		break;
	case 0xaa:			/* controller self-test */
		i8042_put(k, 0x55, false);
		break;
	case 0xad:
		k->ctr |= CTR_KBDDIS;
		break;
	case 0xae:
		k->ctr &= ~CTR_KBDDIS;
		break;
	case 0xd0:			/* read output port */
		i8042_put(k, k->outport, false);
		break;
	default:
		/* 0xf0-0xff pulse output port bits 0-3 low for ~6 us; bit 0 is the reset line. */
		if (cmd >= 0xf0)
			return !(cmd & OUT_RESET_N);
		pr_debug("i8042: ignored command %#x", cmd);
		break;
	}
	return false;
}

/* Returns true if the byte pulls the reset line. */
static bool i8042_data(struct i8042 *k, uint8_t val)
{
	uint8_t cmd = k->pending;

	k->pending = 0;
	switch (cmd) {
	case 0x60:
		k->ctr = val;
		break;
	case 0xd1:
		k->outport = val;
		return !(val & OUT_RESET_N);
	case 0xd2:
		i8042_put(k, val, false);
		break;
	case 0xd3:
		i8042_put(k, val, true);
		break;
	default:
		/* For the keyboard (no command pending) or the mouse (0xd4): none attached. */
		break;
	}
	return false;
}

static void i8042_read(void *ctx, uint64_t off, void *data, uint32_t len)
{
	struct i8042 *k = ctx;
	uint8_t *p = data;

	if (!len)
		return;
	pthread_mutex_lock(&k->lock);
	switch (off) {
	case I8042_DATA:
		/* An empty buffer reads its last value, as the real latch does. */
		p[0] = k->obuf;
		k->obf = false;
		k->obf_aux = false;
		break;
	case I8042_PORT_B:
		p[0] = PORT_B_IDLE;
		break;
	case I8042_CMD:
		p[0] = i8042_status(k);
		break;
	default:
		p[0] = 0;
		break;
	}
	pthread_mutex_unlock(&k->lock);
}

static void i8042_write(void *ctx, uint64_t off, const void *data, uint32_t len)
{
	struct i8042 *k = ctx;
	bool reset;
	uint8_t val;

	if (!len || (off != I8042_DATA && off != I8042_CMD))
		return;
	val = ((const uint8_t *)data)[0];
	pthread_mutex_lock(&k->lock);
	k->last_was_cmd = off == I8042_CMD;
	if (off == I8042_CMD)
		reset = i8042_command(k, val);
	else
		reset = i8042_data(k, val);
	pthread_mutex_unlock(&k->lock);
	if (reset && k->ctl.request)
		k->ctl.request(k->ctl.ctx, VM_REQ_RESET, 0);
}

const struct bus_dev_ops i8042_bus_ops = {
	.read = i8042_read,
	.write = i8042_write,
};

#define CF9_SYS_RST	0x02
#define CF9_RST_CPU	0x04
#define CF9_FULL_RST	0x08
#define CF9_MASK	(CF9_SYS_RST | CF9_RST_CPU | CF9_FULL_RST)

void cf9_init(struct cf9 *c, struct vm_control ctl)
{
	c->ctl = ctl;
	c->reg = 0;
}

static void cf9_read(void *ctx, uint64_t off, void *data, uint32_t len)
{
	struct cf9 *c = ctx;

	if (!len)
		return;
	((uint8_t *)data)[0] = off == 0 ? __atomic_load_n(&c->reg, __ATOMIC_RELAXED) : 0;
}

static void cf9_write(void *ctx, uint64_t off, const void *data, uint32_t len)
{
	struct cf9 *c = ctx;
	uint8_t val;

	if (!len || off != 0)
		return;
	val = ((const uint8_t *)data)[0] & CF9_MASK;
	/*
	 * The reset starts on RST_CPU's 0 -> 1 edge, and the reset clears RST_CPU again (that
	 * is what a reset does to this register). So we never store the bit, every write that
	 * sets it is an edge, and a retried sequence requests again.
	 */
	__atomic_store_n(&c->reg, val & ~CF9_RST_CPU, __ATOMIC_RELAXED);
	if ((val & CF9_RST_CPU) && c->ctl.request)
		c->ctl.request(c->ctl.ctx, VM_REQ_RESET, 0);
}

const struct bus_dev_ops cf9_bus_ops = {
	.read = cf9_read,
	.write = cf9_write,
};
