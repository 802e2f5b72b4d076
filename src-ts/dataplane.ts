// The data plane as an application sees it: a validated config, start/stop, counters, and an
// 'error' event when the native threads end without being asked to.

import { EventEmitter } from 'node:events';
import * as path from 'node:path';

import { ArenaReader, type BatchHandler, type OnBatchOptions } from './batch';
import type { FastlaneConfig } from './config';
import { native, type DataplaneStats, type NativeDataplane } from './native';
import { assertValidConfig, loadConfigFile } from './validate';

export interface DataplaneOptions {
  /** Where relative plugin paths are resolved; default: the working directory. */
  configDir?: string;
  /** How often, in ms, to check that the native threads still run while started (default 500). */
  watchIntervalMs?: number;
}

export interface DataplaneEvents {
  start: [];
  stop: [];
  error: [Error];
}

export class Dataplane extends EventEmitter<DataplaneEvents> {
  /** The validated config this data plane runs. */
  readonly config: FastlaneConfig;
  readonly #native: NativeDataplane;
  readonly #watchIntervalMs: number;
  #watch: NodeJS.Timeout | undefined;
  #arenas: ArenaReader[] = [];

  /** Reads and validates a config file; throws ConfigError naming the file. */
  static fromFile(file: string, options: DataplaneOptions = {}): Dataplane {
    return new Dataplane(loadConfigFile(file), { configDir: path.dirname(path.resolve(file)), ...options });
  }

  /** Validates `config` (throws ConfigError listing every error); opens nothing yet. */
  constructor(config: FastlaneConfig, options: DataplaneOptions = {}) {
    super();
    assertValidConfig(config);
    this.config = structuredClone(config);
    this.#watchIntervalMs = options.watchIntervalMs ?? 500;
    if (!(this.#watchIntervalMs > 0)) {
      throw new RangeError(`watchIntervalMs must be above 0, not ${this.#watchIntervalMs}`);
    }
    this.#native = new (native('NativeDataplane'))(JSON.stringify(this.config), options.configDir ?? process.cwd());
  }

  get running(): boolean {
    return this.#native.running;
  }

  /** Opens every port and starts every thread; throws with the kernel's context, leaving nothing half-started. */
  start(): void {
    const jsStage = this.config.pipeline.some((p) => typeof p === 'object' && p.type === 'js');
    if (jsStage && this.#arenas.length === 0) {
      const message = '[ERR_FASTLANE_CONFIG] the pipeline has a js stage: call onBatch() before start()';
      throw Object.assign(new Error(message), { code: 'ERR_FASTLANE_CONFIG' });
    }
    this.#native.start();
    this.#startWatch();
    this.emit('start');
  }

  /**
   * Stops the threads and detaches from the ports. Always reaches the native side, which also
   * cleans up after threads that ended on their own; 'stop' is emitted only if it was running.
   */
  stop(): void {
    this.#stopWatch();
    const wasRunning = this.#native.running;
    this.#native.stop();
    if (wasRunning) {
      this.emit('stop');
    }
  }

  /**
   * Registers the handler of the pipeline's `{ "type": "js" }` stage; call before start(). The
   * handler gets batches of packets as views into memory shared once with the data plane, may
   * rewrite bytes and lengths and sets each packet's verdict; it runs on this thread, while the
   * data-plane threads go on: when it falls behind, they drop and count (`js_backlog`). A handler
   * that throws has its batch dropped and the error emitted as 'error'.
   */
  onBatch(handler: BatchHandler, options: OnBatchOptions = {}): void {
    if (typeof handler !== 'function') {
      throw new TypeError('the batch handler must be a function');
    }
    const onError = (error: unknown) =>
      queueMicrotask(() => this.emit('error', error instanceof Error ? error : new Error(String(error))));
    // The wake-up only schedules the drain: Node dispatches queued thread-safe calls in a loop,
    // and a data plane that re-arms the wake-up during a long drain would keep timers and I/O
    // from ever running. Until the drain clears an arena's notify word, no new wake-up comes.
    const scheduled = new Set<number>();
    const memories = this.#native.onBatch(
      (arena: number) => {
        if (scheduled.has(arena)) return;
        scheduled.add(arena);
        setImmediate(() => {
          scheduled.delete(arena);
          this.#arenas[arena]?.drain(handler, onError);
        });
      },
      options.slots ?? 16,
      options.frameSize ?? 2048,
    );
    this.#arenas = memories.map((memory, thread) => new ArenaReader(memory, thread));
  }

  /** Counters per queue, per port and per pipeline stage since start (after stop: the final ones). */
  stats(): DataplaneStats {
    const stats = this.#native.stats();
    if (stats === null) {
      throw new Error('the data plane has not been started');
    }
    return stats;
  }

  // The watch also keeps the process alive while the data plane runs, as a listening server does:
  // the native threads hold nothing in Node's event loop.
  #startWatch(): void {
    this.#stopWatch();
    this.#watch = setInterval(() => {
      if (!this.#native.running) {
        this.#stopWatch();
        const why = this.#native.failure() ?? 'the data plane stopped without stop() being called';
        this.emit('error', new Error(why));
      }
    }, this.#watchIntervalMs);
  }

  #stopWatch(): void {
    clearInterval(this.#watch);
    this.#watch = undefined;
  }
}
