// Plain C AF_XDP macswap forwarder: the reference the Fastlane benchmark compares against.
//
// Frames cycle fill ring -> rx ring -> (MAC swap) -> tx ring -> completion ring -> fill ring.
// The fill ring is sized to hold every UMEM frame, so recycling a completion never waits.
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/xsk.h>

#define NUM_FRAMES 8192
#define FRAME_SIZE XSK_UMEM__DEFAULT_FRAME_SIZE
#define FILL_RING_SIZE NUM_FRAMES
#define COMP_RING_SIZE 2048
#define RX_RING_SIZE 2048
#define TX_RING_SIZE 2048
#define MAX_BATCH RX_RING_SIZE
#define IDLE_POLL_TIMEOUT_MS 100
#define BIND_RETRY_MS 2000
#define BIND_RETRY_STEP_MS 20
#define BUSY_POLL_USECS 20
#define KERNEL_TX_BATCH 32 // frames a copy-mode sendto() handles without XDP_MAX_TX_SKB_BUDGET
// Enough kicks to drain a full tx ring 32 frames at a time.
#define MAX_TX_KICKS (TX_RING_SIZE / KERNEL_TX_BATCH)
#define ETH_ADDRS_LEN 12

#ifndef XDP_MAX_TX_SKB_BUDGET
#define XDP_MAX_TX_SKB_BUDGET 9 // Linux 6.17
#endif
#ifndef SO_PREFER_BUSY_POLL
#define SO_PREFER_BUSY_POLL 69
#endif
#ifndef SO_BUSY_POLL_BUDGET
#define SO_BUSY_POLL_BUDGET 70
#endif

// The XDP object is embedded so the binary runs from anywhere.
extern const unsigned char xsk_redirect_obj[];
extern const unsigned char xsk_redirect_obj_end[];
__asm__(".pushsection .rodata\n"
	".balign 8\n"
	".hidden xsk_redirect_obj\n"
	".hidden xsk_redirect_obj_end\n"
	".globl xsk_redirect_obj\n"
	".globl xsk_redirect_obj_end\n"
	"xsk_redirect_obj:\n"
	".incbin \"" XSK_REDIRECT_OBJ "\"\n"
	"xsk_redirect_obj_end:\n"
	".popsection\n");

struct options {
	const char *ifname;
	unsigned int ifindex;
	uint32_t queue;
	uint16_t port;
	bool copy;
	uint32_t batch;
	bool busy_poll;
	unsigned int duration;
};

struct forwarder {
	void *umem_area;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	// Zero-initialised: libxdp 1.3.1 leaves the completion ring's cached counters unset.
	struct xsk_ring_prod fill;
	struct xsk_ring_cons comp;
	struct xsk_ring_cons rx;
	struct xsk_ring_prod tx;
	int fd;
	bool tx_unsent; // the kernel has not yet taken everything on the tx ring
	uint64_t rx_packets;
	uint64_t tx_packets;
	uint64_t tx_ring_full; // received frames dropped because the tx ring had no room
};

struct xdp_attachment {
	struct bpf_object *obj;
	int prog_fd;
	int xsks_fd;
	unsigned int ifindex;
	bool attached;
};

static volatile sig_atomic_t stop;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s IFACE [--queue 0] [--port 9000] [--copy] [--batch 64] [--busy-poll]\n"
		"          [--duration SECONDS]\n",
		prog);
}

static int parse_uint(const char *name, const char *text, unsigned long min, unsigned long max,
		      unsigned long *out)
{
	char *end;
	unsigned long value;

	errno = 0;
	value = strtoul(text, &end, 10);
	if (errno || *text == '\0' || *end != '\0' || value < min || value > max) {
		fprintf(stderr, "invalid --%s '%s' (expected %lu..%lu)\n", name, text, min, max);
		return -1;
	}
	*out = value;
	return 0;
}

