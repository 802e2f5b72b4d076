// The config document, as `config/fastlane.schema.json` describes it. Keys keep the file's
// snake_case so a typed object is written to disk unchanged.

/** The packet I/O mechanism. */
export type Backend = 'af_xdp';

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

export interface ThreadsConfig {
  model?: 'run_to_completion';
  /** Packets per receive burst, 1 to 1024. */
  batch_size?: number;
}

/** Processors that take no options. */
export type SimpleProcessor = 'macswap' | 'drop' | 'count';

/** Forwards each port's packets out of its peer, both ways; ports are indexes into `ports`. */
export interface L2fwdProcessor {
  type: 'l2fwd';
  pairs: Array<[number, number]>;
}

export type ProcessorSpec = SimpleProcessor | { type: SimpleProcessor } | L2fwdProcessor;

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
  threads?: ThreadsConfig;
  /** Processors run in order on each batch. */
  pipeline: ProcessorSpec[];
}
