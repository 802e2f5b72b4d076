// Shared memory with the fast path: tables the slow path writes and the fast path reads at line
// rate (one writer per table, lock-free readers that never see a torn record), and channels of
// messages in either direction. The region lives under /dev/shm and outlives its processes until
// `SharedRegion.unlink`.

import { setTimeout as sleep } from 'node:timers/promises';

import {
  native,
  type NativeSharedRegion,
  type NativeShmCells,
  type NativeShmChannel,
  type NativeShmTable,
  type ShmLayout,
} from './native';

export type { ShmCellsLayout, ShmChannelLayout, ShmLayout, ShmTableLayout } from './native';

export interface SharedRegionCreateOptions {
  /** Attach to an existing region of the same layout instead of failing (default false). */
  reuse?: boolean;
}

export interface SharedChannelOptions {
  /** How often, in ms, `for await` looks for messages when the channel is empty (default 5). */
  pollIntervalMs?: number;
  /** Most messages taken per look (default 64). */
  batch?: number;
}

export class SharedRegion {
  readonly name: string;
  readonly #native: NativeSharedRegion;
  readonly #handles = new Set<{ close(): void }>();
  #closed = false;

  /** Creates region `name` under /dev/shm; throws ERR_FASTLANE_SHM_EXISTS if it exists, unless `reuse`. */
  static create(name: string, layout: ShmLayout, options: SharedRegionCreateOptions = {}): SharedRegion {
    return new SharedRegion(name, native('NativeSharedRegion').create(name, layout, options.reuse ?? false));
  }

  /** Attaches to region `name`; throws ERR_FASTLANE_SHM_LAYOUT naming what differs from `layout`. */
  static open(name: string, layout: ShmLayout): SharedRegion {
    return new SharedRegion(name, native('NativeSharedRegion').open(name, layout));
  }

  /** Removes region `name` from /dev/shm; processes that have it open keep it until they close. */
  static unlink(name: string): void {
    native('NativeSharedRegion').unlink(name);
  }

  private constructor(name: string, region: NativeSharedRegion) {
    this.name = name;
    this.#native = region;
  }

  /** Whether this handle created the region (rather than opening or reusing it). */
  get created(): boolean {
    return this.#native.created;
  }

  get closed(): boolean {
    return this.#closed;
  }

  table(name: string): SharedTable {
    const table = new SharedTable(this.#native.table(name));
    this.#handles.add(table);
    return table;
  }

  channel(name: string, options: SharedChannelOptions = {}): SharedChannel {
    const channel = new SharedChannel(this, this.#native.channel(name), options);
    this.#handles.add(channel);
    return channel;
  }

  cells(name: string): SharedCells {
    const cells = new SharedCells(this.#native.cells(name));
    this.#handles.add(cells);
    return cells;
  }

  /** What an owner does on stop: removes the region only if this handle created it. */
  unlinkIfCreated(): boolean {
    return this.#native.unlinkIfCreated();
  }

  /**
   * Closes every table and channel taken from this region (giving up their writer locks and
   * channel ends) and unmaps it; `for await` loops over its channels end. Idempotent.
   */
  close(): void {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    for (const handle of this.#handles) {
      handle.close();
    }
    this.#handles.clear();
    this.#native.close();
  }
}

/** A table of fixed-size keys and values. Writing takes the table's writer lock, held until close. */
export class SharedTable {
  readonly #native: NativeShmTable;

  /** @internal */
  constructor(table: NativeShmTable) {
    this.#native = table;
  }

  /** Inserts or replaces; key and value must have the table's sizes. */
  set(key: Buffer, value: Buffer): this {
    this.#native.set(key, value);
    return this;
  }

  get(key: Buffer): Buffer | undefined {
    return this.#native.get(key) ?? undefined;
  }

  has(key: Buffer): boolean {
    return this.#native.get(key) !== null;
  }

  /** True when the key was present. */
  delete(key: Buffer): boolean {
    return this.#native.delete(key);
  }

  /** Every record, each read consistently (the whole is not a snapshot). */
  *entries(): IterableIterator<[Buffer, Buffer]> {
    for (const { key, value } of this.#native.entries()) {
      yield [key, value];
    }
  }

  [Symbol.iterator](): IterableIterator<[Buffer, Buffer]> {
    return this.entries();
  }

  get size(): number {
    return this.#native.size;
  }

  get keySize(): number {
    return this.#native.keySize;
  }

  get valueSize(): number {
    return this.#native.valueSize;
  }

  get capacity(): number {
    return this.#native.capacity;
  }

  /** Gives up the writer lock (if held) so that another process may write. */
  close(): void {
    this.#native.close();
  }
}

/**
 * An array of cells of 64-bit words that every process may update atomically (counters, token
 * buckets, publication flags), with no writer lock: what the words mean is the application's.
 */
export class SharedCells {
  readonly #native: NativeShmCells;

  /** @internal */
  constructor(cells: NativeShmCells) {
    this.#native = cells;
  }

  /** Every word of cell `index`, each loaded with acquire ordering. */
  load(index: number): BigUint64Array {
    return this.#native.load(index);
  }

  /** Stores `values` into the first words of cell `index` in order, each with release ordering. */
  store(index: number, values: BigUint64Array): void {
    this.#native.store(index, values);
  }

  /** Stores `value` into word `word` of cell `index` with release ordering. */
  storeWord(index: number, word: number, value: bigint): void {
    this.#native.storeWord(index, word, value);
  }

  get words(): number {
    return this.#native.words;
  }

  get capacity(): number {
    return this.#native.capacity;
  }

  close(): void {
    this.#native.close();
  }
}

/** One end of a single-producer single-consumer channel: the first `send` or receive claims it. */
export class SharedChannel implements AsyncIterable<Buffer> {
  readonly #region: SharedRegion;
  readonly #native: NativeShmChannel;
  readonly #pollIntervalMs: number;
  readonly #batch: number;
  #closed = false;

  /** @internal */
  constructor(region: SharedRegion, channel: NativeShmChannel, options: SharedChannelOptions) {
    this.#region = region;
    this.#native = channel;
    this.#pollIntervalMs = options.pollIntervalMs ?? 5;
    this.#batch = options.batch ?? 64;
    if (!(this.#pollIntervalMs > 0) || !(this.#batch >= 1)) {
      throw new RangeError('pollIntervalMs must be above 0 and batch at least 1');
    }
  }

  /** Queues `message`; false (and one more drop counted) when the channel is full. */
  send(message: Buffer): boolean {
    return this.#native.send(message);
  }

  /** Up to `max` waiting messages, oldest first, without waiting. */
  receive(max = this.#batch): Buffer[] {
    return this.#native.recvBatch(max);
  }

  /** Messages dropped because the channel was full, since the region was created. */
  get drops(): number {
    return this.#native.drops;
  }

  /** Every message as it arrives, until the channel or its region is closed. */
  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    while (!this.#closed && !this.#region.closed) {
      const messages = this.#native.recvBatch(this.#batch);
      if (messages.length === 0) {
        await sleep(this.#pollIntervalMs);
        continue;
      }
      for (const message of messages) {
        yield message;
      }
    }
  }

  close(): void {
    this.#closed = true;
    this.#native.close();
  }
}
