// SPDX-License-Identifier: Apache-2.0
//
// The filter the split programs read from their `filter` map: byte for byte `FilterTables` of
// fastlane-core, one bit per port, EtherType and IP protocol. A test of fastlane-xdp
// (tests/layout.rs) compiles this header against the Rust type's size and offsets.

#ifndef FASTLANE_FL_FILTER_H
#define FASTLANE_FL_FILTER_H

#include <linux/types.h>

struct fl_filter {
	__u64 udp_ports[1024];
	__u64 tcp_ports[1024];
	__u64 ether_types[1024];
	__u64 ip_protocols[4];
};

#endif