static int parse_options(int argc, char **argv, struct options *opt)
{
	static const struct option long_options[] = {
		{ "queue", required_argument, NULL, 'q' },
		{ "port", required_argument, NULL, 'p' },
		{ "copy", no_argument, NULL, 'c' },
		{ "batch", required_argument, NULL, 'b' },
		{ "busy-poll", no_argument, NULL, 'B' },
		{ "duration", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	unsigned long value;
	int c;

	*opt = (struct options){ .port = 9000, .batch = 64 };
	while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
		switch (c) {
		case 'q':
			if (parse_uint("queue", optarg, 0, UINT16_MAX, &value))
				return -1;
			opt->queue = value;
			break;
		case 'p':
			if (parse_uint("port", optarg, 1, UINT16_MAX, &value))
				return -1;
			opt->port = value;
			break;
		case 'c':
			opt->copy = true;
			break;
		case 'b':
			if (parse_uint("batch", optarg, 1, MAX_BATCH, &value))
				return -1;
			opt->batch = value;
			break;
		case 'B':
			opt->busy_poll = true;
			break;
		case 'd':
			if (parse_uint("duration", optarg, 1, UINT_MAX, &value))
				return -1;
			opt->duration = value;
			break;
		default:
			return -1;
		}
	}
	if (optind != argc - 1)
		return -1;
	opt->ifname = argv[optind];
	opt->ifindex = if_nametoindex(opt->ifname);
	if (!opt->ifindex) {
		fprintf(stderr, "interface %s: %s\n", opt->ifname, strerror(errno));
		return -1;
	}
	return 0;
}

static int load_xdp_program(const struct options *opt, struct xdp_attachment *xdp)
{
	const uint16_t port_be = htons(opt->port);
	struct bpf_program *prog;
	struct bpf_map *rodata, *xsks;
	int err;

	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .object_name = "xsk_redirect");
	xdp->obj = bpf_object__open_mem(xsk_redirect_obj, xsk_redirect_obj_end - xsk_redirect_obj,
					&open_opts);
	if (!xdp->obj) {
		fprintf(stderr, "bpf_object__open_mem(xsk_redirect): %s\n", strerror(errno));
		return -1;
	}
	prog = bpf_object__find_program_by_name(xdp->obj, "xsk_redirect_udp");
	rodata = bpf_object__find_map_by_name(xdp->obj, ".rodata");
	xsks = bpf_object__find_map_by_name(xdp->obj, "xsks");
	if (!prog || !rodata || !xsks) {
		fprintf(stderr, "xsk_redirect object lacks its program, .rodata or xsks map\n");
		return -1;
	}
	err = bpf_map__set_initial_value(rodata, &port_be, sizeof(port_be));
	if (!err)
		err = bpf_map__set_max_entries(xsks, opt->queue + 1);
	if (err) {
		fprintf(stderr, "configuring xsk_redirect: %s\n", strerror(-err));
		return -1;
	}
	err = bpf_object__load(xdp->obj);
	if (err) {
		// libbpf has already printed the verifier log.
		fprintf(stderr, "bpf_object__load(xsk_redirect): %s\n", strerror(-err));
		return -1;
	}
	xdp->prog_fd = bpf_program__fd(prog);
	xdp->xsks_fd = bpf_map__fd(xsks);
	return 0;
}

static int attach_xdp_program(struct xdp_attachment *xdp, const char *ifname)
{
	int err = bpf_xdp_attach(xdp->ifindex, xdp->prog_fd,
				 XDP_FLAGS_DRV_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);

	if (err) {
		fprintf(stderr, "bpf_xdp_attach(%s, native): %s%s\n", ifname, strerror(-err),
			err == -EBUSY || err == -EEXIST ? " (another XDP program is attached)" : "");
		return -1;
	}
	xdp->attached = true;
	return 0;
}

static void detach_xdp_program(struct xdp_attachment *xdp, const char *ifname)
{
	// XDP_FLAGS_REPLACE: remove our program only, never one attached by someone else since.
	LIBBPF_OPTS(bpf_xdp_attach_opts, opts, .old_prog_fd = xdp->prog_fd);
	int err;

	if (!xdp->attached)
		return;
	err = bpf_xdp_detach(xdp->ifindex, XDP_FLAGS_DRV_MODE | XDP_FLAGS_REPLACE, &opts);
	if (err)
		fprintf(stderr, "bpf_xdp_detach(%s): %s\n", ifname, strerror(-err));
	xdp->attached = false;
}

