// The data plane as an application sees it: a validated config, start/stop, counters, and an
// 'error' event when the native threads end without being asked to.

import { EventEmitter } from 'node:events';
import * as path from 'node:path';

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
