// Batched TypeScript packet handlers. Each data-plane thread has one arena: memory allocated by
// Rust and handed to JavaScript once, as an ArrayBuffer, when the handler registers. Per batch
// only ring counters change hands: the data-plane thread copies a batch into a free slot and
// publishes the slot; this side runs the handler over a `PacketBatch` view of the slot and hands
// the slot back. The layout is crates/fastlane-node/src/batch.rs's; its word indices come from there
// through the addon (`arenaLayout()`), copied into fields so that per-packet reads stay cheap.

import { native, type ArenaLayout } from './native';

let layout: ArenaLayout | undefined;

/** Word indices and verdict codes of the arena, read from the addon once. */
function arenaLayout(): ArenaLayout {
  return (layout ??= native('arenaLayout')());
}

/**
 * Verdict codes for `PacketBatch.setVerdict`. They come from the addon, which is loaded when one
 * is first read.
 */
export const Verdict = {
  /** No verdict yet: the packet is dropped and counted as `no_verdict`. */
  get PENDING(): number {
    return arenaLayout().verdictPending;
  },
  /** Send it back out of the port it arrived on. */
  get TRANSMIT(): number {
    return arenaLayout().verdictTransmit;
  },
  /** Drop it, counted as `processor`. */
  get DROP(): number {
    return arenaLayout().verdictDrop;
  },
  /** Hand it to the kernel; the `js` stage has no way there yet, so it is counted as `no_slow_path`. */
  get KERNEL(): number {
    return arenaLayout().verdictKernel;
  },
  /** Send it out of port `port` (on the queue this thread serves there). */
  transmitOn(port: number): number {
    if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
      throw new RangeError(`port must be an integer from 0 to 65535, not ${port}`);
    }
    return arenaLayout().verdictTransmitOn | port;
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
  readonly #slotTable: number;
  readonly #slotStride: number;
  readonly #slotWords: number;
  readonly #slotCount: number;
  readonly #slotPort: number;
  readonly #slotQueue: number;
  readonly #descWords: number;
  readonly #descOffset: number;
  readonly #descLen: number;
  readonly #descVerdict: number;
  readonly #descCapacity: number;
  #desc = 0;
  #length = 0;
  #port = 0;
  #queue = 0;

  /** @internal */
  constructor(memory: ArrayBuffer, thread: number) {
    this.data = new Uint8Array(memory);
    this.#words = new Uint32Array(memory);
    this.thread = thread;
    const l = arenaLayout();
    this.#slotTable = l.slotTable;
    this.#slotStride = l.slotStride;
    this.#slotWords = l.slotWords;
    this.#slotCount = l.slotCount;
    this.#slotPort = l.slotPort;
    this.#slotQueue = l.slotQueue;
    this.#descWords = l.descWords;
    this.#descOffset = l.descOffset;
    this.#descLen = l.descLen;
    this.#descVerdict = l.descVerdict;
    this.#descCapacity = l.descCapacity;
  }

  /** @internal Points the view at slot `slot`. */
  bind(slot: number): void {
    const w = this.#words;
    const base = w[this.#slotTable]! + w[this.#slotStride]! * slot;
    this.#length = w[base + this.#slotCount]!;
    this.#port = w[base + this.#slotPort]!;
    this.#queue = w[base + this.#slotQueue]!;
    this.#desc = base + this.#slotWords;
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
    return this.#words[this.#descOf(i) + this.#descOffset]!;
  }
  /** Length of packet `i` in bytes. */
  len(i: number): number {
    return this.#words[this.#descOf(i) + this.#descLen]!;
  }
  /** Bytes packet `i` may grow to (`setLen`). */
  capacity(i: number): number {
    return this.#words[this.#descOf(i) + this.#descCapacity]!;
  }
  /** Sets packet `i`'s length, from 1 to `capacity(i)`; bytes past the old length are as left. */
  setLen(i: number, n: number): void {
    const d = this.#descOf(i);
    const capacity = this.#words[d + this.#descCapacity]!;
    if (!Number.isInteger(n) || n < 1 || n > capacity) {
      throw new RangeError(`length must be an integer from 1 to ${capacity}, not ${n}`);
    }
    this.#words[d + this.#descLen] = n;
  }
  verdict(i: number): number {
    return this.#words[this.#descOf(i) + this.#descVerdict]!;
  }
  /** Sets packet `i`'s verdict: one of `Verdict`'s codes. */
  setVerdict(i: number, v: number): void {
    this.#words[this.#descOf(i) + this.#descVerdict] = v;
  }
  /** Sets every packet's verdict. */
  setAllVerdicts(v: number): void {
    const w = this.#words;
    const stride = this.#descWords;
    for (let i = 0, d = this.#desc + this.#descVerdict; i < this.#length; i++, d += stride) {
      w[d] = v;
    }
  }

  #descOf(i: number): number {
    if (!(i >= 0 && i < this.#length)) {
      throw new RangeError(`packet index ${i} outside 0..${this.#length - 1}`);
    }
    return this.#desc + this.#descWords * (i | 0);
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
  readonly #filledHead: number;
  readonly #filledTail: number;
  readonly #doneHead: number;
  readonly #notify: number;

  constructor(memory: ArrayBuffer, thread: number) {
    const l = arenaLayout();
    this.batch = new PacketBatch(memory, thread);
    this.#words = new Uint32Array(memory);
    this.#mask = this.#words[l.slots]! - 1;
    this.#filledRing = this.#words[l.filledRing]!;
    this.#doneRing = this.#words[l.doneRing]!;
    this.#filledHead = l.filledHead;
    this.#filledTail = l.filledTail;
    this.#doneHead = l.doneHead;
    this.#notify = l.notify;
  }

  /**
   * Runs `handler` over every batch waiting now and hands each back, returning how many batches ran.
   * A handler that throws has its batch dropped; the error goes to `onError` and draining goes on.
   */
  drain(handler: BatchHandler, onError: (error: unknown) => void): number {
    const w = this.#words;
    // Cleared before reading the ring: a batch published after this asks again. One pass over
    // what is there now, so that a data plane that keeps up cannot starve the event loop.
    Atomics.store(w, this.#notify, 0);
    let tail = Atomics.load(w, this.#filledTail);
    const head = Atomics.load(w, this.#filledHead);
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
      const done = Atomics.load(w, this.#doneHead);
      w[this.#doneRing + (done & this.#mask)] = slot;
      Atomics.store(w, this.#doneHead, (done + 1) >>> 0);
      tail = (tail + 1) >>> 0;
      Atomics.store(w, this.#filledTail, tail);
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
