// The native addon's surface, typed here so the TypeScript side states what it relies on. The
// napi-generated loader (`index.js` at the package root) is loaded on first use, so importing the
// package (for validation of the schema alone, or for types) does not need the addon.

import * as path from 'node:path';

/** One config error, named by its JSON Pointer (`""` for the whole document). */
export interface ConfigIssue {
  path: string;
  message: string;
}

export interface QueueStats {
  port: number;
  interface: string;
  queue: number;
  core: number;
  /** AF_XDP socket bound in zero-copy mode. */
  zeroCopy: boolean;
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  /** Packets handed to the kernel's slow path. */
  kernelPackets: number;
  /** Packets the kernel's slow path sent out of this queue (through the TAP device). */
  fromKernelPackets: number;
  rxBatches: number;
  /** Dropped packets by reason. */
  dropped: Record<string, number>;
  /** The kernel's counters of the queue's socket (AF_XDP: XDP_STATISTICS); empty for DPDK. */
  socket: Record<string, number>;
}

/** The XDP fast/slow split's counters on a port. */
export interface XdpPortStats {
  attachMode: 'native' | 'generic';
  /** Packets the XDP program redirected to a socket. */
  redirected: number;
  /** Fast-path packets that found no socket on their queue. */
  noSocket: number;
  /** Packets passed to the kernel, by reason. */
  passed: Record<string, number>;
}

export interface PortStats {
  port: number;
  interface: string;
  /** Present for backends split by the XDP program (af_xdp). */
  xdp?: XdpPortStats | null;
  /** The device's own counters (DPDK ethdev stats); empty otherwise. */
  device: Record<string, number>;
  /** The TAP device carrying the slow path, for backends that own the port. */
  tap?: string | null;
}

export interface StageStats {
  /** Index of the `count` stage in the config's pipeline. */
  stage: number;
  packets: number;
  bytes: number;
}

/** A plugin stage's own counters, summed over threads. */
export interface PluginStageStats {
  stage: number;
  plugin: string;
  counters: Record<string, number>;
  /** Packets dropped for each of the plugin's own drop reasons, by name. */
  drops: Record<string, number>;
}

export interface DataplaneStats {
  queues: QueueStats[];
  ports: PortStats[];
  pipeline: StageStats[];
  plugins: PluginStageStats[];
}

export interface NativeDataplane {
  /** Opens every port and starts every thread; throws with kernel context, leaving nothing half-started. */
  start(): void;
  stop(): void;
  /** Counters since start; after stop, the final counters; null before the first start. */
  stats(): DataplaneStats | null;
  /** Started and no data-plane thread has failed. */
  readonly running: boolean;
  /** Why a data-plane thread ended on its own (a panicking processor), if one did. */
  failure(): string | null;
  /**
   * Registers the `js` stage: returns one arena per data-plane thread (shared memory, laid out as
   * crates/fastlane-node/src/batch.rs says); `wake(arena)` is called when batches wait there.
   */
  onBatch(wake: (arena: number) => void, slots: number, frameSize: number): ArrayBuffer[];
}

export interface TrafficGeneratorOptions {
  /** Namespace the interface lives in. */
  netns: string;
  interface: string;
  /** The frame sent over and over. */
  frame: Buffer;
  /** CPU the generator runs on. */
  core?: number;
  /** Returned frames are counted when their UDP destination port is this one. */
  matchUdpPort: number;
  /** Packets per second; unlimited when absent. */
  ratePps?: number;
}

export interface GeneratorStats {
  sentPackets: number;
  returnedPackets: number;
  returnedBytes: number;
}

export interface NativeTrafficGenerator {
  start(): void;
  stop(): GeneratorStats;
  stats(): GeneratorStats;
}

export interface UdpFrameFields {
  srcMac: string;
  dstMac: string;
  srcIp: string;
  dstIp: string;
  srcPort: number;
  dstPort: number;
}

export interface NativePassThrough {
  detach(): void;
}

