// Generated from config/upf.schema.json by `npm run generate`; do not edit.
import type {
  AfPacketConfig,
  AfXdpConfig,
  DpdkConfig,
  FastlaneConfig,
  PortConfig,
  ThreadsConfig
} from 'fastlane-dataplane';

/**
 * An IPv4 or IPv6 address with prefix length, `10.45.0.0/16` or `2001:db8::/32`.
 */
export type Cidr = string;

/**
 * A Fastlane config whose ports, filters and pipeline are derived from its `upf` section by `fastlane upf run`: the backend and its options, threads and namespace as in any Fastlane config, plus the UPF's interfaces, addresses, UE pools and table sizes. Unknown keys are errors.
 */
export interface FastlaneUPFConfig {
  /**
   * Lets editors find the schema; ignored.
   */
  $schema?: string;
  name?: NonNullable<FastlaneConfig['name']>;
  backend: NonNullable<FastlaneConfig['backend']>;
  netns?: NonNullable<FastlaneConfig['netns']>;
  deployment?: NonNullable<FastlaneConfig['deployment']>;
  threads?: ThreadsConfig;
  af_xdp?: AfXdpConfig;
  af_packet?: AfPacketConfig;
  dpdk?: DpdkConfig;
  upf: UpfSection;
}
/**
 * The UPF: its N3 (radio side, GTP-U) and N6 (data network) interfaces, the UE address pools it serves, and the sizes of its rule tables in shared memory.
 */
export interface UpfSection {
  /**
   * The UPF's PFCP Node ID: an FQDN or an IP address.
   */
  node_id: string;
  n3: N3Interface;
  n6: N6Interface;
  /**
   * The UE address pools (CIDR, IPv4 and/or IPv6, e.g. `10.45.0.0/16`, `2001:db8:45::/48`): everything the N6 port receives for them is the fast path's; at most 64 per family.
   */
  ue_pools: Cidr[];
  capacity?: UpfCapacity;
  pfcp?: PfcpEndpoint;
  /**
   * Name of the shared-memory region (under /dev/shm) holding the rules; default `fastlane-upf-<pid>`. Created at start and removed at stop.
   */
  region?: string;
}
/**
 * The radio side: GTP-U from and to the gNBs.
 */
export interface N3Interface {
  interface: NonNullable<PortConfig['interface']>;
  queues: NonNullable<PortConfig['queues']>;
  /**
   * The UPF's N3 addresses in CIDR notation (`192.0.2.2/24`, `2001:db8:3::2/64`), at most one per family: the GTP-U endpoint (the local F-TEID's address, the source of downlink tunnels). They stay on the interface (af_xdp, af_packet) or move to its TAP twin (dpdk), so the kernel answers ARP, ping and TCP for them.
   */
  addresses: Cidr[];
  /**
   * UDP port of GTP-U (TS 29.281: 2152).
   */
  gtpu_port?: number;
}
/**
 * The data-network side: plain IP to and from the UEs' peers, through the gateways the kernel's routes name.
 */
export interface N6Interface {
  interface: NonNullable<PortConfig['interface']>;
  queues: NonNullable<PortConfig['queues']>;
  /**
   * The UPF's own N6 addresses in CIDR notation, at most one per family; as for N3, the kernel answers for them.
   */
  addresses?: Cidr[];
}
/**
 * How many records each table of the shared-memory region holds (the region is sized from these).
 */
export interface UpfCapacity {
  sessions?: number;
  pdrs?: number;
  fars?: number;
  qers?: number;
  urrs?: number;
  /**
   * Next hops (gNBs and N6 gateways) whose MAC the kernel resolved.
   */
  next_hops?: number;
}
/**
 * Where the PFCP node listens for the SMF (UDP), in the network namespace the process runs in (not `netns`: N4 is often a management network); `fastlane upf sessions` asks it on /run/fastlane/upf-<name>.sock. Absent: no PFCP node is started (sessions come through the UpfSessions API only).
 */
export interface PfcpEndpoint {
  /**
   * IP address to bind, typically the N3 or a management address.
   */
  address: string;
  port?: number;
}
