// SPDX-License-Identifier: MIT
/* include/vmm/vmm.h over the builder: lifecycle, the I/O thread, waiting and events. */
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/log.h"
#include "vmm/vm.h"

void vmm_kick_all(struct vmm *vm)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	if (vm->wake_fd >= 0)
		(void)!eventfd_write(vm->wake_fd, 1);
}

void vmm_end(struct vmm *vm, enum vmm_exit_reason r, int vcpu, uint32_t status,
	     const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&vm->lock);
	if (atomic_load(&vm->ended)) {
		pthread_mutex_unlock(&vm->lock);
		return;
	}
	vm->exit.reason = r;
	vm->exit.vcpu = vcpu;
	vm->exit.guest_status = status;
	va_start(ap, fmt);
	vsnprintf(vm->exit.detail, sizeof(vm->exit.detail), fmt, ap);
	va_end(ap);
	atomic_store(&vm->ended, true);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);

	/* The caller gets the detail in struct vmm_exit and decides whether to print it. */
	pr_debug("VM ended: %s", vm->exit.detail);
	vmm_kick_all(vm);
	(void)!eventfd_write(vm->done_fd, 1);
}

static void noop_handler(int sig)
{
	(void)sig;
}

static int install_kick_handler(int sig, struct err *e)
{
	struct sigaction sa = { .sa_handler = noop_handler, .sa_flags = SA_RESTART };

	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) < 0)
		return err_set(e, -errno, "installing the kick signal %d: %s", sig,
			       strerror(errno));
	return 0;
}

int vmm_create(const struct vmm_config *c, struct vmm **out, char *errbuf, size_t errlen)
{
	struct err e = { 0 };
	struct vmm *vm;
	uint64_t t0 = now_ns();
	int r;

	*out = NULL;
	r = vmm_config_check(c, &e);
	if (r)
		goto fail_msg;
	r = install_kick_handler(c->kick_signal, &e);
	if (r)
		goto fail_msg;
	vm = calloc(1, sizeof(*vm));
	if (!vm) {
		r = err_set(&e, -ENOMEM, "out of memory");
		goto fail_msg;
	}
	vm->cfg = *c;
	vm->kvm_fd = vm->vm_fd = vm->serial_fd = -1;
	vm->ram.fd = -1;
	for (unsigned int i = 0; i < VMM_MAX_VCPUS; i++)
		vm->vcpus[i].fd = -1;
	vm->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	if (vm->wake_fd < 0 || vm->done_fd < 0) {
		r = err_set(&e, -errno, "eventfd: %s", strerror(errno));
		goto fail;
	}
	if (c->verbose)
		log_set_level(LOG_DEBUG);

	r = vmm_build(vm, &e);
	if (r)
		goto fail;
	vm->report.create_ns = now_ns() - t0;
	*out = vm;
	return 0;
fail:
	vmm_destroy(vm);
fail_msg:
	if (errbuf && errlen)
		snprintf(errbuf, errlen, "%s", e.msg[0] ? e.msg : strerror(-r));
	return r;
}

/* Serial input, the timeout, and nothing else: the vCPUs never wait for this thread. */
static void *io_thread(void *arg)
{
	struct vmm *vm = arg;
	bool input = vm->serial_input;
	sigset_t set;

	sigfillset(&set);
	pthread_sigmask(SIG_SETMASK, &set, NULL);

	while (!atomic_load(&vm->ended)) {
		struct pollfd pfd[2] = {
			{ .fd = vm->wake_fd, .events = POLLIN },
			{ .fd = STDIN_FILENO, .events = POLLIN },
		};
		/* A full RX FIFO is backpressure: stop reading stdin and look again soon. */
		bool room = input && uart_rx_room(&vm->uart) > 0;
		int timeout = input && !room ? 10 : -1;
		uint64_t now = now_ns();

		if (vm->deadline_ns) {
			if (now >= vm->deadline_ns) {
				vmm_end(vm, VMM_EXIT_TIMEOUT, -1, 0, "timeout after %u ms",
					vm->cfg.timeout_ms);
				break;
			}
			uint64_t ms = (vm->deadline_ns - now + 999999) / 1000000;

			if (timeout < 0 || ms < (uint64_t)timeout)
				timeout = ms > 1000000 ? 1000000 : (int)ms;
		}
		if (poll(pfd, room ? 2 : 1, timeout) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents & POLLIN) {
			eventfd_t v;

			(void)!eventfd_read(vm->wake_fd, &v);
		}
		if (room && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			uint8_t buf[UART_FIFO_SIZE];
			size_t n = uart_rx_room(&vm->uart);
			ssize_t got = read(STDIN_FILENO, buf, n < sizeof(buf) ? n : sizeof(buf));

			if (got <= 0)
				input = false;	/* EOF or error: the console keeps its output */
			else
				uart_push_rx(&vm->uart, buf, (size_t)got);
		}
	}
	return NULL;
}