static int set_busy_poll(int fd, uint32_t batch)
{
	const struct {
		int name;
		const char *text;
		int value;
	} settings[] = {
		{ SO_PREFER_BUSY_POLL, "SO_PREFER_BUSY_POLL", 1 },
		{ SO_BUSY_POLL, "SO_BUSY_POLL", BUSY_POLL_USECS },
		{ SO_BUSY_POLL_BUDGET, "SO_BUSY_POLL_BUDGET", (int)batch },
	};

	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		if (setsockopt(fd, SOL_SOCKET, settings[i].name, &settings[i].value,
			       sizeof(settings[i].value))) {
			fprintf(stderr, "setsockopt(%s): %s\n", settings[i].text, strerror(errno));
			return -1;
		}
	}
	return 0;
}

// Lets one copy-mode sendto() send a whole batch instead of 32 frames. Older kernels lack
// the option (ENOPROTOOPT): kick_tx() then simply kicks more than once.
static void set_tx_budget(int fd, uint32_t batch)
{
	const unsigned int budget = batch > KERNEL_TX_BATCH ? batch : KERNEL_TX_BATCH;

	if (setsockopt(fd, SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &budget, sizeof(budget)) &&
	    errno != ENOPROTOOPT)
		fprintf(stderr, "setsockopt(XDP_MAX_TX_SKB_BUDGET, %u): %s\n", budget,
			strerror(errno));
}

