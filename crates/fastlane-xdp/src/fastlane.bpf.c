// SPDX-License-Identifier: Apache-2.0
//
// Fastlane's fast/slow split. Frames that pass the filter go to the AF_XDP socket bound to the
// queue they arrived on; every other frame goes to the kernel stack. The rules are exactly those
// of `FilterTables::classify` (crates/fastlane-core/src/classify.rs), in the same order and with
// the same reasons; a test of the loader holds the two to the same answers. Each port loads its
// own instance of the program, so each has its own `filter` map: per-port filters need nothing
// more here.
//
// The same rules serve the AF_PACKET backend through two socket-buffer programs: a socket filter
// that lets only fast-path frames into the AF_PACKET sockets, and a tc ingress program that drops
// fast-path frames before the kernel stack sees them (AF_PACKET taps run before tc ingress).

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "fl_filter.h"

#define ETH_HLEN 14
#define IPV4_HLEN 20
#define IPV6_HLEN 40
#define UDP_HLEN 8
#define TCP_HLEN 20

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88a8

#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17

// `SlowReason` of fastlane-core, same values.
enum fl_slow_reason {
	FL_NO_MATCH = 0,
	FL_TRUNCATED = 1,
	FL_BAD_HEADER = 2,
	FL_FRAGMENT = 3,
	FL_VLAN = 4,
	FL_IPV6_EXTENSION = 5,
	FL_SLOW_REASONS = 6,
};

// What `classify` returns for the fast path; any other value is an `fl_slow_reason`.
#define FL_FAST (-1)

// Indexes into `counters`.
enum fl_counter {
	FL_COUNT_REDIRECTED = 0,
	FL_COUNT_NO_SOCKET = 1,
	FL_COUNT_PASSED = 2, // + fl_slow_reason
	FL_COUNTERS = FL_COUNT_PASSED + FL_SLOW_REASONS,
};


struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fl_filter);
} filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FL_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

// The masks keep every index inside its table, whatever the verifier knows of the value.
static __always_inline int bit_16(const __u64 *words, __u32 i)
{
	return (words[(i >> 6) & 1023] >> (i & 63)) & 1;
}

static __always_inline int bit_8(const __u64 *words, __u32 i)
{
	return (words[(i >> 6) & 3] >> (i & 63)) & 1;
}

static __always_inline __u32 be16_at(const __u8 *p)
{
	return ((__u32)p[0] << 8) | p[1];
}

static __always_inline __u32 be32_at(const __u8 *p)
{
	return ((__u32)p[0] << 24) | ((__u32)p[1] << 16) | ((__u32)p[2] << 8) | p[3];
}

// Rule 6 of `classify`: whether the destination of the IP packet at `l3` (whose header
// `classify` checked) is inside one of the filter's prefixes. The loops are bounded by
// FL_PREFIXES_MAX for the verifier and end at the filter's count.
static __always_inline int by_destination(const struct fl_filter *f, __u32 ether_type,
					  const __u8 *l3, void *data_end)
{
	if (ether_type == ETHERTYPE_IPV4) {
		__u32 n = f->prefixes_v4_len;
		// The second test cannot fail (the header is whole); it tells the verifier so.
		if (!n || (void *)(l3 + IPV4_HLEN) > data_end)
			return FL_NO_MATCH;
		__u32 dst = be32_at(l3 + 16);
		for (__u32 i = 0; i < FL_PREFIXES_MAX && i < n; i++) {
			if ((dst & f->prefixes_v4[i].mask) == f->prefixes_v4[i].addr)
				return FL_FAST;
		}
		return FL_NO_MATCH;
	}
	__u32 n = f->prefixes_v6_len;
	if (!n || (void *)(l3 + IPV6_HLEN) > data_end)
		return FL_NO_MATCH;
	__u32 d0 = be32_at(l3 + 24), d1 = be32_at(l3 + 28);
	__u32 d2 = be32_at(l3 + 32), d3 = be32_at(l3 + 36);
	for (__u32 i = 0; i < FL_PREFIXES_MAX && i < n; i++) {
		const struct fl_prefix6 *p = &f->prefixes_v6[i];
		if ((d0 & p->mask[0]) == p->addr[0] && (d1 & p->mask[1]) == p->addr[1] &&
		    (d2 & p->mask[2]) == p->addr[2] && (d3 & p->mask[3]) == p->addr[3])
			return FL_FAST;
	}
	return FL_NO_MATCH;
}

