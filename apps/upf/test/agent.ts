// Drives apps/upf/test/gtpu_agent.py, a scapy process inside one namespace of the test bed: it
// sends frames scapy builds and returns captured frames as scapy decodes them.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const root = join(__dirname, '..', '..', '..');
const python = join(root, 'target', 'pyenv', 'bin', 'python');
const script = join(__dirname, 'gtpu_agent.py');

export interface Layer {
  name: string;
  fields: Record<string, unknown>;
}
export interface Check {
  layer: string;
  index: number;
  checksum_ok?: boolean;
  /** The checksum field's value. */
  checksum?: number;
  length_ok?: boolean;
}
export interface Captured {
  layers: Layer[];
  checks: Check[];
  hex: string;
  time: number;
}

export class Agent {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #waiting: Array<(answer: Record<string, unknown>) => void> = [];
  #stderr = '';

  /** Starts the agent on `iface` in namespace `netns`; throws when scapy's venv is missing. */
  constructor(readonly netns: string, readonly iface: string) {
    if (!existsSync(python)) {
      throw new Error(`${python} is missing: run scripts/bootstrap (it installs scapy in a venv)`);
    }
    this.#child = spawn('ip', ['netns', 'exec', netns, python, script, iface], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stderr.on('data', (d: Buffer) => (this.#stderr += d.toString()));
    createInterface({ input: this.#child.stdout }).on('line', (line) => {
      this.#waiting.shift()?.(JSON.parse(line) as Record<string, unknown>);
    });
    this.#child.on('exit', () => {
      for (const w of this.#waiting.splice(0)) {
        w({ ok: false, error: `agent in ${netns} exited: ${this.#stderr}` });
      }
    });
  }

  async #ask(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    const answer = new Promise<Record<string, unknown>>((resolve) => this.#waiting.push(resolve));
    this.#child.stdin.write(`${JSON.stringify(command)}\n`);
    const result = await answer;
    if (result.ok !== true) {
      throw new Error(`agent in ${this.netns}: ${String(result.error)}`);
    }
    return result;
  }

  /** Starts capturing every frame the interface receives. */
  async start(): Promise<void> {
    await this.#ask({ op: 'start' });
  }

  /** Sends each frame (a scapy expression; the list `repeat` times), `gapUs` apart; resolves with the seconds it took. */
  async send(frames: string[], gapUs = 0, repeat = 1): Promise<number> {
    return (await this.#ask({ op: 'send', frames, gap_us: gapUs, repeat })).seconds as number;
  }

  /** Stops capturing (after `lingerMs` more) and returns what arrived, decoded by scapy. */
  async stop(lingerMs = 300): Promise<Captured[]> {
    return (await this.#ask({ op: 'stop', linger_ms: lingerMs })).frames as Captured[];
  }

  /** Captures what arrives while `action` runs. */
  async capture(action: () => Promise<unknown>, lingerMs = 300): Promise<Captured[]> {
    await this.start();
    await action();
    return this.stop(lingerMs);
  }

  close(): void {
    if (this.#child.exitCode === null) {
      this.#child.stdin.end(`${JSON.stringify({ op: 'quit' })}\n`);
      setTimeout(() => this.#child.kill('SIGKILL'), 2000).unref();
    }
  }
}

/** The layer named `name` (the `nth` one, from 0), or undefined. */
export function layer(frame: Captured, name: string, nth = 0): Layer | undefined {
  return frame.layers.filter((l) => l.name === name)[nth];
}
