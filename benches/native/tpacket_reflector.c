// Plain C AF_PACKET macswap reflector: the native baseline of Fastlane's AF_PACKET backend.
// A TPACKET_V3 RX ring receives the IPv4 UDP frames to --port (a classic BPF socket filter lets
// nothing else in); each frame gets its Ethernet addresses swapped in place and the whole block
// goes back out with sendmmsg() batches whose iovecs point into the ring, then returns to the
// kernel. The kernel stack still sees its own copy of every frame (AF_PACKET is a tap).
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>

#define TX_BATCH 256

static volatile sig_atomic_t stop;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s IFACE [--port 9000] [--block-size 262144] [--block-count 64]\n"
		"       [--block-timeout-ms 1] [--duration SECONDS]\n",
		prog);
}

static int parse_ulong(const char *name, const char *text, unsigned long min, unsigned long max,
		       unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(text, &end, 10);
	if (errno || *text == '\0' || *end != '\0' || *out < min || *out > max) {
		fprintf(stderr, "invalid --%s '%s'\n", name, text);
		return -1;
	}
	return 0;
}

static int set_int_option(int fd, int level, int name, int value, const char *what)
{
	if (setsockopt(fd, level, name, &value, sizeof(value))) {
		fprintf(stderr, "setsockopt(%s): %s\n", what, strerror(errno));
		return -1;
	}
	return 0;
}

