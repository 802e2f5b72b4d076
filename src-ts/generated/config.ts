// Generated from config/fastlane.schema.json by `npm run generate`; do not edit.

/**
 * How PACKET_FANOUT spreads a port's packets over its queues; `hash`: by flow hash, which keeps each flow on one queue.
 */
export type FanoutMode = 'hash' | 'cpu' | 'load_balance' | 'queue_mapping';
/**
 * `auto`: native (driver) XDP where supported, generic (skb) otherwise.
 */
export type AttachMode = 'auto' | 'native' | 'generic';
/**
 * `auto`: zero-copy where the driver supports it, copy otherwise (and say so).
 */
export type BindMode = 'auto' | 'copy' | 'zero_copy';
/**
 * Who creates the ports' descriptors. `standalone`: this process does (it needs CAP_NET_RAW, CAP_NET_ADMIN, CAP_BPF or root). `device_plugin`: Fastlane's Kubernetes device plugin does, and hands them over a Unix socket, so the process needs no capability at all (af_xdp and af_packet only).
 */
export type DeploymentMode = 'standalone' | 'device_plugin';
/**
 * A destination port, or an inclusive range of them.
 */
export type PortMatch =
  | number
  | {
      from: number;
      to: number;
    };
/**
 * One stage of the processor chain: a bare name (`"macswap"`) or an object with a `type`.
 */
export type ProcessorSpec = SimpleProcessor | ProcessorObject;
/**
 * Processors that take no options.
 */
export type SimpleProcessor = 'macswap' | 'drop' | 'count';
/**
 * A processor as an object, told apart by its `type`.
 */
export type ProcessorObject =
  | {
      type: 'macswap';
    }
  | {
      type: 'drop';
    }
  | {
      type: 'count';
    }
  | {
      pairs: [number, number][];
      type: 'l2fwd';
    }
  | {
      config?: unknown;
      /**
       * The plugin's shared library; relative paths are relative to the config file.
       */
      path: string;
      type: 'plugin';
    }
  | {
      type: 'js';
    };
/**
 * `run_to_completion`: each queue's thread receives, processes and transmits its own queues' packets. `master_worker`: I/O threads (one per queue core) hand batches to worker threads chosen by flow hash, and transmit what comes back.
 */
export type ThreadModel = 'run_to_completion' | 'master_worker';

/**
 * One file describes the packet I/O backend, the ports and queues, the fast-path filter and the processor pipeline. Unknown keys are errors.
 */
export interface FastlaneDataPlaneConfig {
  /**
   * Lets editors find the schema; ignored.
   */
  $schema?: string;
  af_packet?: AfPacketConfig;
  af_xdp?: AfXdpConfig;
  /**
   * The packet I/O mechanism. Changing only this line moves the application between mechanisms; each has its own options section, ignored by the others.
   */
  backend: 'af_xdp' | 'dpdk' | 'af_packet';
  deployment?: DeploymentConfig;
  dpdk?: DpdkConfig;
  filter?: FilterConfig;
  /**
   * A label for logs and metrics.
   */
  name?: string;
  /**
   * Network namespace to open the ports in: a name under /run/netns or an absolute path.
   */
  netns?: string;
  /**
   * Processors run in order on each batch; a packet dropped or handed to the kernel is not seen by later ones, and a packet left without a verdict is dropped (reason no_verdict).
   */
  pipeline: ProcessorSpec[];
  ports: PortConfig[];
  threads?: ThreadsConfig;
}
/**
 * The `af_packet` backend's options.
 */
export interface AfPacketConfig {
  block_count?: number;
  /**
   * TPACKET_V3 block size in bytes (a power of two, at least a page).
   */
  block_size?: number;
  /**
   * How long the kernel waits before handing over a partly filled block.
   */
  block_timeout_ms?: number;
  fanout?: FanoutMode;
  /**
   * Largest frame the ring holds.
   */
  frame_size?: number;
  /**
   * Bytes of room in front of each received frame for headers a processor prepends; the ring's own header gives about 80 whatever this says, more costs ring space per frame.
   */
  headroom?: number;
  /**
   * Keep the kernel stack from also handling fast-path packets (a tc ingress filter that drops them after AF_PACKET has seen them).
   */
  suppress_kernel?: boolean;
}
/**
 * The `af_xdp` backend's options. Ring and UMEM sizes are powers of two.
 */
export interface AfXdpConfig {
  attach_mode?: AttachMode;
  bind_mode?: BindMode;
  busy_poll?: BusyPollConfig;
  completion_ring_size?: number;
  fill_ring_size?: number;
  /**
   * Bytes reserved in front of each received packet for headers a processor prepends.
   */
  frame_headroom?: number;
  /**
   * Bytes per UMEM frame: 2048 or 4096.
   */
  frame_size?: 2048 | 4096;
  need_wakeup?: boolean;
  rx_ring_size?: number;
  tx_ring_size?: number;
  /**
   * UMEM frames per thread, shared by the sockets that thread serves.
   */
  umem_frames?: number;
}
/**
 * Present: busy-poll the sockets (SO_BUSY_POLL; SO_PREFER_BUSY_POLL and SO_BUSY_POLL_BUDGET need CAP_NET_ADMIN).
 */