int vmm_start(struct vmm *vm)
{
	struct err e = { 0 };
	int r = 0;

	pthread_mutex_lock(&vm->lock);
	if (vm->started) {
		pthread_mutex_unlock(&vm->lock);
		return -EALREADY;
	}
	vm->started = true;
	if (vm->cfg.timeout_ms)
		vm->deadline_ns = now_ns() + (uint64_t)vm->cfg.timeout_ms * 1000000ull;
	pthread_mutex_unlock(&vm->lock);

	pthread_attr_t attr;
	cpu_set_t emu;

	pthread_attr_init(&attr);
	if (vmm_emulator_cpus(vm, &emu))
		pthread_attr_setaffinity_np(&attr, sizeof(emu), &emu);
	r = -pthread_create(&vm->io_thread, &attr, io_thread, vm);
	pthread_attr_destroy(&attr);
	if (r) {
		vmm_end(vm, VMM_EXIT_ERROR, -1, 0, "starting the I/O thread: %s", strerror(-r));
		return r;
	}
	vm->io_started = true;
	pthread_setname_np(vm->io_thread, "vmm-io");

	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		pthread_mutex_lock(&vm->lock);
		vm->running++;
		pthread_mutex_unlock(&vm->lock);
		r = vcpu_start(&vm->vcpus[i], &e);
		if (r) {
			pthread_mutex_lock(&vm->lock);
			vm->running--;
			pthread_mutex_unlock(&vm->lock);
			vmm_end(vm, VMM_EXIT_ERROR, (int)i, 0, "%s", e.msg);
			return r;
		}
	}
	return 0;
}

int vmm_event_fd(const struct vmm *vm)
{
	return vm->done_fd;
}

