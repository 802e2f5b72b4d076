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
  exchangeFrames(
    netns: string,
    iface: string,
    frames: Buffer[],
    matchUdpPort: number,
    expect: number,
    timeoutMs: number,
  ): Promise<Buffer[]>;
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
