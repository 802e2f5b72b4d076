// The UPF's next hops, from the kernel: every neighbour the kernel knows on the N3 and N6 sides
// is mirrored into the rules' next-hop table (keyed by its address), and each destination the
// fast path sends to (a gNB's F-TEID address; the default gateway, keyed by the unspecified
// address 0.0.0.0 or ::) gets the MAC of the next hop the kernel's routes choose for it. An address the kernel has not resolved yet is asked
// for (ARP / neighbour solicitation); until it answers the fast path hands such packets to the
// kernel. Nothing here is per packet.
//
// Asking is a netlink request (RTM_NEWNEIGH with NTF_USE), which needs CAP_NET_ADMIN. An
// unprivileged UPF (a pod in device_plugin mode) is refused it; it then sends an empty UDP
// datagram to the address instead (port 9, discard): the kernel resolves the next hop to
// transmit it, which is what was asked for, and needs no capability.

import * as dgram from 'node:dgram';

import type { NeighbourEntry, NeighbourWatcher, RouteInfo } from 'fastlane-dataplane';

/** The keys of the default gateways in the next-hop table: the unspecified address of each family. */
export const DEFAULT_GATEWAY_KEYS = ['0.0.0.0', '::'] as const;
const DEFAULTS = new Set<string>(DEFAULT_GATEWAY_KEYS);

/** A next hop as the rules' table holds it. */
export interface NextHop {
  mac: string;
  /** The Fastlane port it is reached through. */
  port: number;
  /** The kernel's interface index (of the kernel-side interface: the TAP twin for DPDK). */
  ifindex: number;
  state: 'reachable' | 'stale' | 'incomplete' | 'failed';
}

/** Where next hops are written: the rules' next-hop table. */
export interface NextHopTable {
  set(address: string, hop: NextHop): void;
  delete(address: string): void;
}

/** A UPF side: its Fastlane port and the kernel's interface for it. */
export interface Side {
  port: number;
  /** The interface the kernel's neighbours and routes for this side are on. */
  kernelInterface: string;
}

const NUD_INCOMPLETE = 0x01;
const NUD_STALE = 0x04 | 0x08 | 0x10; // stale, delay, probe: usable while the kernel confirms
const NUD_FAILED = 0x20;

function stateOf(entry: NeighbourEntry): NextHop['state'] {
  if (entry.usable) {
    return (entry.state & NUD_STALE) !== 0 ? 'stale' : 'reachable';
  }
  return (entry.state & (NUD_FAILED | NUD_INCOMPLETE)) === NUD_FAILED ? 'failed' : 'incomplete';
}

/** The discard port (RFC 863): where the datagrams that make the kernel resolve a next hop go. */
const DISCARD_PORT = 9;

/** How often a next hop the kernel could not resolve is asked for again. */
const RETRY_MS = 1000;

interface Wanted {
  /** Holders of this destination (sessions' FARs, the gateway). */
  count: number;
  /** The next hop the kernel's route gives, and its interface; undefined while no route. */
  via: { address: string; ifindex: number } | undefined;
}

export class NextHops {
  readonly #ports = new Map<number, number>(); // ifindex → port
  readonly #wanted = new Map<string, Wanted>();
  readonly #retry: NodeJS.Timeout;
  readonly #listeners: { snapshot: (entries: NeighbourEntry[]) => void; change: (entry: NeighbourEntry, removed: boolean) => void; routes: () => void };
  /** Set once the kernel refused a resolution request: ask by sending instead (see the top). */
  #unprivileged = false;
  /** Problems seen (no route, resolution refused), for the log; the newest last. */
  readonly problems: string[] = [];

  constructor(
    readonly watcher: NeighbourWatcher,
    readonly table: NextHopTable,
    sides: Side[],
  ) {
    for (const side of sides) {
      this.#ports.set(watcher.interfaceIndex(side.kernelInterface), side.port);
    }
    const mirror = (entry: NeighbourEntry, removed: boolean): void => this.#neighbour(entry, removed);
    this.#listeners = {
      snapshot: (entries) => entries.forEach((e) => mirror(e, false)),
      change: mirror,
      routes: () => this.#reroute(),
    };
    watcher.on('snapshot', this.#listeners.snapshot);
    watcher.on('change', this.#listeners.change);
    watcher.on('routes', this.#listeners.routes);
    // Mirror what the watcher already knows (its snapshot may have been delivered already).
    watcher.entries().forEach((e) => mirror(e, false));
    this.#retry = setInterval(() => this.#resolveMissing(), RETRY_MS);
    this.#retry.unref();
  }

  /** The port an interface index belongs to, if it is one of the UPF's sides. */
  portOf(ifindex: number): number | undefined {
    return this.#ports.get(ifindex);
  }

  #problem(text: string): void {
    this.problems.push(text);
    if (this.problems.length > 100) {
      this.problems.shift();
    }
  }

  #neighbour(entry: NeighbourEntry, removed: boolean): void {
    const port = this.#ports.get(entry.index);
    if (port === undefined) {
      return;
    }
    const hop = removed || entry.mac === undefined || entry.mac === null
      ? undefined
      : { mac: entry.mac, port, ifindex: entry.index, state: stateOf(entry) };
    // The neighbour itself, unless a wanted destination of the same address routes elsewhere.
    if (!this.#wanted.has(entry.address)) {
      if (hop === undefined) {
        this.table.delete(entry.address);
      } else {
        this.table.set(entry.address, hop);
      }
    }
    for (const [destination, wanted] of this.#wanted) {
      if (wanted.via?.address === entry.address && wanted.via.ifindex === entry.index) {
        this.#write(destination, hop);
      }
    }
  }

