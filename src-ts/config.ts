// The config document, as `config/fastlane.schema.json` describes it. Keys keep the file's
// snake_case so a typed object is written to disk unchanged.

/** The packet I/O mechanism. */
export type Backend = 'af_xdp' | 'dpdk' | 'af_packet';

export interface QueueConfig {
  /** The interface's RX/TX queue index. */
  id: number;
  /** CPU the queue's thread is pinned to; queues on one core share one thread. */
  core: number;
}

export interface PortConfig {
  /** Interface name, 1 to 15 characters. */
  interface: string;
  queues: QueueConfig[];
  /** The kernel's view of the port for backends that take it whole (dpdk). */
  tap?: TapConfig;
  /**
   * How a processor's Kernel verdict reaches the kernel on af_xdp and af_packet: "tap" through a
   * TAP twin of the port; without it such a verdict is dropped as no_slow_path.
   */
  punt?: 'tap';
}

/** The TAP device carrying a port's slow path when the backend owns the port. */
export interface TapConfig {
  /** Default: `fl-` and the interface name, cut to 15 characters. */
  name?: string;
  /** `aa:bb:cc:dd:ee:ff`; default: the port's MAC. */
  mac?: string;
  /** CIDR addresses, e.g. `10.0.0.2/24`, `fd00::2/64`. */
  addresses?: string[];
  mtu?: number;
}

/** A destination port, or an inclusive range of them. */
export type PortMatch = number | { from: number; to: number };

/** What goes to the fast path; everything else goes to the kernel. */
export interface FilterConfig {
  udp_ports?: PortMatch[];
  tcp_ports?: PortMatch[];
  /** IPv4 protocol / IPv6 next-header numbers. */
  ip_protocols?: number[];
  /** Outer EtherTypes (0x8100 takes every VLAN-tagged frame). */
  ether_types?: number[];
}

export type BindMode = 'auto' | 'copy' | 'zero_copy';
export type AttachMode = 'auto' | 'native' | 'generic';

export interface BusyPollConfig {
  timeout_us?: number;
  budget?: number;
  prefer?: boolean;
}

export interface AfXdpConfig {
  bind_mode?: BindMode;
  attach_mode?: AttachMode;
  need_wakeup?: boolean;
  /** Present: busy-poll the sockets. */
  busy_poll?: BusyPollConfig;
  /** Ring and UMEM sizes are powers of two. */
  rx_ring_size?: number;
  tx_ring_size?: number;
  fill_ring_size?: number;
  completion_ring_size?: number;
  frame_size?: 2048 | 4096;
  /** UMEM frames per thread, shared by the sockets that thread serves. */
  umem_frames?: number;
  /** Bytes reserved in front of each received packet for headers a processor prepends. */
  frame_headroom?: number;
}

export interface DpdkConfig {
  /** The DPDK device of each port, keyed by the port's interface: a PCI address or a vdev string. */
  devices?: Record<string, string>;
  memory_mb?: number;
  /** false passes --no-huge. */
  huge_pages?: boolean;
  huge_dir?: string;
  /** --in-memory: no files left in hugetlbfs or /var/run. */
  in_memory?: boolean;
  file_prefix?: string;
  mbufs?: number;
  mbuf_cache?: number;
  rx_ring_size?: number;
  tx_ring_size?: number;
  /** Extra EAL arguments, passed last. */
  eal_args?: string[];
}

export interface AfPacketConfig {
  /** TPACKET_V3 block size, a power of two of at least 4096. */
  block_size?: number;
  block_count?: number;
  frame_size?: number;
  block_timeout_ms?: number;
  fanout?: 'hash' | 'cpu' | 'load_balance' | 'queue_mapping';
  /** Keep the kernel stack from also handling fast-path packets (needs CAP_BPF and CAP_NET_ADMIN). */
  suppress_kernel?: boolean;
  /** Bytes of room in front of each received frame for headers a processor prepends (default 256). */
  headroom?: number;
}

export interface ThreadsConfig {
  model?: 'run_to_completion' | 'master_worker';
  /** Packets per receive burst, 1 to 1024. */
  batch_size?: number;
  /** master_worker: the cores of the worker threads. */
  worker_cores?: number[];
  /** master_worker: batches each I/O-to-worker ring holds (a power of two). */
  worker_ring_size?: number;
}

/** Processors that take no options. */
export type SimpleProcessor = 'macswap' | 'drop' | 'count';

/** A processor compiled as a Rust plugin (`fastlane new-plugin`). */
export interface PluginProcessor {
  type: 'plugin';
  /** The plugin's shared library; relative paths are relative to the config file. */
  path: string;
  /** Handed to the plugin's constructor. */
  config?: unknown;
}

/** Forwards each port's packets out of its peer, both ways; ports are indexes into `ports`. */
export interface L2fwdProcessor {
  type: 'l2fwd';
  pairs: Array<[number, number]>;
}

export type ProcessorSpec =
  | SimpleProcessor
  | { type: SimpleProcessor | 'js' }
  | L2fwdProcessor
  | PluginProcessor;

export interface FastlaneConfig {
  /** Lets editors find the schema; ignored. */
  $schema?: string;
  /** A label for logs and metrics. */
  name?: string;
  backend: Backend;
  /** Network namespace to open the ports in: a name under /run/netns or an absolute path. */
  netns?: string;
  ports: PortConfig[];
  filter?: FilterConfig;
  af_xdp?: AfXdpConfig;
  dpdk?: DpdkConfig;
  af_packet?: AfPacketConfig;
  threads?: ThreadsConfig;
  /** Processors run in order on each batch. */
  pipeline: ProcessorSpec[];
}
