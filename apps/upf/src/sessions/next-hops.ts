// The next-hop table: for each address the fast path sends to (a neighbour, a gNB, a default
// gateway keyed by 0.0.0.0 or ::), the MAC and port the kernel resolved, written by the slow
// path's neighbour watcher. One writer: the process holding this table's writer lock.

import type { SharedRegion, SharedTable } from 'fastlane-dataplane';

import { CONSTANTS } from '../generated/layout';

// A plain copy: the generated module's exports may be getters (as a transpiler makes them).
const C = { ...CONSTANTS };
import { formatMac, parseIpv4, parseIpv6, parseMac } from './addresses';
import { nextHopKey, nextHopRecord, readNextHopRecord } from './records';

export interface NextHop {
  mac: string;
  /** The Fastlane port it is reached through. */
  port: number;
  /** The kernel's interface index. */
  ifindex: number;
  state: 'reachable' | 'stale' | 'incomplete' | 'failed';
}

const STATES: Record<NextHop['state'], number> = {
  incomplete: C.NEXT_HOP_INCOMPLETE,
  reachable: C.NEXT_HOP_REACHABLE,
  stale: C.NEXT_HOP_STALE,
  failed: C.NEXT_HOP_FAILED,
};
const STATE_NAMES = new Map(Object.entries(STATES).map(([k, v]) => [v, k as NextHop['state']]));

function key(address: string): Buffer {
  const v4 = parseIpv4(address);
  if (v4 !== undefined) return nextHopKey(4, v4);
  const v6 = parseIpv6(address);
  if (v6 !== undefined) return nextHopKey(6, v6);
  throw new RangeError(`next hop ${JSON.stringify(address)}: not an IPv4 or IPv6 address`);
}

export class UpfNextHops {
  readonly #table: SharedTable;

  constructor(region: SharedRegion) {
    this.#table = region.table('next_hops');
  }

  /** Writes (or replaces) the next hop of `address`; throws ERR_FASTLANE_SHM (full) like a table. */
  set(address: string, hop: NextHop): void {
    const mac = parseMac(hop.mac);
    if (mac === undefined) {
      throw new RangeError(`next hop ${address}: mac ${JSON.stringify(hop.mac)} is not aa:bb:cc:dd:ee:ff`);
    }
    const state = STATES[hop.state];
    if (state === undefined) {
      throw new RangeError(`next hop ${address}: state ${JSON.stringify(hop.state)} is not one of ${Object.keys(STATES).join(', ')}`);
    }
    if (!Number.isInteger(hop.port) || hop.port < 0 || hop.port > 65535) {
      throw new RangeError(`next hop ${address}: port ${hop.port} is not 0 to 65535`);
    }
    if (!Number.isInteger(hop.ifindex) || hop.ifindex < 0 || hop.ifindex > 0xffff_ffff) {
      throw new RangeError(`next hop ${address}: ifindex ${hop.ifindex} is not an interface index`);
    }
    this.#table.set(key(address), nextHopRecord(mac, hop.port, state, hop.ifindex));
  }

  get(address: string): NextHop | undefined {
    const value = this.#table.get(key(address));
    if (value === undefined) return undefined;
    const r = readNextHopRecord(value);
    return { mac: formatMac(r.mac), port: r.port, ifindex: r.ifindex, state: STATE_NAMES.get(r.state) ?? 'failed' };
  }

  /** True when the address had a next hop. */
  delete(address: string): boolean {
    return this.#table.delete(key(address));
  }

  get size(): number {
    return this.#table.size;
  }

  /** Gives up the table's writer lock. */
  close(): void {
    this.#table.close();
  }
}
