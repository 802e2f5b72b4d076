// `fastlane upf run`'s keeper of the control process (control.ts): starts it over the data
// plane's region, starts it again whenever it dies (after a back-off that grows while it keeps
// dying young), logs why, and stops it on request. The data plane forwards meanwhile by what the
// region holds.

import { type ChildProcess, spawn } from 'node:child_process';

import { CONTROL_ENTRY, type ControlReady } from './control';

/** The first restart's delay; doubled after each death within STABLE_MS of its start. */
export const RESTART_MIN_MS = 200;
export const RESTART_MAX_MS = 10_000;
/** A control process that ran this long died of something new: the back-off starts over. */
const STABLE_MS = 30_000;
/** How long a control process has to stop on SIGTERM before it is killed. */
const STOP_GRACE_MS = 5_000;

export interface ControlSupervisorOptions {
  /** The UPF config file the control process loads. */
  configFile: string;
  /** The rules' region the data plane runs on. */
  region: string;
  log(line: string): void;
}

function why(code: number | null, signal: NodeJS.Signals | null): string {
  return signal !== null ? `killed by ${signal}` : `exited with code ${code}`;
}

export class ControlSupervisor {
  #child: ChildProcess | undefined;
  #stopping = false;
  #delay = RESTART_MIN_MS;
  #restart: NodeJS.Timeout | undefined;

  private constructor(readonly options: ControlSupervisorOptions) {}

  /** Starts the control process; rejects (saying why) when the first one dies before it is up. */
  static async start(options: ControlSupervisorOptions): Promise<ControlSupervisor> {
    const s = new ControlSupervisor(options);
    await s.#spawn(true);
    return s;
  }

  /** The running control process's pid. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  #spawn(first: boolean): Promise<void> {
    const started = Date.now();
    // Its own process group: a terminal's Ctrl-C reaches `upf run`, which stops it in order.
    // execArgv passes on a loader (tsx) when run from the sources.
    const child = spawn(process.execPath, [...process.execArgv, CONTROL_ENTRY, this.options.configFile, this.options.region], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      detached: true,
    });
    this.#child = child;
    return new Promise<void>((resolve, reject) => {
      let up = false;
      child.on('message', (m: ControlReady) => {
        if (m.ready !== true || up) return;
        up = true;
        const pfcp = m.recoveryTimeStamp === undefined ? '' : `, PFCP Recovery Time Stamp ${m.recoveryTimeStamp} (${m.stateKept === true ? 'state kept' : 'fresh state'})`;
        this.options.log(`fastlane upf: control process ${child.pid} up${pfcp}`);
        resolve();
      });
      child.on('exit', (code, signal) => {
        if (this.#child === child) this.#child = undefined;
        if (this.#stopping) return;
        if (first && !up) {
          reject(new Error(`the control process ${why(code, signal)} before it was up`));
          return;
        }
        if (!up) resolve();
        this.#delay = Date.now() - started >= STABLE_MS ? RESTART_MIN_MS : this.#delay;
        this.options.log(`fastlane upf: control process ${child.pid} ${why(code, signal)}; restarting in ${this.#delay} ms`);
        this.#restart = setTimeout(() => void this.#spawn(false), this.#delay);
        this.#delay = Math.min(this.#delay * 2, RESTART_MAX_MS);
      });
    });
  }

  /** Stops the control process (SIGTERM, then SIGKILL after a grace period); idempotent. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restart);
    const child = this.#child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const grace = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(grace);
  }
}