int vmm_wait(struct vmm *vm, struct vmm_exit *ex)
{
	pthread_mutex_lock(&vm->lock);
	while (!atomic_load(&vm->ended))
		pthread_cond_wait(&vm->cond, &vm->lock);
	if (ex)
		*ex = vm->exit;
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

int vmm_poll(struct vmm *vm, struct vmm_exit *ex)
{
	int r = -EAGAIN;

	pthread_mutex_lock(&vm->lock);
	if (atomic_load(&vm->ended)) {
		if (ex)
			*ex = vm->exit;
		r = 0;
	}
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int vmm_pause(struct vmm *vm)
{
	if (!vm->started || atomic_load(&vm->ended))
		return -EINVAL;
	atomic_store(&vm->pause_req, true);
	vmm_kick_all(vm);
	pthread_mutex_lock(&vm->lock);
	while (vm->parked < vm->running && !atomic_load(&vm->ended))
		pthread_cond_wait(&vm->cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
	return atomic_load(&vm->ended) ? -ESHUTDOWN : 0;
}

int vmm_resume(struct vmm *vm)
{
	pthread_mutex_lock(&vm->lock);
	atomic_store(&vm->pause_req, false);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

int vmm_stop(struct vmm *vm)
{
	vmm_end(vm, VMM_EXIT_STOPPED, -1, 0, "stopped by the embedder");
	return 0;
}

void vmm_destroy(struct vmm *vm)
{
	if (!vm)
		return;
	if (vm->started)
		vmm_end(vm, VMM_EXIT_STOPPED, -1, 0, "destroyed");
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].started) {
			pthread_join(vm->vcpus[i].thread, NULL);
			vm->vcpus[i].started = false;
		}
	if (vm->io_started)
		pthread_join(vm->io_thread, NULL);
	vmm_teardown(vm);
	if (vm->wake_fd >= 0)
		close(vm->wake_fd);
	if (vm->done_fd >= 0)
		close(vm->done_fd);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

int vmm_vcpu_tids(const struct vmm *vm, pid_t *tids, unsigned int max)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < vm->nr_vcpus && n < max; i++) {
		pid_t t = atomic_load(&vm->vcpus[i].tid);

		if (vm->vcpus[i].started && t)
			tids[n++] = t;
	}
	return (int)n;
}

int vmm_setup_report(const struct vmm *vm, struct vmm_setup_report *r)
{
	*r = vm->report;
	return 0;
}

int vmm_exit_code(const struct vmm_exit *ex)
{
	switch (ex->reason) {
	case VMM_EXIT_GUEST:
		return ex->guest_status <= VMM_RC_GUEST_MAX ? (int)ex->guest_status :
							       VMM_RC_GUEST_BIG;
	case VMM_EXIT_POWEROFF:
	case VMM_EXIT_RESET:
	case VMM_EXIT_STOPPED:
		return 0;
	case VMM_EXIT_TIMEOUT:
		return VMM_RC_TIMEOUT;
	case VMM_EXIT_CRASH:
		return VMM_RC_CRASH;
	default:
		return VMM_RC_ERROR;
	}
}

const char *vmm_exit_reason_name(enum vmm_exit_reason r)
{
	static const char *const n[] = {
		[VMM_EXIT_NONE] = "running", [VMM_EXIT_GUEST] = "guest-exit",
		[VMM_EXIT_POWEROFF] = "poweroff", [VMM_EXIT_RESET] = "reset",
		[VMM_EXIT_STOPPED] = "stopped", [VMM_EXIT_TIMEOUT] = "timeout",
		[VMM_EXIT_CRASH] = "crash", [VMM_EXIT_ERROR] = "error",
	};

	return (unsigned int)r < ARRAY_SIZE(n) ? n[r] : "?";
}

struct log_adapter {
	vmm_log_fn fn;
	void *ctx;
};

/* Process-wide like the sink it wraps (base/log.c). */
static struct log_adapter log_adapter;

static void log_adapt(void *ctx, enum log_level lvl, const char *line)
{
	struct log_adapter *a = ctx;

	a->fn(a->ctx, (int)lvl, line);
}

void vmm_set_log_sink(vmm_log_fn fn, void *ctx)
{
	log_set_sink(NULL, NULL);
	log_adapter = (struct log_adapter){ .fn = fn, .ctx = ctx };
	if (fn)
		log_set_sink(log_adapt, &log_adapter);
}

void vmm_set_log_level(int level)
{
	log_set_level(level < LOG_ERROR ? LOG_ERROR : level > LOG_DEBUG ? LOG_DEBUG : level);
}

const char *vmm_version(void)
{
	return "0.1";
}

int vmm_vcpu_stats(const struct vmm *vm, unsigned int vcpu, struct vmm_vcpu_stats *out)
{
	const struct vmm_vcpu_stats *s;

	if (vcpu >= vm->nr_vcpus)
		return -EINVAL;
	s = &vm->vcpus[vcpu].stats;
	/* Field by field with relaxed loads: the vCPU thread may be updating them. */
	out->exits = __atomic_load_n(&s->exits, __ATOMIC_RELAXED);
	for (unsigned int i = 0; i < VMM_STATS_REASONS; i++)
		out->by_reason[i] = __atomic_load_n(&s->by_reason[i], __ATOMIC_RELAXED);
	for (unsigned int i = 0; i < VMM_STATS_HIST; i++)
		out->hist[i] = __atomic_load_n(&s->hist[i], __ATOMIC_RELAXED);
	out->handle_ns_total = __atomic_load_n(&s->handle_ns_total, __ATOMIC_RELAXED);
	out->handle_ns_max = __atomic_load_n(&s->handle_ns_max, __ATOMIC_RELAXED);
	out->io_unclaimed = __atomic_load_n(&vm->pio.stats.unclaimed_reads, __ATOMIC_RELAXED) +
			    __atomic_load_n(&vm->pio.stats.unclaimed_writes, __ATOMIC_RELAXED) +
			    __atomic_load_n(&vm->mmio.stats.unclaimed_reads, __ATOMIC_RELAXED) +
			    __atomic_load_n(&vm->mmio.stats.unclaimed_writes, __ATOMIC_RELAXED);
	return 0;
}

const char *vmm_kvm_exit_name(unsigned int reason)
{
	return kvm_exit_name(reason);
}

int vmm_vcpu_kvm_stats(const struct vmm *vm, unsigned int vcpu,
		       void (*fn)(void *ctx, const char *name, uint64_t value), void *ctx)
{
	if (vcpu >= vm->nr_vcpus || vm->vcpus[vcpu].fd < 0)
		return -EINVAL;
	if (!vm->caps.binary_stats)
		return -ENOTSUP;
	return kstats_read(vm->vcpus[vcpu].fd, fn, ctx);
}