// Accepts unfragmented IPv4 UDP frames to `port` (whole), drops everything else.
static int attach_udp_port_filter(int fd, uint16_t port)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),			   // ethertype
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 8),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 23),			   // IPv4 protocol
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, 6),
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 20),			   // flags + fragment offset
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x3fff, 4, 0),	   // MF or an offset: a fragment
		BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 14),		   // X = IPv4 header length
		BPF_STMT(BPF_LD | BPF_H | BPF_IND, 16),			   // UDP destination port
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, UINT32_MAX),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };

	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog))) {
		fprintf(stderr, "setsockopt(SO_ATTACH_FILTER): %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static void swap_macs(uint8_t *frame)
{
	uint8_t tmp[ETH_ALEN];

	memcpy(tmp, frame, ETH_ALEN);
	memcpy(frame, frame + ETH_ALEN, ETH_ALEN);
	memcpy(frame + ETH_ALEN, tmp, ETH_ALEN);
}

struct tx_batch {
	struct mmsghdr msgs[TX_BATCH];
	struct iovec iov[TX_BATCH];
	unsigned int len;
};

// Sends every queued frame; a frame the kernel refuses (e.g. ENOBUFS) is dropped and counted.
static void flush(int fd, struct tx_batch *tx, unsigned long long *tx_packets,
		  unsigned long long *tx_errors)
{
	unsigned int sent = 0;

	while (sent < tx->len) {
		int n = sendmmsg(fd, tx->msgs + sent, tx->len - sent, 0);

		if (n >= 0) {
			sent += n;
			*tx_packets += n;
		} else if (errno != EINTR) {
			(*tx_errors)++;
			sent++;
		}
	}
	tx->len = 0;
}

int main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "block-size", required_argument, NULL, 's' },
		{ "block-count", required_argument, NULL, 'c' },
		{ "block-timeout-ms", required_argument, NULL, 't' },
		{ "duration", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static struct tx_batch tx;
	const struct sigaction sa = { .sa_handler = on_stop_signal }; // no SA_RESTART: wake poll()
	unsigned long port = 9000, block_size = 1 << 18, block_count = 64, block_timeout_ms = 1;
	unsigned long duration = 0;
	unsigned long long rx_packets = 0, tx_packets = 0, tx_errors = 0;
	struct tpacket_stats_v3 kstats;
	socklen_t kstats_len = sizeof(kstats);
	struct tpacket_req3 req;
	struct sockaddr_ll addr;
	unsigned int ifindex, block = 0;
	const char *iface;
	uint8_t *ring;
	size_t ring_len;
	int c, fd;

	while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
		int bad;

		switch (c) {
		case 'p':
			bad = parse_ulong("port", optarg, 1, UINT16_MAX, &port);
			break;
		case 's':
			bad = parse_ulong("block-size", optarg, 4096, 1UL << 30, &block_size);
			if (!bad && (block_size & (block_size - 1))) {
				fprintf(stderr, "--block-size must be a power of two\n");
				bad = 1;
			}
			break;
		case 'c':
			bad = parse_ulong("block-count", optarg, 1, 65536, &block_count);
			break;
		case 't':
			bad = parse_ulong("block-timeout-ms", optarg, 0, 60000, &block_timeout_ms);
			break;
		case 'd':
			bad = parse_ulong("duration", optarg, 1, UINT_MAX, &duration);
			break;
		default:
			usage(argv[0]);
			return 2;
		}
		if (bad)
			return 2;
	}
	if (optind != argc - 1) {
		usage(argv[0]);
		return 2;
	}
	iface = argv[optind];
	ifindex = if_nametoindex(iface);
	if (!ifindex) {
		fprintf(stderr, "if_nametoindex(%s): %s\n", iface, strerror(errno));
		return 1;
	}

	// Protocol 0 until bound: no frame reaches the socket before the filter is in place.
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		fprintf(stderr, "socket(AF_PACKET, SOCK_RAW): %s\n", strerror(errno));
		return 1;
	}
	if (attach_udp_port_filter(fd, port) ||
	    set_int_option(fd, SOL_PACKET, PACKET_VERSION, TPACKET_V3, "PACKET_VERSION") ||
	    set_int_option(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1, "PACKET_IGNORE_OUTGOING"))
		return 1;
	req = (struct tpacket_req3){
		.tp_block_size = block_size,
		.tp_block_nr = block_count,
		.tp_frame_size = 2048,
		.tp_frame_nr = block_size / 2048 * block_count,
		.tp_retire_blk_tov = block_timeout_ms,
	};
	if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req))) {
		fprintf(stderr, "setsockopt(PACKET_RX_RING, %lu x %lu B): %s\n", block_count,
			block_size, strerror(errno));
		return 1;
	}
	ring_len = (size_t)block_size * block_count;
	ring = mmap(NULL, ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (ring == MAP_FAILED) {
		fprintf(stderr, "mmap(RX ring, %zu B): %s\n", ring_len, strerror(errno));
		return 1;
	}
	addr = (struct sockaddr_ll){
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = ifindex,
	};
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		fprintf(stderr, "bind(%s): %s\n", iface, strerror(errno));
		return 1;
	}
	for (int i = 0; i < TX_BATCH; i++)
		tx.msgs[i].msg_hdr = (struct msghdr){ .msg_iov = &tx.iov[i], .msg_iovlen = 1 };

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	if (duration)
		alarm(duration);
	fprintf(stderr, "tpacket_reflector: %s udp/%lu, %lu blocks of %lu B, timeout %lu ms\n", iface,
		port, block_count, block_size, block_timeout_ms);

	while (!stop) {
		struct tpacket_block_desc *desc =
			(struct tpacket_block_desc *)(ring + (size_t)block * block_size);
		struct tpacket_hdr_v1 *bh = &desc->hdr.bh1;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint8_t *base = (uint8_t *)desc;
		uint32_t offset;

		if (!(__atomic_load_n(&bh->block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) {
			if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
				fprintf(stderr, "poll: %s\n", strerror(errno));
				return 1;
			}
			continue;
		}
		offset = bh->offset_to_first_pkt;
		for (uint32_t i = 0; i < bh->num_pkts; i++) {
			struct tpacket3_hdr *hdr = (struct tpacket3_hdr *)(base + offset);
			uint8_t *frame = (uint8_t *)hdr + hdr->tp_mac;

			if (hdr->tp_snaplen >= ETH_HLEN) {
				swap_macs(frame);
				tx.iov[tx.len] = (struct iovec){ .iov_base = frame,
								 .iov_len = hdr->tp_snaplen };
				if (++tx.len == TX_BATCH)
					flush(fd, &tx, &tx_packets, &tx_errors);
			}
			offset += hdr->tp_next_offset;
		}
		rx_packets += bh->num_pkts;
		// sendmmsg() copies the frames: the block can go back once they are sent.
		flush(fd, &tx, &tx_packets, &tx_errors);
		__atomic_store_n(&bh->block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
		block = (block + 1) % block_count;
	}

	printf("rx_packets=%llu tx_packets=%llu\n", rx_packets, tx_packets);
	fflush(stdout);
	if (!getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &kstats, &kstats_len))
		fprintf(stderr, "tx_errors=%llu ring_drops=%u freeze_q_cnt=%u\n", tx_errors,
			kstats.tp_drops, kstats.tp_freeze_q_cnt);
	munmap(ring, ring_len);
	close(fd);
	return 0;
}