/** A table of a shared region: fixed-size keys and values, fixed capacity. */
export interface ShmTableLayout {
  name: string;
  /** Bytes of every key, 1 to 64. */
  keySize: number;
  /** Bytes of every value, 1 to 1024. */
  valueSize: number;
  /** Most records the table holds. */
  capacity: number;
}

/** A single-producer single-consumer channel of a shared region. */
export interface ShmChannelLayout {
  name: string;
  /** Largest message in bytes, 1 to 1024. */
  messageSize: number;
  /** Messages the ring holds before `send` drops. */
  capacity: number;
}

/**
 * What a shared region holds. Its objects are the tables, then the channels, each in the order
 * given; every process attaching to the region must declare the same ones in the same order.
 */
export interface ShmLayout {
  tables?: ShmTableLayout[];
  channels?: ShmChannelLayout[];
}

export interface NativeShmTable {
  /** Inserts or replaces, taking the table's writer lock on first use; true when the key was new. */
  set(key: Buffer, value: Buffer): boolean;
  get(key: Buffer): Buffer | null;
  /** Removes, taking the writer lock on first use; true when the key was present. */
  delete(key: Buffer): boolean;
  entries(): { key: Buffer; value: Buffer }[];
  readonly size: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly capacity: number;
  /** Releases the writer lock (if held) and the mapping. */
  close(): void;
}

export interface NativeShmChannel {
  /** Queues a message, becoming the producer on first use; false (a drop counted) when full. */
  send(message: Buffer): boolean;
  /** Up to `max` waiting messages, becoming the consumer on first use. */
  recvBatch(max: number): Buffer[];
  readonly drops: number;
  close(): void;
}

export interface NativeSharedRegion {
  readonly created: boolean;
  unlinkIfCreated(): boolean;
  table(name: string): NativeShmTable;
  channel(name: string): NativeShmChannel;
  close(): void;
}

export interface NativeSharedRegionClass {
  create(name: string, layout: ShmLayout, reuse?: boolean): NativeSharedRegion;
  open(name: string, layout: ShmLayout): NativeSharedRegion;
  unlink(name: string): void;
}

export interface LatencyOptions {
  /** Namespace the interface lives in. */
  netns: string;
  interface: string;
  /** IPv4/IPv6 UDP frame with at least 8 bytes of payload; each copy carries its number there. */
  frame: Buffer;
  /** Frames to send. */
  count: number;
  /** At most this many frames per second, never in a burst. */
  ratePps: number;
  /** Reflected frames are recognised by this UDP destination port. */
  matchUdpPort: number;
}

/** Round-trip times in microseconds (absent when nothing came back). */
export interface LatencyStats {
  sent: number;
  received: number;
  lost: number;
  minUs?: number;
  medianUs?: number;
  p99Us?: number;
  maxUs?: number;
}

export interface NativeBinding {
  checkConfig(json: string): ConfigIssue[];
  /** `configDir`: where relative plugin paths are resolved (the config file's directory). */
  NativeDataplane: new (configJson: string, configDir?: string) => NativeDataplane;
  TrafficGenerator: new (options: TrafficGeneratorOptions) => NativeTrafficGenerator;
  udpFrame(fields: UdpFrameFields, frameLen: number): Buffer;
  PassThrough: { attach(netns: string | null | undefined, iface: string): NativePassThrough };
  exchangeFrames(
    netns: string,
    iface: string,
    frames: Buffer[],
    matchUdpPort: number,
    expect: number,
    timeoutMs: number,
  ): Promise<Buffer[]>;
  NativeSharedRegion: NativeSharedRegionClass;
  measureLatency(options: LatencyOptions): Promise<LatencyStats>;
}

let loaded: Partial<NativeBinding> | undefined;

/** The addon's export `name`; throws a clear error when the addon lacks it. */
export function native<K extends keyof NativeBinding>(name: K): NativeBinding[K] {
  // The loader sits at the package root, one level above both src-ts/ and dist/.
  loaded ??= require(path.join(__dirname, '..', 'index.js')) as Partial<NativeBinding>;
  const value = loaded[name];
  if (value === undefined) {
    throw new Error(`the native addon does not export ${name}: rebuild it (npm run build:native)`);
  }
  return value as NativeBinding[K];
}
