// SPDX-License-Identifier: MIT
/*
 * vmm-switch: a vhost-user back-end that switches Ethernet frames between its ports
 * (virtio/vhost-user/backend.h). docs/vmm-switch.md is the manual.
 *
 * Threads: main = control (sockets, vhost-user messages, signals, reconnects, counters);
 * one worker = data path (adaptive polling: busy for --poll-us after the last frame, then
 * asleep on the kick eventfds), optionally pinned (--cpu) and SCHED_FIFO (--rt).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/log.h"
#include "base/netshm-abi.h"
#include "virtio/vhost-user/backend.h"

#define SW_TAG_SIGNAL	(-1)
#define SW_TAG_TIMER	(-2)
#define SW_LISTEN_BASE	1000	/* epoll tags: port i session = i, listener = 1000 + i */

struct sw_port {
	char *name;
	char *path;
	bool server;
	int listen_fd;
	struct vub_port *vp;
};

struct sw {
	struct vub *b;
	struct sw_port ports[VUB_MAX_PORTS];
	unsigned int nports;
	int cpu;			/* -1: not pinned */
	int rt;				/* SCHED_FIFO priority, 0: none */
	uint64_t poll_ns;
	bool netshm;
	int epfd;
	int stop;
	pthread_t worker;
};

static void sw_usage(FILE *f)
{
	fprintf(f,
		"usage: vmm-switch --port NAME=SOCKET[,mode=server|client] [--port ...]\n"
		"                  [--cpu N] [--rt PRIO] [--poll-us N] [--queues N] [--mrg-rxbuf]\n"
		"                  [--age SECONDS] [--netshm] [--netshm-peer] [--netshm-flap MS]\n"
		"                  [--verbose]\n"
		"  --port      one vhost-user port per socket; server (default): we listen,\n"
		"              client: we connect and reconnect every second\n"
		"  --cpu       pin the data-path worker to CPU N\n"
		"  --rt        run the worker SCHED_FIFO at PRIO (1..99)\n"
		"  --poll-us   busy-poll this long after the last frame before sleeping (default 200)\n"
		"  --queues    queue pairs offered per port (1..%d, default 1)\n"
		"  --mrg-rxbuf offer VIRTIO_NET_F_MRG_RXBUF\n"
		"  --age       MAC ageing time in seconds (default 300)\n"
		"  --netshm    vhost-user-shmem fast path (shared-region mode) for 2..%d ports\n"
		"  --netshm-peer  also allow peer-memory mode (guests reach their peers' RAM)\n"
		"  --netshm-flap MS  TEST HOOK: every MS ms withdraw all flow entries, re-install\n"
		"              them MS/2 later (table updates under traffic)\n"
		"SIGUSR1 prints the per-port counters; SIGINT/SIGTERM print them and exit.\n",
		VUB_MAX_QP, NETSHM_MAX_PORTS);
}

static int sw_parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno || end == s || *end || *out > max || s[0] == '-')
		return -EINVAL;
	return 0;
}

static int sw_parse_port(struct sw *sw, char *arg)
{
	struct sw_port *p;
	char *eq = strchr(arg, '='), *opt;

	if (sw->nports >= VUB_MAX_PORTS) {
		fprintf(stderr, "vmm-switch: at most %d ports\n", VUB_MAX_PORTS);
		return -EINVAL;
	}
	if (!eq || eq == arg || !eq[1]) {
		fprintf(stderr, "vmm-switch: --port wants NAME=SOCKET[,mode=server|client]\n");
		return -EINVAL;
	}
	p = &sw->ports[sw->nports];
	*eq = '\0';
	p->name = arg;
	p->path = eq + 1;
	p->server = true;
	p->listen_fd = -1;
	opt = strchr(p->path, ',');
	if (opt) {
		*opt++ = '\0';
		if (!strcmp(opt, "mode=server")) {
			p->server = true;
		} else if (!strcmp(opt, "mode=client")) {
			p->server = false;
		} else {
			fprintf(stderr, "vmm-switch: port %s: unknown option '%s'\n", p->name, opt);
			return -EINVAL;
		}
	}
	if (strlen(p->path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		fprintf(stderr, "vmm-switch: port %s: socket path too long\n", p->name);
		return -EINVAL;
	}
	sw->nports++;
	return 0;
}

static void sw_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	snprintf(sa->sun_path, sizeof(sa->sun_path), "%s", path);
}

