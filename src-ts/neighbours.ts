// The kernel's neighbour and route tables of a namespace, watched over rtnetlink: for an
// application whose fast path sends to next hops (gateways, peers) that the kernel resolves. The
// watcher keeps the table (a snapshot first, then every change; again in full if the kernel
// dropped notifications), answers route lookups, and asks the kernel to resolve an address it
// does not know yet (ARP / neighbour solicitation, as `ip neigh replace … use`).

import { EventEmitter } from 'node:events';

import { native, type NativeNeighbourWatcher, type NeighbourEntry, type NeighbourEvent, type RouteInfo } from './native';

export type { NeighbourEntry, RouteInfo };

export interface NeighbourWatcherEvents {
  /** An entry was added or changed (`removed` false), or removed. */
  change: [entry: NeighbourEntry, removed: boolean];
  /** The whole table was read again (first, and after lost notifications). */
  snapshot: [entries: NeighbourEntry[]];
  /** A route changed: routes looked up before may be stale. */
  routes: [];
  /** Watching stopped. */
  error: [error: Error];
}

function key(index: number, address: string): string {
  return `${index} ${address}`;
}

export class NeighbourWatcher extends EventEmitter<NeighbourWatcherEvents> {
  readonly #native: NativeNeighbourWatcher;
  readonly #table = new Map<string, NeighbourEntry>();

  /**
   * Starts watching network namespace `netns` (a name under /run/netns or a path; undefined:
   * this process's). Throws ERR_FASTLANE_NETLINK when the table cannot be read. Events are
   * delivered from the next turn of the event loop on, the snapshot first. Like a listening
   * socket, a running watcher keeps the process alive until stop().
   */
  constructor(netns?: string) {
    super();
    this.#native = native('NativeNeighbourWatcher').start(netns, (event) => this.#apply(event));
  }

  #apply(event: NeighbourEvent): void {
    switch (event.kind) {
      case 'snapshot':
        this.#table.clear();
        for (const entry of event.neighbours) {
          this.#table.set(key(entry.index, entry.address), entry);
        }
        this.emit('snapshot', event.neighbours);
        break;
      case 'neighbour':
        for (const entry of event.neighbours) {
          if (event.removed) {
            this.#table.delete(key(entry.index, entry.address));
          } else {
            this.#table.set(key(entry.index, entry.address), entry);
          }
          this.emit('change', entry, event.removed);
        }
        break;
      case 'routes':
        this.emit('routes');
        break;
      case 'failed':
        this.emit('error', new Error(`neighbour watcher stopped: ${event.message ?? 'unknown cause'}`));
        break;
    }
  }

  /** The entry for `address` on interface `index`, as last reported. */
  entry(index: number, address: string): NeighbourEntry | undefined {
    return this.#table.get(key(index, address));
  }

  /** The MAC the kernel would send `address` on interface `index` to, if it has a usable one. */
  mac(index: number, address: string): string | undefined {
    const entry = this.entry(index, address);
    return entry?.usable === true ? (entry.mac ?? undefined) : undefined;
  }

  /** Every entry known, as last reported. */
  entries(): NeighbourEntry[] {
    return [...this.#table.values()];
  }

  /** The kernel's route to `destination` (interface, gateway, next hop); throws ERR_FASTLANE_NETLINK when none. */
  route(destination: string): RouteInfo {
    return this.#native.route(destination);
  }

  /** The main table's default routes, IPv4 and IPv6 (`destination` is 0.0.0.0 or ::). */
  defaultRoutes(): RouteInfo[] {
    return this.#native.defaultRoutes();
  }

  /** Sets the default route of `gateway`'s family through `gateway` on interface `index` (replacing one). */
  replaceDefaultRoute(gateway: string, index: number): void {
    this.#native.replaceDefaultRoute(gateway, index);
  }

  /** Asks the kernel to resolve `address` on interface `index`; the entry arrives as a `change`. */
  resolve(index: number, address: string): void {
    this.#native.resolve(index, address);
  }

  /** The index of interface `name` in the watched namespace. */
  interfaceIndex(name: string): number {
    return this.#native.interfaceIndex(name);
  }

  /** The MAC address of interface `name` in the watched namespace. */
  hwAddress(name: string): string {
    return this.#native.hwAddress(name);
  }

  /** Stops watching; no event follows. Idempotent. */
  stop(): void {
    this.#native.stop();
  }
}

/** Starts a NeighbourWatcher on namespace `netns` and calls `onChange` for every entry change. */
export function watchNeighbours(
  netns: string | undefined,
  onChange: (entry: NeighbourEntry, removed: boolean) => void,
): NeighbourWatcher {
  const watcher = new NeighbourWatcher(netns);
  watcher.on('snapshot', (entries) => entries.forEach((e) => onChange(e, false)));
  watcher.on('change', onChange);
  return watcher;
}