export interface BusyPollConfig {
  /**
   * SO_BUSY_POLL_BUDGET: packets per busy-poll round.
   */
  budget?: number;
  /**
   * SO_PREFER_BUSY_POLL.
   */
  prefer?: boolean;
  /**
   * SO_BUSY_POLL, in microseconds.
   */
  timeout_us?: number;
}
/**
 * How the data plane gets its descriptors (see `mode`).
 */
export interface DeploymentConfig {
  mode?: DeploymentMode;
  /**
   * device_plugin: the plugin's handoff socket; default the environment's `FASTLANE_DEVICE_PLUGIN_SOCKET`, which the plugin's Allocate sets.
   */
  socket?: string;
  /**
   * device_plugin: the allocation's one-time token; default the environment's `FASTLANE_TOKEN`.
   */
  token?: string;
}
/**
 * The `dpdk` backend's options (the EAL's and the ports').
 */
export interface DpdkConfig {
  /**
   * The DPDK device of each port, keyed by the port's `interface`: a PCI address (`0000:3b:00.0`) or a vdev string (`net_af_xdp0,iface=eth0`).
   */
  devices?: {
    [k: string]: string;
  };
  /**
   * Extra EAL arguments, passed last.
   */
  eal_args?: string[];
  /**
   * `--file-prefix`, so that several instances coexist; default `fastlane-<pid>`.
   */
  file_prefix?: string;
  /**
   * hugetlbfs mount to use; default: EAL's choice.
   */
  huge_dir?: string;
  /**
   * Back memory with hugepages (`false` passes `--no-huge`).
   */
  huge_pages?: boolean;
  /**
   * `--in-memory`: no files left in hugetlbfs or /var/run.
   */
  in_memory?: boolean;
  mbuf_cache?: number;
  mbufs?: number;
  /**
   * EAL memory in MiB.
   */
  memory_mb?: number;
  rx_ring_size?: number;
  tx_ring_size?: number;
}
/**
 * What goes to the fast path; everything else goes to the kernel. The same meaning for every backend. A frame is fast if it matches any one of the lists (an OR of them all); the lists are looked at only in frames whose headers are sane (see `classify.rs` for the exact rules). A port's own `filter` (`ports[].filter`) replaces the top-level one for that port.
 */
export interface FilterConfig {
  /**
   * Destination prefixes in CIDR notation (`10.45.0.0/16`, `2001:db8:1::/48`, `10.0.0.1/32`): an IPv4 or IPv6 packet whose destination address is inside one goes to the fast path, whatever its protocol. Host bits must be zero; at most 64 IPv4 and 64 IPv6 prefixes.
   */
  dst_prefixes?: string[];
  /**
   * Outer EtherTypes (33024 = 0x8100 takes every VLAN-tagged frame).
   */
  ether_types?: number[];
  /**
   * IPv4 protocol / IPv6 next-header numbers.
   */
  ip_protocols?: number[];
  /**
   * TCP destination ports and inclusive ranges.
   */
  tcp_ports?: PortMatch[];
  /**
   * UDP destination ports and inclusive ranges.
   */
  udp_ports?: PortMatch[];
}
export interface PortConfig {
  filter?: FilterConfig;
  /**
   * The kernel's name of the interface.
   */
  interface: string;
  /**
   * How a processor's `Kernel` verdict reaches the kernel on backends that leave the interface to it (af_xdp, af_packet with its BPF split). `"tap"`: through a TAP twin of the port (the port's MAC and MTU; the `tap` section's name, MAC and MTU if given, not its addresses, which stay on the interface), so the kernel answers as if the packet had arrived on the interface; what the kernel sends on the TAP goes out of the port. Without it such a verdict is a drop counted as `no_slow_path`. DPDK always has its TAP.
   */
  punt?: 'tap';
  queues: QueueConfig[];
  tap?: TapConfig;
}
export interface QueueConfig {
  /**
   * CPU the queue's thread is pinned to; queues on one core share one thread.
   */
  core: number;
  /**
   * The interface's RX/TX queue index.
   */
  id: number;
}
/**
 * The kernel's view of the port: DPDK's TAP twin, or the punt TAP (`punt`) of af_xdp and af_packet, which takes its name, MAC and MTU from here but not its addresses.
 */
export interface TapConfig {
  /**
   * Addresses in CIDR notation (`10.0.0.2/24`, `fd00::2/64`).
   */
  addresses?: string[];
  /**
   * MAC address `aa:bb:cc:dd:ee:ff`; default the port's own.
   */
  mac?: string;
  mtu?: number;
  /**
   * Device name; default `fl-` followed by the interface name, cut to 15 characters.
   */
  name?: string;
}
/**
 * How the data-plane threads are arranged.
 */
export interface ThreadsConfig {
  /**
   * Packets per receive burst.
   */
  batch_size?: number;
  model?: ThreadModel;
  /**
   * master_worker: the cores of the worker threads.
   */
  worker_cores?: number[];
  /**
   * master_worker: batches each I/O-to-worker ring holds (a power of two).
   */
  worker_ring_size?: number;
}