static int sw_epoll_add(struct sw *sw, int fd, int tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)(int64_t)tag };

	return epoll_ctl(sw->epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static int sw_listen(struct sw *sw, unsigned int i)
{
	struct sw_port *p = &sw->ports[i];
	struct sockaddr_un sa;
	struct stat st;
	int fd, ret;

	sw_addr(&sa, p->path);
	/* A socket left by an earlier run is replaced; any other file is not ours to remove. */
	if (!lstat(p->path, &st)) {
		if (!S_ISSOCK(st.st_mode)) {
			fprintf(stderr, "vmm-switch: port %s: %s exists and is not a socket\n",
				p->name, p->path);
			return -EEXIST;
		}
		unlink(p->path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 4)) {
		ret = -errno;
		fprintf(stderr, "vmm-switch: port %s: cannot listen on %s: %s\n", p->name, p->path,
			strerror(-ret));
		close(fd);
		return ret;
	}
	p->listen_fd = fd;
	return sw_epoll_add(sw, fd, SW_LISTEN_BASE + (int)i);
}

static void sw_attach(struct sw *sw, unsigned int i, int fd)
{
	struct sw_port *p = &sw->ports[i];
	int ret = vub_port_connect(p->vp, fd);

	if (ret) {
		pr_warn("vmm-switch: port %s: refusing a second front-end", p->name);
		return;
	}
	ret = sw_epoll_add(sw, fd, (int)i);
	if (ret) {
		pr_err("vmm-switch: port %s: epoll: %s", p->name, strerror(-ret));
		vub_port_disconnect(p->vp);
		return;
	}
	pr_info("vmm-switch: port %s: front-end connected", p->name);
}

static void sw_accept(struct sw *sw, unsigned int i)
{
	int fd = accept4(sw->ports[i].listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd >= 0)
		sw_attach(sw, i, fd);
}

/* Client ports: one connect attempt per timer tick while unconnected. */
static void sw_reconnect(struct sw *sw)
{
	unsigned int i;

	for (i = 0; i < sw->nports; i++) {
		struct sw_port *p = &sw->ports[i];
		struct sockaddr_un sa;
		int fd;

		if (p->server || vub_port_fd(p->vp) >= 0)
			continue;
		sw_addr(&sa, p->path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
			close(fd);
			continue;
		}
		/* Non-blocking after connect: vu_msg_recv() then returns -EAGAIN when idle. */
		if (fcntl(fd, F_SETFL, O_NONBLOCK)) {
			close(fd);
			continue;
		}
		sw_attach(sw, i, fd);
	}
}

static void sw_print_stats(struct sw *sw)
{
	unsigned int i;

	for (i = 0; i < sw->nports; i++) {
		struct vub_stats s;

		vub_port_stats(sw->ports[i].vp, &s);
		printf("port %s: rx %llu tx %llu drops %llu flood %llu malformed %llu broken %llu "
		       "refused %llu sessions %llu rx_bytes %llu tx_bytes %llu connected %s\n",
		       sw->ports[i].name, (unsigned long long)s.rx, (unsigned long long)s.tx,
		       (unsigned long long)s.drops, (unsigned long long)s.flood,
		       (unsigned long long)s.malformed, (unsigned long long)s.broken,
		       (unsigned long long)s.refused, (unsigned long long)s.sessions,
		       (unsigned long long)s.rx_bytes, (unsigned long long)s.tx_bytes,
		       vub_port_fd(sw->ports[i].vp) >= 0 ? "yes" : "no");
	}
	if (sw->netshm) {
		struct vub_netshm_stats n;

		vub_netshm_stats(sw->b, &n);
		printf("netshm: attached %llu attaches %llu refused %llu installed %llu withdrawn %llu "
		       "table_full %llu peer_maps %llu peer_unmaps %llu peer_nacks %llu "
		       "chan_errors %llu doorbells %llu doorbell_regs %llu doorbell_refused %llu "
		       "doorbell_maps %llu doorbell_unmaps %llu doorbell_nacks %llu hugepages %s\n",
		       (unsigned long long)n.attached, (unsigned long long)n.attaches,
		       (unsigned long long)n.refused, (unsigned long long)n.installed,
		       (unsigned long long)n.withdrawn, (unsigned long long)n.full,
		       (unsigned long long)n.peer_maps, (unsigned long long)n.peer_unmaps,
		       (unsigned long long)n.peer_nacks, (unsigned long long)n.chan_errors,
		       (unsigned long long)n.doorbells, (unsigned long long)n.doorbell_regs,
		       (unsigned long long)n.doorbell_refused, (unsigned long long)n.doorbell_maps,
		       (unsigned long long)n.doorbell_unmaps, (unsigned long long)n.doorbell_nacks,
		       n.huge ? "yes" : "no");
	}
	fflush(stdout);
}

static void *sw_worker(void *arg)
{
	struct sw *sw = arg;
	uint64_t last = now_ns();

	while (!__atomic_load_n(&sw->stop, __ATOMIC_ACQUIRE)) {
		uint64_t now = now_ns();	/* vDSO: no system call */

		if (vub_poll(sw->b, now)) {
			last = now;
			continue;
		}
		if (now - last < sw->poll_ns) {
			__builtin_ia32_pause();
			continue;
		}
		/* Idle spell over: ask for kicks and sleep (1 s cap: ageing, stop flag). */
		vub_sleep(sw->b, 1000);
		last = now_ns();
	}
	return NULL;
}

static int sw_start_worker(struct sw *sw)
{
	pthread_attr_t attr;
	int ret;

	pthread_attr_init(&attr);
	if (sw->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(sw->cpu, &set);
		pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	}
	if (sw->rt) {
		struct sched_param sp = { .sched_priority = sw->rt };

		pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
		pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
		pthread_attr_setschedparam(&attr, &sp);
	}
	ret = pthread_create(&sw->worker, &attr, sw_worker, sw);
	pthread_attr_destroy(&attr);
	if (ret) {
		fprintf(stderr, "vmm-switch: cannot start the worker%s: %s\n",
			sw->rt ? " (SCHED_FIFO needs root or CAP_SYS_NICE)" : "", strerror(ret));
		return -ret;
	}
	pthread_setname_np(sw->worker, "vsw-worker");
	return 0;
}

static int sw_run(struct sw *sw)
{
	struct itimerspec its = { .it_interval = { 1, 0 }, .it_value = { 0, 1000000 } };
	int sfd, tfd, ret = 0;
	sigset_t set;
	unsigned int i;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGHUP);
	/* Blocked in every thread (the worker inherits the mask); read through a signalfd. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (sfd < 0 || tfd < 0 || timerfd_settime(tfd, 0, &its, NULL) ||
	    sw_epoll_add(sw, sfd, SW_TAG_SIGNAL) || sw_epoll_add(sw, tfd, SW_TAG_TIMER)) {
		perror("vmm-switch: signalfd/timerfd");
		return -1;
	}
	for (i = 0; i < sw->nports; i++) {
		if (sw->ports[i].server) {
			ret = sw_listen(sw, i);
			if (ret)
				return ret;
		}
	}
	ret = sw_start_worker(sw);
	if (ret)
		return ret;
	printf("vmm-switch: ready, %u ports\n", sw->nports);
	fflush(stdout);

	while (!sw->stop) {
		struct epoll_event ev[16];
		int n = epoll_wait(sw->epfd, ev, ARRAY_SIZE(ev), -1), k;

		if (n < 0 && errno != EINTR) {
			perror("vmm-switch: epoll_wait");
			break;
		}
		for (k = 0; k < n; k++) {
			int tag = (int)(int64_t)ev[k].data.u64;

			if (tag == SW_TAG_SIGNAL) {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGUSR1)
					sw_print_stats(sw);
				else
					__atomic_store_n(&sw->stop, 1, __ATOMIC_RELEASE);
			} else if (tag == SW_TAG_TIMER) {
				uint64_t ticks;

				if (read(tfd, &ticks, sizeof(ticks)) == sizeof(ticks))
					sw_reconnect(sw);
			} else if (tag >= SW_LISTEN_BASE) {
				sw_accept(sw, (unsigned int)(tag - SW_LISTEN_BASE));
			} else if (tag >= 0 && (unsigned int)tag < sw->nports) {
				struct vub_port *vp = sw->ports[tag].vp;
				int r = 0, budget = 64;

				/* Drain what is there; a closed session closes its fd, which leaves
				 * the epoll set by itself. */
				while (vub_port_fd(vp) >= 0 && budget-- > 0 && !r)
					r = vub_port_handle(vp);
			}
		}
	}
	__atomic_store_n(&sw->stop, 1, __ATOMIC_RELEASE);
	vub_wake(sw->b);
	pthread_join(sw->worker, NULL);
	sw_print_stats(sw);
	close(sfd);
	close(tfd);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "rt", required_argument, NULL, 'r' },
		{ "poll-us", required_argument, NULL, 'u' },
		{ "queues", required_argument, NULL, 'q' },
		{ "mrg-rxbuf", no_argument, NULL, 'm' },
		{ "age", required_argument, NULL, 'a' },
		{ "netshm", no_argument, NULL, 'n' },
		{ "netshm-peer", no_argument, NULL, 'N' },
		{ "netshm-flap", required_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct vub_config cfg = { .queue_pairs = 1 };
	struct sw *sw = calloc(1, sizeof(*sw));
	struct err e = { 0 };
	unsigned long v;
	unsigned int i;
	int c, ret;

	if (!sw)
		return 1;
	sw->cpu = -1;
	sw->poll_ns = 200 * 1000ull;
	log_set_level(LOG_WARN);
	while ((c = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (sw_parse_port(sw, optarg))
				return 2;
			break;
		case 'c':
			if (sw_parse_uint(optarg, CPU_SETSIZE - 1, &v))
				goto bad;
			sw->cpu = (int)v;
			break;
		case 'r':
			if (sw_parse_uint(optarg, 99, &v) || !v)
				goto bad;
			sw->rt = (int)v;
			break;
		case 'u':
			if (sw_parse_uint(optarg, 10000000, &v))
				goto bad;
			sw->poll_ns = v * 1000ull;
			break;
		case 'q':
			if (sw_parse_uint(optarg, VUB_MAX_QP, &v) || !v)
				goto bad;
			cfg.queue_pairs = (unsigned int)v;
			break;
		case 'm':
			cfg.mrg_rxbuf = true;
			break;
		case 'a':
			if (sw_parse_uint(optarg, 1000000, &v) || !v)
				goto bad;
			cfg.age_ns = v * 1000000000ull;
			break;
		case 'n':
			sw->netshm = true;
			break;
		case 'N':
			sw->netshm = true;
			cfg.netshm_peer = true;
			break;
		case 'f':
			if (sw_parse_uint(optarg, 3600000, &v) || v < 2)
				goto bad;
			cfg.netshm_flap_ms = (unsigned int)v;
			break;
		case 'v':
			log_set_level(log_enabled(LOG_INFO) ? LOG_DEBUG : LOG_INFO);
			break;
		case 'h':
			sw_usage(stdout);
			return 0;
		default:
			sw_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !sw->nports) {
		sw_usage(stderr);
		return 2;
	}
	if (cfg.netshm_flap_ms && !sw->netshm) {
		fprintf(stderr, "vmm-switch: --netshm-flap needs --netshm\n");
		return 2;
	}
	if (sw->netshm) {
		/* docs/vhost-user-shmem.md §3: one region for all ports, 2..8 of them. */
		if (sw->nports < 2 || sw->nports > NETSHM_MAX_PORTS) {
			fprintf(stderr, "vmm-switch: --netshm needs 2..%d ports, not %u\n",
				NETSHM_MAX_PORTS, sw->nports);
			return 2;
		}
		cfg.netshm_ports = sw->nports;
	}
	ret = vub_create(&cfg, &sw->b, &e);
	if (ret) {
		fprintf(stderr, "vmm-switch: %s\n", e.msg);
		return 1;
	}
	for (i = 0; i < sw->nports; i++) {
		ret = vub_port_add(sw->b, sw->ports[i].name, &sw->ports[i].vp, &e);
		if (ret) {
			fprintf(stderr, "vmm-switch: %s\n", e.msg);
			return 1;
		}
	}
	sw->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sw->epfd < 0) {
		perror("vmm-switch: epoll");
		return 1;
	}
	ret = sw_run(sw);
	for (i = 0; i < sw->nports; i++) {
		if (sw->ports[i].listen_fd >= 0) {
			close(sw->ports[i].listen_fd);
			unlink(sw->ports[i].path);
		}
	}
	vub_destroy(sw->b);
	close(sw->epfd);
	free(sw);
	return ret ? 1 : 0;

bad:
	fprintf(stderr, "vmm-switch: bad value '%s' for --%s\n", optarg,
		c == 'c' ? "cpu" : c == 'r' ? "rt" : c == 'u' ? "poll-us" : c == 'q' ? "queues" :
		c == 'f' ? "netshm-flap" : "age");
	return 2;
}