// `data_end` bounds the bytes that may be read; `frame_len` is the whole frame's length, which
// the IP length fields are checked against. XDP passes the packet itself (so the two agree); the
// socket-buffer programs pass a copy of the first HEADERS_MAX bytes, which holds every header
// `classify` reads.
static __always_inline int classify(const struct fl_filter *f, void *data, void *data_end,
				    __u32 frame_len)
{
	if (data + ETH_HLEN > data_end)
		return FL_TRUNCATED;
	__u32 ether_type = be16_at((const __u8 *)data + 12);
	if (bit_16(f->ether_types, ether_type))
		return FL_FAST;

	__u8 *l3 = (__u8 *)data + ETH_HLEN;
	__u8 *l4;
	__u32 proto;
	switch (ether_type) {
	case ETHERTYPE_VLAN:
	case ETHERTYPE_QINQ:
		return FL_VLAN;
	case ETHERTYPE_IPV4: {
		if ((void *)(l3 + IPV4_HLEN) > data_end)
			return FL_TRUNCATED;
		__u32 ihl = (l3[0] & 0x0f) * 4;
		if ((l3[0] >> 4) != 4 || ihl < IPV4_HLEN)
			return FL_BAD_HEADER;
		if ((void *)(l3 + ihl) > data_end)
			return FL_TRUNCATED;
		__u32 total = be16_at(l3 + 2);
		if (total < ihl)
			return FL_BAD_HEADER;
		if (ETH_HLEN + total > frame_len)
			return FL_TRUNCATED;
		if (be16_at(l3 + 6) & 0x3fff)
			return FL_FRAGMENT;
		proto = l3[9];
		l4 = l3 + ihl;
		break;
	}
	case ETHERTYPE_IPV6: {
		if ((void *)(l3 + IPV6_HLEN) > data_end)
			return FL_TRUNCATED;
		if ((l3[0] >> 4) != 6)
			return FL_BAD_HEADER;
		__u32 payload = be16_at(l3 + 4);
		if (ETH_HLEN + IPV6_HLEN + payload > frame_len)
			return FL_TRUNCATED;
		proto = l3[6];
		switch (proto) {
		case 44:
			return FL_FRAGMENT;
		case 0:
		case 43:
		case 60:
		case 135:
		case 139:
		case 140:
			return FL_IPV6_EXTENSION;
		}
		l4 = l3 + IPV6_HLEN;
		break;
	}
	default:
		return FL_NO_MATCH;
	}

	if (bit_8(f->ip_protocols, proto))
		return FL_FAST;
	const __u64 *ports;
	if (proto == IPPROTO_UDP_) {
		if ((void *)(l4 + UDP_HLEN) > data_end)
			return FL_TRUNCATED;
		ports = f->udp_ports;
	} else if (proto == IPPROTO_TCP_) {
		if ((void *)(l4 + TCP_HLEN) > data_end)
			return FL_TRUNCATED;
		ports = f->tcp_ports;
	} else {
		return by_destination(f, ether_type, l3, data_end);
	}
	if (bit_16(ports, be16_at(l4 + 2)))
		return FL_FAST;
	return by_destination(f, ether_type, l3, data_end);
}

static __always_inline void count(__u32 index)
{
	__u64 *n = bpf_map_lookup_elem(&counters, &index);
	if (n)
		*n += 1; // per CPU: no other writer
}

SEC("xdp")
int fastlane(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	const struct fl_filter *f = bpf_map_lookup_elem(&filter, &zero);
	if (!f)
		return XDP_PASS; // cannot happen: an array map always has its entry

	int class = classify(f, data, data_end, data_end - data);
	if (class == FL_FAST) {
		// The low bits of the flags are the action when the queue has no socket.
		long action = bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
		count(action == XDP_REDIRECT ? FL_COUNT_REDIRECTED : FL_COUNT_NO_SOCKET);
		return action;
	}
	count(FL_COUNT_PASSED + class);
	return XDP_PASS;
}

// Room for the longest header chain `classify` reads: Ethernet, IPv4 with options, TCP.
#define HEADERS_MAX 128

// Classifies the frame of a socket buffer whose data starts at the Ethernet header: so it is for
// a socket filter on an AF_PACKET SOCK_RAW socket and for tc, and so it is for BPF_PROG_TEST_RUN
// of a tc program.
static __always_inline int classify_skb(struct __sk_buff *skb)
{
	__u32 zero = 0;
	const struct fl_filter *f = bpf_map_lookup_elem(&filter, &zero);
	if (!f)
		return FL_NO_MATCH; // cannot happen: an array map always has its entry

	__u8 headers[HEADERS_MAX] = {};
	__u32 frame_len = skb->len;
	if (frame_len < ETH_HLEN)
		return FL_TRUNCATED;
	// Before AF_PACKET taps and tc ingress, the kernel moves the outer VLAN tag out of the frame
	// into metadata: decide as `classify` does on the tagged frame (rule 2).
	if (skb->vlan_present)
		return bit_16(f->ether_types, bpf_ntohs((__u16)skb->vlan_proto)) ? FL_FAST : FL_VLAN;
	__u32 copied = frame_len < HEADERS_MAX ? frame_len : HEADERS_MAX;
	if (bpf_skb_load_bytes(skb, 0, headers, copied) < 0)
		return FL_TRUNCATED; // cannot happen: `copied` bytes are in the frame
	return classify(f, headers, headers + copied, frame_len);
}

// Lets only fast-path frames into the socket it is attached to (the return value is how many
// bytes of the frame to keep; 0 refuses it).
SEC("socket")
int fastlane_socket(struct __sk_buff *skb)
{
	return classify_skb(skb) == FL_FAST ? skb->len : 0;
}

// Drops fast-path frames on ingress, after the AF_PACKET taps took their copy, so that the
// kernel stack never answers them. Other frames go on to any later tc program, then the stack.
// aya 0.13 knows the tc section by its older name, "classifier".
SEC("classifier")
int fastlane_tc(struct __sk_buff *skb)
{
	return classify_skb(skb) == FL_FAST ? TC_ACT_SHOT : TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Apache-2.0";
