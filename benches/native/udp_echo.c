// Kernel UDP socket echo: the kernel-stack baseline of the Fastlane benchmark.
// Receives up to 32 datagrams per recvmmsg() and sends each back to its sender with sendmmsg().
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#define BATCH 32
#define MAX_DATAGRAM 65536

static volatile sig_atomic_t stop;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s ADDR:PORT [--duration SECONDS]\n", prog);
}

static int parse_endpoint(const char *text, struct sockaddr_in *addr)
{
	char host[INET_ADDRSTRLEN];
	const char *colon = strrchr(text, ':');
	char *end;
	unsigned long port;

	if (!colon || (size_t)(colon - text) >= sizeof(host))
		return -1;
	memcpy(host, text, colon - text);
	host[colon - text] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || colon[1] == '\0' || *end != '\0' || port > UINT16_MAX)
		return -1;
	*addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(port) };
	return inet_pton(AF_INET, host, &addr->sin_addr) == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{ "duration", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static uint8_t bufs[BATCH][MAX_DATAGRAM];
	const struct sigaction sa = { .sa_handler = on_stop_signal }; // no SA_RESTART: wake recvmmsg()
	struct sockaddr_in local, peers[BATCH];
	struct iovec rx_iov[BATCH], tx_iov[BATCH];
	struct mmsghdr rx_msgs[BATCH], tx_msgs[BATCH];
	unsigned long long rx_packets = 0, tx_packets = 0, tx_errors = 0;
	unsigned long duration = 0;
	char *end;
	int c, fd;

	while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
		if (c != 'd') {
			usage(argv[0]);
			return 2;
		}
		errno = 0;
		duration = strtoul(optarg, &end, 10);
		if (errno || *optarg == '\0' || *end != '\0' || duration == 0 || duration > UINT_MAX) {
			fprintf(stderr, "invalid --duration '%s'\n", optarg);
			return 2;
		}
	}
	if (optind != argc - 1 || parse_endpoint(argv[optind], &local)) {
		usage(argv[0]);
		return 2;
	}

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		fprintf(stderr, "socket(AF_INET, SOCK_DGRAM): %s\n", strerror(errno));
		return 1;
	}
	if (bind(fd, (struct sockaddr *)&local, sizeof(local))) {
		fprintf(stderr, "bind(%s): %s\n", argv[optind], strerror(errno));
		return 1;
	}

	// Received datagrams are sent from the same buffers, to the address they came from.
	memset(rx_msgs, 0, sizeof(rx_msgs));
	memset(tx_msgs, 0, sizeof(tx_msgs));
	for (int i = 0; i < BATCH; i++) {
		rx_iov[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = MAX_DATAGRAM };
		tx_iov[i] = (struct iovec){ .iov_base = bufs[i] };
		rx_msgs[i].msg_hdr = (struct msghdr){
			.msg_name = &peers[i], .msg_iov = &rx_iov[i], .msg_iovlen = 1
		};
		tx_msgs[i].msg_hdr = (struct msghdr){
			.msg_name = &peers[i], .msg_iov = &tx_iov[i], .msg_iovlen = 1
		};
	}

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	if (duration)
		alarm(duration);
	fprintf(stderr, "udp_echo: listening on %s\n", argv[optind]);

	while (!stop) {
		int rcvd, sent = 0;

		for (int i = 0; i < BATCH; i++)
			rx_msgs[i].msg_hdr.msg_namelen = sizeof(peers[i]);
		// Blocks for the first datagram only, then takes whatever else is queued.
		rcvd = recvmmsg(fd, rx_msgs, BATCH, MSG_WAITFORONE, NULL);
		if (rcvd < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "recvmmsg: %s\n", strerror(errno));
			return 1;
		}
		rx_packets += rcvd;
		for (int i = 0; i < rcvd; i++) {
			tx_iov[i].iov_len = rx_msgs[i].msg_len;
			tx_msgs[i].msg_hdr.msg_namelen = rx_msgs[i].msg_hdr.msg_namelen;
		}
		while (sent < rcvd) {
			int n = sendmmsg(fd, tx_msgs + sent, rcvd - sent, 0);

			if (n >= 0) {
				sent += n;
				tx_packets += n;
			} else if (errno == EINTR) {
				if (stop)
					break;
			} else {
				// The first remaining datagram failed (e.g. ENOBUFS, a queued ICMP error):
				// drop it and carry on with the rest.
				tx_errors++;
				sent++;
			}
		}
	}

	printf("rx_packets=%llu tx_packets=%llu\n", rx_packets, tx_packets);
	fflush(stdout);
	fprintf(stderr, "tx_errors=%llu\n", tx_errors);
	close(fd);
	return 0;
}
