// XDP program for xsk_macswap: IPv4 UDP to one destination port goes to the
// AF_XDP socket of the receiving queue; everything else stays with the kernel.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

// Set by the loader before load (network byte order); the verifier sees it as a constant.
volatile const __be16 udp_dst_port_be = 0;

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 1); // resized by the loader to cover its queue
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

#define IP_FRAGMENT_MASK 0x3fff // MF flag | fragment offset

SEC("xdp")
int xsk_redirect_udp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct udphdr *udp;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_UDP || ip->ihl < 5)
		return XDP_PASS;
	// Only a first (or unfragmented) datagram carries the UDP header.
	if (ip->frag_off & bpf_htons(IP_FRAGMENT_MASK))
		return XDP_PASS;
	udp = (void *)ip + ip->ihl * 4;
	if ((void *)(udp + 1) > data_end || udp->dest != udp_dst_port_be)
		return XDP_PASS;
	// No socket at this queue index: the frame falls back to the kernel.
	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
