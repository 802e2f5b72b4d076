// Test traffic, made and counted natively: a generator that sends one frame over and over (or cycles
// over many that differ in their first 128 bytes: 10,000 subscribers' tunnel ids or addresses, at
// no extra cost per frame) and counts what comes back, on its own interface or on the one a
// forwarder sends them out of; a UDP frame builder, a send-and-collect exchange for functional tests, and a
// round-trip latency probe.

import {
  native,
  type GeneratorStats,
  type LatencyOptions,
  type LatencyStats,
  type NativeTrafficGenerator,
  type TrafficGeneratorOptions,
  type UdpFrameFields,
} from './native';

export type { GeneratorStats, LatencyOptions, LatencyStats, TrafficGeneratorOptions, UdpFrameFields };

export class TrafficGenerator {
  readonly #native: NativeTrafficGenerator;
  #running = false;

  constructor(options: TrafficGeneratorOptions) {
    this.#native = new (native('TrafficGenerator'))(options);
  }

  get running(): boolean {
    return this.#running;
  }

  start(): void {
    this.#native.start();
    this.#running = true;
  }

  /** Stops sending and returns the final counts. */
  stop(): GeneratorStats {
    this.#running = false;
    return this.#native.stop();
  }

  /** Counts so far. */
  stats(): GeneratorStats {
    return this.#native.stats();
  }
}

/**
 * Attaches a native XDP program that passes every frame on to `iface` in `netns`, until
 * `detach()`. A veth end delivers frames its peer sends through the XDP path (the generator's) only
 * while it has a native XDP program: forwarders that attach none (AF_PACKET) need this one.
 */
export function attachPassThrough(netns: string, iface: string): { detach(): void } {
  return native('PassThrough').attach(netns, iface);
}

/** An Ethernet/IPv4/UDP frame of `frameLen` bytes (without FCS), checksums filled in. */
export function udpFrame(fields: UdpFrameFields, frameLen: number): Buffer {
  return native('udpFrame')(fields, frameLen);
}

/**
 * Sends `frames` out of `iface` in `netns` and collects up to `expect` frames coming back with UDP
 * destination port `matchUdpPort`, waiting at most `timeoutMs`.
 */
export function exchangeFrames(
  netns: string,
  iface: string,
  frames: Buffer[],
  matchUdpPort: number,
  expect: number,
  timeoutMs: number,
): Promise<Buffer[]> {
  return native('exchangeFrames')(netns, iface, frames, matchUdpPort, expect, timeoutMs);
}

/**
 * Round-trip latency through whatever reflects frames on the far side of `options.interface`:
 * sends `count` numbered copies of `frame` at no more than `ratePps` and times each reflection
 * from just before its send to the kernel's receive timestamp. Lost frames are counted; late
 * ones get one second after the last send.
 */
export function measureLatency(options: LatencyOptions): Promise<LatencyStats> {
  return native('measureLatency')(options);
}
