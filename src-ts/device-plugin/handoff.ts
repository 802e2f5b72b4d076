// The handoff side of the device plugin: one native handoff server per allocation, serving the
// socket in the allocation's directory. A pod's Fastlane (`deployment.mode` `device_plugin`)
// connects there and receives its ports' descriptors (crates/fastlane-handoff).

import * as path from 'node:path';

import { native, type NativeHandoffServer } from '../native';
import type { Device } from './devices';
import type { Allocation, AllocationStore } from './state';

/** The socket a container's Fastlane connects to, inside the mounted directory. */
export const HANDOFF_SOCKET = 'handoff.sock';

export class Handoffs {
  readonly #servers = new Map<string, NativeHandoffServer>();
  readonly #store: AllocationStore;
  readonly #devices: ReadonlyMap<string, Device>;
  readonly #allowedUids: readonly number[];
  readonly #log: (line: string) => void;

  constructor(store: AllocationStore, devices: ReadonlyMap<string, Device>, allowedUids: readonly number[], log: (line: string) => void) {
    this.#store = store;
    this.#devices = devices;
    this.#allowedUids = allowedUids;
    this.#log = log;
  }

  /**
   * Serves the allocation's socket. An allocation of VFs only has nothing to hand over (DPDK on a
   * VF is not handed over yet) and gets no server.
   */
  serve(allocation: Allocation): void {
    const queues = allocation.devices.flatMap((id) => {
      const d = this.#devices.get(id);
      return d?.kind === 'queue' ? [{ interface: d.interface, queue: d.queue }] : [];
    });
    if (queues.length === 0 || this.#servers.has(allocation.id)) {
      return;
    }
    const server = native('NativeHandoffServer').start({
      allocation: allocation.id,
      socket: path.join(this.#store.socketDir(allocation.id), HANDOFF_SOCKET),
      tokenSha256: allocation.token_sha256,
      tokenUsed: this.#store.tokenUsedFile(allocation.id),
      devices: queues,
      allowedUids: [...this.#allowedUids],
    });
    this.#servers.set(allocation.id, server);
  }

  /** The allocation ended: its pod's programs are detached and its socket goes. */
  end(id: string): void {
    this.#logEvents(id, this.#servers.get(id)?.close(true) ?? []);
    this.#servers.delete(id);
  }

  /** The plugin stops: sockets go, running pods keep what they were given. */
  closeAll(): void {
    for (const [id, server] of this.#servers) {
      this.#logEvents(id, server.close(false));
    }
    this.#servers.clear();
  }

  #logEvents(id: string, events: readonly string[]): void {
    for (const event of events) {
      this.#log(`allocation ${id}: ${event}`);
    }
  }

  /** Logs what the servers did since the last call. */
  drainEvents(): void {
    for (const [id, server] of this.#servers) {
      this.#logEvents(id, server.takeEvents());
    }
  }

  /** The session of an allocation, if a pod holds one. */
  session(id: string): ReturnType<NativeHandoffServer['session']> | undefined {
    return this.#servers.get(id)?.session() ?? undefined;
  }
}
