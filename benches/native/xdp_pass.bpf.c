// Native XDP_PASS for a veth end that must receive frames sent through the
// XDP path (XDP_TX, XDP_REDIRECT): veth drops them unless a native program is attached.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
