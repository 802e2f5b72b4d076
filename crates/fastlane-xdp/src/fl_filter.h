// SPDX-License-Identifier: Apache-2.0
//
// The filter the split programs read from their `filter` map: byte for byte `FilterTables` of
// fastlane-core, one bit per port, EtherType and IP protocol, then the destination prefixes
// (addresses and masks as numbers read big-endian from the packet, the first `*_len` entries in
// use). A test of fastlane-xdp
// (tests/layout.rs) compiles this header against the Rust type's size and offsets.

#ifndef FASTLANE_FL_FILTER_H
#define FASTLANE_FL_FILTER_H

#include <linux/types.h>

// `PREFIXES_MAX` of fastlane-core: the most prefixes of one family a filter holds.
#define FL_PREFIXES_MAX 64

struct fl_prefix4 {
	__u32 addr;
	__u32 mask;
};

struct fl_prefix6 {
	__u32 addr[4];
	__u32 mask[4];
};

struct fl_filter {
	__u64 udp_ports[1024];
	__u64 tcp_ports[1024];
	__u64 ether_types[1024];
	__u64 ip_protocols[4];
	__u32 prefixes_v4_len;
	__u32 prefixes_v6_len;
	struct fl_prefix4 prefixes_v4[FL_PREFIXES_MAX];
	struct fl_prefix6 prefixes_v6[FL_PREFIXES_MAX];
};

#endif
