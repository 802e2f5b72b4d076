// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Fastlane's test traffic programs.
 *
 * fl_gen     runs under BPF_PROG_RUN in live-frames mode: every run transmits the next of its
 *            frames (cycling over fl_gen_frame_count of them) out of the ingress device (XDP_TX).
 * fl_sink    sits natively on the generator's interface: counts and drops the test traffic that
 *            comes back, passes everything else to the kernel.
 * fl_reflect swaps the MAC addresses of UDP frames and sends them back (XDP_TX); passes the rest.
 * fl_pass    passes everything: a veth end receives frames its peer sends with XDP_TX only while
 *            it has a native XDP program.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* Bytes of a frame written on every run (all of a shorter frame). Live-frames mode recycles its
 * pages without rewriting them, so a reflector that edits frames in place (a MAC swap) would
 * otherwise change what later runs send; and the frames fl_gen cycles over differ only here (in
 * the addresses, ports, TEIDs and checksums of their headers), the rest of every page holding
 * the same payload. Frames are at least ETH_ZLEN (60) bytes. */
#define FL_HEADER_LEN 128

struct fl_counts {
	__u64 packets;
	__u64 bytes;
};

struct fl_template {
	__u8 header[FL_HEADER_LEN];
};

/* The headers of the frames fl_gen sends in turn; the loader sizes the map to their number. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fl_template);
} fl_gen_frames SEC(".maps");

/* How many entries of fl_gen_frames are sent (set by the loader). */
volatile const __u32 fl_gen_frame_count = 1;

/* The index of the next frame to send, per CPU: a test run stays on its CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} fl_gen_cursor SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fl_counts);
} fl_gen_counts SEC(".maps");

/* The UDP destination port (host order) the sink takes. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} fl_sink_port SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fl_counts);
} fl_sink_counts SEC(".maps");

static __always_inline void count(void *map, __u64 bytes)
{
	__u32 key = 0;
	struct fl_counts *c = bpf_map_lookup_elem(map, &key);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

/* The UDP destination port (host order) of an IPv4 or IPv6 UDP frame with at most one VLAN tag,
 * or -1 for anything else (including IPv4 fragments and IPv6 extension headers). */
static __always_inline int udp_dst_port(void *data, void *data_end)
{
	struct ethhdr *eth = data;
	struct udphdr *udp;
	void *l3;
	__u16 proto;

	if ((void *)(eth + 1) > data_end)
		return -1;
	proto = eth->h_proto;
	l3 = eth + 1;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		__be16 *tag = l3;

		if ((void *)(tag + 2) > data_end)
			return -1;
		proto = tag[1];
		l3 = tag + 2;
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_UDP || ip->ihl < 5)
			return -1;
		if (ip->frag_off & bpf_htons(0x3fff))
			return -1;
		udp = (void *)ip + ip->ihl * 4;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > data_end || ip6->nexthdr != IPPROTO_UDP)
			return -1;
		udp = (void *)(ip6 + 1);
	} else {
		return -1;
	}
	if ((void *)(udp + 1) > data_end)
		return -1;
	return bpf_ntohs(udp->dest);
}

/* Writes the first FL_HEADER_LEN bytes of `header` over the frame, or all of a shorter frame:
 * eight bytes at a time, then byte by byte where the frame ends. Constant offsets throughout, so
 * that the verifier can check each access against data_end. */
static __always_inline void restore(void *data, void *data_end, const __u8 *header)
{
#pragma unroll
	for (int i = 0; i < FL_HEADER_LEN; i += 8) {
		if (data + i + 8 > data_end) {
#pragma unroll
			for (int j = 0; j < 7; j++) {
				if (data + i + j + 1 > data_end)
					return;
				((__u8 *)data)[i + j] = header[i + j];
			}
			return;
		}
		__builtin_memcpy(data + i, header + i, 8);
	}
}

SEC("xdp")
int fl_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 key = 0;
	__u32 *next = bpf_map_lookup_elem(&fl_gen_cursor, &key);

	if (next) {
		__u32 index = *next;
		struct fl_template *t = bpf_map_lookup_elem(&fl_gen_frames, &index);

		*next = index + 1 >= fl_gen_frame_count ? 0 : index + 1;
		if (t)
			restore(data, data_end, t->header);
	}
	count(&fl_gen_counts, data_end - data);
	return XDP_TX;
}

SEC("xdp")
int fl_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 key = 0;
	__u32 *port = bpf_map_lookup_elem(&fl_sink_port, &key);
	int dst = udp_dst_port(data, data_end);

	if (!port || dst < 0 || (__u32)dst != *port)
		return XDP_PASS;
	count(&fl_sink_counts, data_end - data);
	return XDP_DROP;
}

SEC("xdp")
int fl_reflect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u8 mac[ETH_ALEN];

	if (udp_dst_port(data, data_end) < 0 || (void *)(eth + 1) > data_end)
		return XDP_PASS;
	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
	return XDP_TX;
}

SEC("xdp")
int fl_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
