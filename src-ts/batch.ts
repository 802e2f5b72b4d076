// Batched TypeScript packet handlers. Each data-plane thread has one arena: memory allocated by
// Rust and handed to JavaScript once, as an ArrayBuffer, when the handler registers. Per batch
// only ring counters change hands: the data-plane thread copies a batch into a free slot and
// publishes the slot; this side runs the handler over a `PacketBatch` view of the slot and hands
// the slot back. The layout is crates/fastlane-node/src/batch.rs's; its constants reach this file
// through src-ts/generated/arena.ts, generated from the addon's arenaLayout().

import * as arena from './generated/arena';

// Module constants (not property reads of the module) for the per-packet paths below.
const {
  FILLED_HEAD,
  FILLED_TAIL,
  DONE_HEAD,
  NOTIFY,
  SLOTS,
  FILLED_RING,
  DONE_RING,
  SLOT_TABLE,
  SLOT_STRIDE,
  SLOT_WORDS,
  SLOT_COUNT,
  SLOT_PORT,
  SLOT_QUEUE,
  DESC_WORDS,
  DESC_OFFSET,
  DESC_LEN,
  DESC_VERDICT,
  DESC_CAPACITY,
} = arena;

/** Verdict codes for `PacketBatch.setVerdict`. */
export const Verdict = {
  /** No verdict yet: the packet is dropped and counted as `no_verdict`. */
  PENDING: arena.VERDICT_PENDING,
  /** Send it back out of the port it arrived on. */
  TRANSMIT: arena.VERDICT_TRANSMIT,
  /** Drop it, counted as `processor`. */
  DROP: arena.VERDICT_DROP,
  /** Hand it to the kernel; the `js` stage has no way there yet, so it is counted as `no_slow_path`. */
  KERNEL: arena.VERDICT_KERNEL,
  /** Send it out of port `port` (on the queue this thread serves there). */
  transmitOn(port: number): number {
    if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
      throw new RangeError(`port must be an integer from 0 to 65535, not ${port}`);
    }
    return arena.VERDICT_TRANSMIT_ON | port;
  },
} as const;

/**
 * One batch of packets, as views into the shared arena. The object is reused from batch to batch:
 * do not keep it, nor `data` ranges, beyond the handler's return.
 */
export class PacketBatch {
  /** The whole arena, bytes; packet `i` is `data.subarray(offset(i), offset(i) + len(i))`. */
  readonly data: Uint8Array;
  /** Which data-plane thread's arena this is (thread order: ascending cores). */
  readonly thread: number;
  readonly #words: Uint32Array;
  #desc = 0;
  #length = 0;
  #port = 0;
  #queue = 0;

  /** @internal */
  constructor(memory: ArrayBuffer, thread: number) {
    this.data = new Uint8Array(memory);
    this.#words = new Uint32Array(memory);
    this.thread = thread;
  }

  /** @internal Points the view at slot `slot`. */
  bind(slot: number): void {
    const w = this.#words;
    const base = w[SLOT_TABLE]! + w[SLOT_STRIDE]! * slot;
    this.#length = w[base + SLOT_COUNT]!;
    this.#port = w[base + SLOT_PORT]!;
    this.#queue = w[base + SLOT_QUEUE]!;
    this.#desc = base + SLOT_WORDS;
  }

  /** Number of packets. */
  get length(): number {
    return this.#length;
  }
  /** The port the packets arrived on. */
  get port(): number {
    return this.#port;
  }
  get queue(): number {
    return this.#queue;
  }

  /** Byte offset of packet `i` in `data`. */
  offset(i: number): number {
    return this.#words[this.#descOf(i) + DESC_OFFSET]!;
  }
  /** Length of packet `i` in bytes. */
  len(i: number): number {
    return this.#words[this.#descOf(i) + DESC_LEN]!;
  }
  /** Bytes packet `i` may grow to (`setLen`). */
  capacity(i: number): number {
    return this.#words[this.#descOf(i) + DESC_CAPACITY]!;
  }
  /** Sets packet `i`'s length, from 1 to `capacity(i)`; bytes past the old length are as left. */
  setLen(i: number, n: number): void {
    const d = this.#descOf(i);
    if (!Number.isInteger(n) || n < 1 || n > this.#words[d + DESC_CAPACITY]!) {
      throw new RangeError(`length must be an integer from 1 to ${this.#words[d + DESC_CAPACITY]}, not ${n}`);
    }
    this.#words[d + DESC_LEN] = n;
  }
  verdict(i: number): number {
    return this.#words[this.#descOf(i) + DESC_VERDICT]!;
  }
  /** Sets packet `i`'s verdict: one of `Verdict`'s codes. */
  setVerdict(i: number, v: number): void {
    this.#words[this.#descOf(i) + DESC_VERDICT] = v;
  }
  /** Sets every packet's verdict. */
  setAllVerdicts(v: number): void {
    const w = this.#words;
    for (let i = 0, d = this.#desc + DESC_VERDICT; i < this.#length; i++, d += DESC_WORDS) {
      w[d] = v;
    }
  }

  #descOf(i: number): number {
    if (!(i >= 0 && i < this.#length)) {
      throw new RangeError(`packet index ${i} outside 0..${this.#length - 1}`);
    }
    return this.#desc + DESC_WORDS * (i | 0);
  }
}

export type BatchHandler = (batch: PacketBatch) => void;

/** One thread's arena, as this side drains it. */
export class ArenaReader {
  readonly batch: PacketBatch;
  readonly #words: Uint32Array;
  readonly #mask: number;
  readonly #filledRing: number;
  readonly #doneRing: number;

  constructor(memory: ArrayBuffer, thread: number) {
    this.batch = new PacketBatch(memory, thread);
    this.#words = new Uint32Array(memory);
    this.#mask = this.#words[SLOTS]! - 1;
    this.#filledRing = this.#words[FILLED_RING]!;
    this.#doneRing = this.#words[DONE_RING]!;
  }

  /**
   * Runs `handler` over every batch waiting now and hands each back, returning how many batches ran.
   * A handler that throws has its batch dropped; the error goes to `onError` and draining goes on.
   */
  drain(handler: BatchHandler, onError: (error: unknown) => void): number {
    const w = this.#words;
    // Cleared before reading the ring: a batch published after this asks again. One pass over
    // what is there now, so that a data plane that keeps up cannot starve the event loop.
    Atomics.store(w, NOTIFY, 0);
    let tail = Atomics.load(w, FILLED_TAIL);
    const head = Atomics.load(w, FILLED_HEAD);
    let ran = 0;
    while (tail !== head) {
      const slot = w[this.#filledRing + (tail & this.#mask)]!;
      this.batch.bind(slot);
      try {
        handler(this.batch);
      } catch (error) {
        this.batch.setAllVerdicts(Verdict.DROP);
        onError(error);
      }
      const done = Atomics.load(w, DONE_HEAD);
      w[this.#doneRing + (done & this.#mask)] = slot;
      Atomics.store(w, DONE_HEAD, (done + 1) >>> 0);
      tail = (tail + 1) >>> 0;
      Atomics.store(w, FILLED_TAIL, tail);
      ran++;
    }
    return ran;
  }
}

export interface OnBatchOptions {
  /** Batches each data-plane thread can have at JavaScript at once (a power of two; default 16). */
  slots?: number;
  /** Largest frame, in bytes, a batch can hold; longer ones are dropped as `no_buffer` (default 2048). */
  frameSize?: number;
}
