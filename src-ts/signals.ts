// Waiting for SIGINT/SIGTERM (or a failure) without dying of them, so a command can tear down what
// it built.

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

export class StopLatch {
  #signal: NodeJS.Signals | undefined;
  #error: Error | undefined;
  #waiters: Array<() => void> = [];
  readonly #onSignal = (signal: NodeJS.Signals): void => {
    this.#signal ??= signal;
    this.#wake();
  };

  /** From now until dispose(), SIGINT and SIGTERM are caught here instead of ending the process. */
  constructor() {
    for (const signal of SIGNALS) {
      process.on(signal, this.#onSignal);
    }
  }

  /** True once a signal arrived or fail() was called. */
  get stopped(): boolean {
    return this.#signal !== undefined || this.#error !== undefined;
  }

  /** The first signal caught, if any. */
  get signal(): NodeJS.Signals | undefined {
    return this.#signal;
  }

  /** The first failure reported, if any. */
  get error(): Error | undefined {
    return this.#error;
  }

  /** Stops the wait because something went wrong. */
  fail(error: Error): void {
    this.#error ??= error;
    this.#wake();
  }

  /** Resolves after `ms`, or as soon as the latch trips. */
  sleep(ms: number): Promise<void> {
    if (this.stopped) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const waiters = this.#waiters;
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        const at = waiters.indexOf(done);
        if (at >= 0) {
          waiters.splice(at, 1);
        }
        resolve();
      }
      waiters.push(done);
    });
  }

  /** Resolves once the latch trips; keeps the process alive meanwhile (signal handlers do not). */
  async wait(): Promise<void> {
    const keepAlive = setInterval(() => {}, 1 << 30);
    try {
      while (!this.stopped) {
        await new Promise<void>((resolve) => this.#waiters.push(resolve));
      }
    } finally {
      clearInterval(keepAlive);
    }
  }

  /** Gives SIGINT and SIGTERM back to their previous handling. */
  dispose(): void {
    for (const signal of SIGNALS) {
      process.off(signal, this.#onSignal);
    }
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) {
      wake();
    }
  }
}

/**
 * Runs `cleanup` and ends the process (exit 128 + the signal's number) on SIGINT or SIGTERM: for
 * scripts that cannot wait on a StopLatch, so that stopping them still removes what they built.
 */
export function onStopSignal(cleanup: () => void): void {
  for (const signal of SIGNALS) {
    process.once(signal, () => {
      cleanup();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}
