// The allocations the plugin made, persisted in its state directory so that a restarted plugin
// still knows the running pods' devices, socket directories and tokens.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Allocation {
  id: string;
  devices: string[];
  /** SHA-256 (hex) of the one-time token given to the container: the token itself is not kept. */
  token_sha256: string;
  created: string;
}

interface StateFile {
  version: 1;
  allocations: Allocation[];
}

const ID = /^[0-9a-f-]{36}$/;

export function tokenDigest(token: string): string {
  return crypto.createHash('sha256').update(token).digest('hex');
}

export class AllocationStore {
  readonly #file: string;
  readonly #allocationsDir: string;
  #allocations: Allocation[];

  /** Reads the state of `stateDir` (none yet is an empty state); throws on a damaged file. */
  constructor(stateDir: string) {
    this.#file = path.join(stateDir, 'allocations.json');
    this.#allocationsDir = path.join(stateDir, 'allocations');
    fs.mkdirSync(this.#allocationsDir, { recursive: true, mode: 0o755 });
    this.#allocations = AllocationStore.#read(this.#file);
  }

  static #read(file: string): Allocation[] {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        return [];
      }
      throw new Error(`cannot read ${file}: ${(e as Error).message}`);
    }
    const bad = (where: string, what: string): Error => new Error(`damaged state ${file}: ${where}: ${what}`);
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw bad('/', (e as Error).message);
    }
    const state = doc as Partial<StateFile>;
    if (typeof doc !== 'object' || doc === null || state.version !== 1 || !Array.isArray(state.allocations)) {
      throw bad('/', 'expected { "version": 1, "allocations": [...] }');
    }
    state.allocations.forEach((a: Partial<Allocation>, i) => {
      if (typeof a !== 'object' || a === null || typeof a.id !== 'string' || !ID.test(a.id)) {
        throw bad(`/allocations/${i}/id`, 'expected an allocation id');
      }
      if (!Array.isArray(a.devices) || !a.devices.every((d) => typeof d === 'string')) {
        throw bad(`/allocations/${i}/devices`, 'expected an array of device IDs');
      }
      if (typeof a.token_sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(a.token_sha256)) {
        throw bad(`/allocations/${i}/token_sha256`, 'expected a SHA-256 in hex');
      }
    });
    return state.allocations;
  }

  get allocations(): readonly Allocation[] {
    return this.#allocations;
  }

  /** The host directory that is mounted into the allocation's container. */
  socketDir(id: string): string {
    return path.join(this.#allocationsDir, id);
  }

  /**
   * The file the handoff makes when the allocation's token is used (who used it): beside the
   * directory the container sees, not in it, and kept across restarts, so a replayed token is
   * refused.
   */
  tokenUsedFile(id: string): string {
    return path.join(this.#allocationsDir, `${id}.token-used`);
  }

  /**
   * Records a new allocation of `devices` and makes its socket directory; returns it with its
   * token. An older allocation holding any of these devices is over (the kubelet gives a device to
   * one container at a time and never says when it frees one), so it and its directory go.
   */
  allocate(devices: string[]): { allocation: Allocation; token: string; ended: Allocation[] } {
    const token = crypto.randomBytes(32).toString('hex');
    const allocation: Allocation = {
      id: crypto.randomUUID(),
      devices: [...devices],
      token_sha256: tokenDigest(token),
      created: new Date().toISOString(),
    };
    const wanted = new Set(devices);
    const [ended, kept] = partition(this.#allocations, (a) => a.devices.some((d) => wanted.has(d)));
    fs.mkdirSync(this.socketDir(allocation.id), { mode: 0o755 });
    this.#allocations = [...kept, allocation];
    this.#write();
    for (const a of ended) {
      fs.rmSync(this.socketDir(a.id), { recursive: true, force: true });
      fs.rmSync(this.tokenUsedFile(a.id), { force: true });
    }
    return { allocation, token, ended };
  }

  /** The allocation holding exactly `devices` (in any order), if there is one. */
  find(devices: readonly string[]): Allocation | undefined {
    const wanted = [...devices].sort().join('\n');
    return this.#allocations.find((a) => [...a.devices].sort().join('\n') === wanted);
  }

  // Write and rename: a crash leaves the old state or the new, never half of one.
  #write(): void {
    const state: StateFile = { version: 1, allocations: this.#allocations };
    const tmp = `${this.#file}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
    fs.renameSync(tmp, this.#file);
  }
}

function partition<T>(items: readonly T[], test: (item: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const item of items) {
    (test(item) ? yes : no).push(item);
  }
  return [yes, no];
}