static int create_socket(const struct options *opt, struct forwarder *f)
{
	const struct xsk_umem_config umem_cfg = {
		.fill_size = FILL_RING_SIZE,
		.comp_size = COMP_RING_SIZE,
		.frame_size = FRAME_SIZE,
		.frame_headroom = XSK_UMEM__DEFAULT_FRAME_HEADROOM,
		.flags = XSK_UMEM__DEFAULT_FLAGS,
	};
	const struct xsk_socket_config xsk_cfg = {
		.rx_size = RX_RING_SIZE,
		.tx_size = TX_RING_SIZE,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_USE_NEED_WAKEUP | (opt->copy ? XDP_COPY : 0),
	};
	const size_t umem_len = (size_t)NUM_FRAMES * FRAME_SIZE;
	uint32_t idx;
	int err;

	f->umem_area = mmap(NULL, umem_len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (f->umem_area == MAP_FAILED) {
		f->umem_area = NULL;
		fprintf(stderr, "mmap(UMEM, %zu bytes): %s\n", umem_len, strerror(errno));
		return -1;
	}
	for (unsigned int waited_ms = 0;; waited_ms += BIND_RETRY_STEP_MS) {
		memset(&f->fill, 0, sizeof(f->fill));
		memset(&f->comp, 0, sizeof(f->comp));
		memset(&f->rx, 0, sizeof(f->rx));
		memset(&f->tx, 0, sizeof(f->tx));
		err = xsk_umem__create(&f->umem, f->umem_area, umem_len, &f->fill, &f->comp,
				       &umem_cfg);
		if (err) {
			// Over RLIMIT_MEMLOCK (8 MiB here) the registration needs CAP_IPC_LOCK.
			fprintf(stderr, "xsk_umem__create(%u x %u): %s\n", NUM_FRAMES, FRAME_SIZE,
				strerror(-err));
			f->umem = NULL;
			return -1;
		}
		err = xsk_socket__create(&f->xsk, opt->ifname, opt->queue, f->umem, &f->rx, &f->tx,
					 &xsk_cfg);
		if (err != -EBUSY || waited_ms >= BIND_RETRY_MS || stop)
			break;
		// The queue stays bound for a moment after its previous socket closed (the kernel
		// releases the buffer pool from a work item): start over with a fresh UMEM.
		xsk_umem__delete(f->umem);
		f->umem = NULL;
		usleep(BIND_RETRY_STEP_MS * 1000);
	}
	if (err) {
		f->xsk = NULL;
		fprintf(stderr, "xsk_socket__create(%s, queue %u%s): %s%s\n", opt->ifname, opt->queue,
			opt->copy ? ", copy" : "", strerror(-err),
			err == -EBUSY ? " (queue bound by another AF_XDP socket)" : "");
		return -1;
	}
	f->fd = xsk_socket__fd(f->xsk);
	if (opt->busy_poll && set_busy_poll(f->fd, opt->batch))
		return -1;
	set_tx_budget(f->fd, opt->batch);

	// Every frame starts on the fill ring.
	if (xsk_ring_prod__reserve(&f->fill, NUM_FRAMES, &idx) != NUM_FRAMES) {
		fprintf(stderr, "fill ring cannot take %u frames\n", NUM_FRAMES);
		return -1;
	}
	for (uint32_t i = 0; i < NUM_FRAMES; i++)
		*xsk_ring_prod__fill_addr(&f->fill, idx + i) = (uint64_t)i * FRAME_SIZE;
	xsk_ring_prod__submit(&f->fill, NUM_FRAMES);
	return 0;
}

static void destroy_socket(struct forwarder *f)
{
	if (f->xsk)
		xsk_socket__delete(f->xsk);
	if (f->umem)
		xsk_umem__delete(f->umem);
	if (f->umem_area)
		munmap(f->umem_area, (size_t)NUM_FRAMES * FRAME_SIZE);
}

// Completed tx frames go straight back to the fill ring, which has room for every frame.
static void recycle_completions(struct forwarder *f)
{
	uint32_t idx_cq, idx_fq = 0;
	uint32_t n = xsk_ring_cons__peek(&f->comp, COMP_RING_SIZE, &idx_cq);

	if (!n)
		return;
	xsk_ring_prod__reserve(&f->fill, n, &idx_fq);
	for (uint32_t i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(&f->fill, idx_fq + i) =
			*xsk_ring_cons__comp_addr(&f->comp, idx_cq + i);
	xsk_ring_prod__submit(&f->fill, n);
	xsk_ring_cons__release(&f->comp, n);
	f->tx_packets += n;
}

// Copy mode sends at most its budget per call and answers EAGAIN while more are waiting.
static int kick_tx(struct forwarder *f)
{
	for (int kicks = 0; kicks < MAX_TX_KICKS; kicks++) {
		if (sendto(f->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0) {
			f->tx_unsent = false;
			return 0;
		}
		if (errno != EAGAIN)
			break;
	}
	switch (errno) {
	case EAGAIN: // more to send, or the device is busy: retried on the next loop
	case EBUSY:
	case ENOBUFS:
	case ENETDOWN:
	case EINTR:
		f->tx_unsent = true;
		return 0;
	default:
		fprintf(stderr, "sendto(AF_XDP tx kick): %s\n", strerror(errno));
		return -1;
	}
}

static inline void swap_macs(uint8_t *frame)
{
	uint8_t tmp[6];

	memcpy(tmp, frame, 6);
	memcpy(frame, frame + 6, 6);
	memcpy(frame + 6, tmp, 6);
}

// One pass: recycle completions, forward one rx batch. Returns frames received, or -1.
static int forward_batch(struct forwarder *f, const struct options *opt)
{
	uint32_t idx_rx, idx_tx = 0, idx_fq = 0, nsend, ndrop;
	uint32_t rcvd;

	recycle_completions(f);
	rcvd = xsk_ring_cons__peek(&f->rx, opt->batch, &idx_rx);
	if (!rcvd)
		return 0;

	nsend = xsk_prod_nb_free(&f->tx, rcvd);
	if (nsend > rcvd)
		nsend = rcvd;
	xsk_ring_prod__reserve(&f->tx, nsend, &idx_tx);
	for (uint32_t i = 0; i < nsend; i++) {
		const struct xdp_desc *rx = xsk_ring_cons__rx_desc(&f->rx, idx_rx + i);
		struct xdp_desc *tx = xsk_ring_prod__tx_desc(&f->tx, idx_tx + i);

		// The kernel never delivers less than an Ethernet header; check anyway.
		if (rx->len >= ETH_ADDRS_LEN)
			swap_macs(xsk_umem__get_data(f->umem_area, rx->addr));
		tx->addr = rx->addr;
		tx->len = rx->len;
		tx->options = 0;
	}
	xsk_ring_prod__submit(&f->tx, nsend);

	// No room on the tx ring for the rest: drop them straight back onto the fill ring,
	// which never lacks room since it holds every frame.
	ndrop = rcvd - nsend;
	if (ndrop) {
		xsk_ring_prod__reserve(&f->fill, ndrop, &idx_fq);
		for (uint32_t i = 0; i < ndrop; i++)
			*xsk_ring_prod__fill_addr(&f->fill, idx_fq + i) =
				xsk_ring_cons__rx_desc(&f->rx, idx_rx + nsend + i)->addr;
		xsk_ring_prod__submit(&f->fill, ndrop);
		f->tx_ring_full += ndrop;
	}
	xsk_ring_cons__release(&f->rx, rcvd);
	f->rx_packets += rcvd;

	if (nsend && (opt->busy_poll || xsk_ring_prod__needs_wakeup(&f->tx)))
		return kick_tx(f) ? -1 : (int)rcvd;
	return (int)rcvd;
}

static int run(struct forwarder *f, const struct options *opt)
{
	struct pollfd pfd = { .fd = f->fd, .events = POLLIN };

	while (!stop) {
		int rcvd = forward_batch(f, opt);

		if (rcvd < 0)
			return -1;
		if (rcvd > 0)
			continue;
		if (f->tx_unsent && kick_tx(f))
			return -1;
		if (opt->busy_poll) {
			// recvfrom() drives the device's NAPI from this thread.
			recvfrom(f->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
		} else if (poll(&pfd, 1, IDLE_POLL_TIMEOUT_MS) < 0 && errno != EINTR) {
			fprintf(stderr, "poll(AF_XDP): %s\n", strerror(errno));
			return -1;
		}
	}
	return 0;
}

// Without --copy the kernel picks zero-copy when the driver supports it: report what it chose.
static bool bound_zero_copy(int fd)
{
	struct xdp_options xo = { 0 };
	socklen_t len = sizeof(xo);

	return getsockopt(fd, SOL_XDP, XDP_OPTIONS, &xo, &len) == 0 &&
	       (xo.flags & XDP_OPTIONS_ZEROCOPY);
}

static void print_stats(const struct forwarder *f)
{
	struct xdp_statistics st = { 0 };
	socklen_t len = sizeof(st);

	printf("rx_packets=%llu tx_packets=%llu\n", (unsigned long long)f->rx_packets,
	       (unsigned long long)f->tx_packets);
	fflush(stdout);
	if (getsockopt(f->fd, SOL_XDP, XDP_STATISTICS, &st, &len)) {
		fprintf(stderr, "getsockopt(XDP_STATISTICS): %s\n", strerror(errno));
		return;
	}
	fprintf(stderr,
		"tx_ring_full=%llu rx_dropped=%llu rx_ring_full=%llu rx_fill_ring_empty=%llu "
		"rx_invalid=%llu tx_invalid=%llu tx_ring_empty=%llu\n",
		(unsigned long long)f->tx_ring_full, (unsigned long long)st.rx_dropped,
		(unsigned long long)st.rx_ring_full,
		(unsigned long long)st.rx_fill_ring_empty_descs,
		(unsigned long long)st.rx_invalid_descs, (unsigned long long)st.tx_invalid_descs,
		(unsigned long long)st.tx_ring_empty_descs);
}

int main(int argc, char **argv)
{
	const struct sigaction sa = { .sa_handler = on_stop_signal }; // no SA_RESTART: wake poll()
	struct options opt;
	struct forwarder f = { .fd = -1 };
	struct xdp_attachment xdp = { .prog_fd = -1, .xsks_fd = -1 };
	int status = 1;

	if (parse_options(argc, argv, &opt)) {
		usage(argv[0]);
		return 2;
	}
	xdp.ifindex = opt.ifindex;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);

	if (load_xdp_program(&opt, &xdp) || create_socket(&opt, &f))
		goto out;
	if (xsk_socket__update_xskmap(f.xsk, xdp.xsks_fd)) {
		fprintf(stderr, "inserting the socket into xsks[%u]: %s\n", opt.queue,
			strerror(errno));
		goto out;
	}
	// Attached last: until the socket is in the map, matching frames would fall back to the kernel.
	if (attach_xdp_program(&xdp, opt.ifname))
		goto out;
	if (opt.duration)
		alarm(opt.duration);
	fprintf(stderr, "xsk_macswap: %s queue %u udp port %u, %s mode%s, batch %u\n", opt.ifname,
		opt.queue, opt.port, bound_zero_copy(f.fd) ? "zero-copy" : "copy",
		opt.busy_poll ? ", busy poll" : "", opt.batch);

	if (run(&f, &opt) == 0)
		status = 0;
	print_stats(&f);
out:
	detach_xdp_program(&xdp, opt.ifname);
	destroy_socket(&f);
	bpf_object__close(xdp.obj);
	return status;
}