  #write(destination: string, hop: NextHop | undefined): void {
    if (hop === undefined) {
      this.table.delete(destination);
    } else {
      this.table.set(destination, hop);
    }
  }

  /** Looks the route to `destination` up again and writes what its next hop is known as. */
  #route(destination: string, wanted: Wanted): void {
    let route: RouteInfo | undefined;
    try {
      // The unspecified address stands for the default route's gateway (the N6 gateway).
      route = DEFAULTS.has(destination)
        ? this.watcher.defaultRoutes().find((r) => r.destination === destination && this.#ports.has(r.index))
        : this.watcher.route(destination);
      if (route === undefined) {
        throw new Error(`no default route for ${destination === '::' ? 'IPv6' : 'IPv4'} through N3 or N6`);
      }
    } catch (e) {
      wanted.via = undefined;
      this.table.delete(destination);
      this.#problem((e as Error).message);
      return;
    }
    if (!this.#ports.has(route.index)) {
      wanted.via = undefined;
      this.table.delete(destination);
      this.#problem(`the kernel routes ${destination} through interface ${route.index}, neither N3 nor N6`);
      return;
    }
    wanted.via = { address: route.nextHop, ifindex: route.index };
    const entry = this.watcher.entry(route.index, route.nextHop);
    if (entry?.usable === true && entry.mac !== undefined && entry.mac !== null) {
      this.#write(destination, { mac: entry.mac, port: this.#ports.get(route.index)!, ifindex: route.index, state: stateOf(entry) });
    } else {
      this.table.delete(destination);
      this.#ask(route.index, route.nextHop);
    }
  }

  #ask(ifindex: number, address: string): void {
    if (!this.#unprivileged) {
      try {
        this.watcher.resolve(ifindex, address);
        return;
      } catch (e) {
        const message = (e as Error).message;
        if (!/Operation not permitted|EPERM/.test(message)) {
          this.#problem(message);
          return;
        }
        this.#unprivileged = true;
        this.#problem(`${message}: resolving next hops by sending them an empty UDP datagram instead`);
      }
    }
    this.#solicit(address);
  }

  /** Makes the kernel resolve `address` by sending it an empty UDP datagram (see the top). */
  #solicit(address: string): void {
    const socket = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
    // A send's error goes to its callback; the socket does nothing else.
    socket.send(Buffer.alloc(0), DISCARD_PORT, address, (e) => {
      if (e !== null) {
        this.#problem(`resolving ${address} by an empty UDP datagram: sendto: ${e.message}`);
      }
      socket.close();
    });
  }

  #reroute(): void {
    for (const [destination, wanted] of this.#wanted) {
      this.#route(destination, wanted);
    }
  }

  #resolveMissing(): void {
    for (const wanted of this.#wanted.values()) {
      const via = wanted.via;
      if (via !== undefined && this.watcher.entry(via.ifindex, via.address)?.usable !== true) {
        this.#ask(via.ifindex, via.address);
      }
    }
  }

  /** The fast path will send to `destination`: keep its next hop's MAC in the table. Counted. */
  want(destination: string): void {
    const wanted = this.#wanted.get(destination);
    if (wanted !== undefined) {
      wanted.count += 1;
      return;
    }
    const fresh: Wanted = { count: 1, via: undefined };
    this.#wanted.set(destination, fresh);
    this.#route(destination, fresh);
  }

  /** One holder of `destination` is gone; the last one removes it (unless it is a neighbour itself). */
  release(destination: string): void {
    const wanted = this.#wanted.get(destination);
    if (wanted === undefined) {
      return;
    }
    wanted.count -= 1;
    if (wanted.count > 0) {
      return;
    }
    this.#wanted.delete(destination);
    const own = this.watcher.entries().find((e) => e.address === destination && this.#ports.has(e.index));
    if (own === undefined) {
      this.table.delete(destination);
    } else {
      this.#neighbour(own, false);
    }
  }

  /** The destinations wanted now. */
  destinations(): string[] {
    return [...this.#wanted.keys()];
  }

  stop(): void {
    clearInterval(this.#retry);
    this.watcher.off('snapshot', this.#listeners.snapshot);
    this.watcher.off('change', this.#listeners.change);
    this.watcher.off('routes', this.#listeners.routes);
  }
}
