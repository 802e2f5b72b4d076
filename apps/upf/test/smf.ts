// Drives apps/upf/test/pfcp_smf.py: scapy as the SMF, over UDP, one JSON line per command.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import type { ScapyIe, ScapyMessage } from './scapy';

const python = join(__dirname, '..', '..', '..', 'target', 'pyenv', 'bin', 'python');

export interface Received {
  from: [string, number];
  hex: string;
  msg: ScapyMessage;
}

export class ScapySmf {
  readonly #proc: ChildProcessWithoutNullStreams;
  readonly #lines: AsyncIterator<string>;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(
    proc: ChildProcessWithoutNullStreams,
    lines: AsyncIterator<string>,
    /** The SMF's UDP port. */
    readonly port: number,
    readonly address: string,
  ) {
    this.#proc = proc;
    this.#lines = lines;
  }

  /** Throws when scripts/bootstrap has not made the venv: the cross-check must not be skipped. */
  static async start(address = '127.0.0.1'): Promise<ScapySmf> {
    if (!existsSync(python)) throw new Error(`${python} is missing: run scripts/bootstrap (it installs scapy in a venv)`);
    const proc = spawn(python, [join(__dirname, 'pfcp_smf.py'), address], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
    const first = await lines.next();
    if (first.done) throw new Error(`pfcp_smf.py exited: ${stderr}`);
    const { ready } = JSON.parse(first.value) as { ready: number };
    return new ScapySmf(proc, lines, ready, address);
  }

  #command<R>(cmd: object): Promise<R> {
    const run = async (): Promise<R> => {
      this.#proc.stdin.write(`${JSON.stringify(cmd)}\n`);
      const line = await this.#lines.next();
      if (line.done) throw new Error('pfcp_smf.py exited');
      const out = JSON.parse(line.value) as R & { error?: string };
      if (out.error) throw new Error(`pfcp_smf.py: ${out.error}`);
      return out;
    };
    const p = this.#queue.then(run, run);
    this.#queue = p.catch(() => undefined);
    return p;
  }

  /** Sends what the scapy expression builds (or raw hex bytes). */
  send(to: { address: string; port: number }, what: { build: string } | { hex: string }): Promise<{ sent: string }> {
    return this.#command({ op: 'send', to: [to.address, to.port], ...what });
  }

  /** The next datagram, decoded by scapy; undefined after `timeout` seconds. */
  async recv(timeout = 2): Promise<Received | undefined> {
    const r = await this.#command<Received | { timeout: true }>({ op: 'recv', timeout });
    return 'timeout' in r ? undefined : r;
  }

  async request(to: { address: string; port: number }, build: string, timeout = 2): Promise<Received> {
    await this.send(to, { build });
    const r = await this.recv(timeout);
    if (!r) throw new Error(`no response to ${build.slice(0, 80)}`);
    return r;
  }

  close(): void {
    this.#proc.stdin.end();
    this.#proc.kill();
  }
}

/** The first IE of a type in a scapy summary (depth-first through grouped IEs when `deep`). */
export function scapyIe(ies: readonly ScapyIe[], type: number, deep = false): ScapyIe | undefined {
  for (const x of ies) {
    if (x.ietype === type) return x;
    if (deep) {
      const inner = scapyIe(x.ies, type, true);
      if (inner) return inner;
    }
  }
  return undefined;
}

export function scapyIes(ies: readonly ScapyIe[], type: number): ScapyIe[] {
  return ies.filter((x) => x.ietype === type);
}
