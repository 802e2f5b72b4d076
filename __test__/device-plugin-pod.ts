// What the device-plugin tests share: the real `fastlane device-plugin` driven by the Go kubelet
// stand-in (tests/kubelet-standin), and a "pod" started the way a container runtime would start
// an unprivileged one (uid 65534, no capability in any set, no_new_privs) in its own namespace.

import type { ExecutionContext } from 'ava';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';

import { CLI, ROOT } from './helpers';

const STANDIN_SRC = path.join(ROOT, 'tests', 'kubelet-standin');
export const STANDIN = path.join(ROOT, 'target', 'kubelet-standin-handoff');
export const NOBODY = 65534;

/** Builds the kubelet stand-in (once per test file's before hook). */
export function buildStandin(): void {
  execFileSync('go', ['build', '-mod=readonly', '-o', STANDIN, '.'], { cwd: STANDIN_SRC, stdio: 'pipe' });
}

/** Lines of a child's output; next() waits for the first line after the last match. */
export class Lines {
  readonly all: string[] = [];
  #cursor = 0;
  constructor(readonly child: ChildProcess) {
    readline.createInterface({ input: child.stdout! }).on('line', (l) => this.all.push(l));
    readline.createInterface({ input: child.stderr! }).on('line', (l) => this.all.push(l));
  }

  async next(what: string, match: (line: string) => boolean, ms = 15_000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      while (this.#cursor < this.all.length) {
        const line = this.all[this.#cursor++]!;
        if (match(line)) {
          return line;
        }
      }
      if (Date.now() > deadline) {
        throw new Error(`no ${what} within ${ms} ms; output so far:\n${this.all.join('\n')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

export const exited = (child: ChildProcess): Promise<number | null> =>
  child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('exit', (code) => resolve(code)));

export interface Plugin {
  dir: string;
  /** The plugin process running now, and its output. */
  plugin: ChildProcess;
  log: Lines;
  kubelet: Lines;
  allocate(devices: string[]): Promise<{ envs: Record<string, string>; hostDir: string }>;
  /** Stops the plugin with SIGTERM and starts it again; resolves once it registered again. */
  restart(): Promise<void>;
}

/** A kubelet stand-in and `fastlane device-plugin` offering queue 0 of each of `interfaces`. */
export async function devicePlugin(t: ExecutionContext, resource: string, interfaces: string[]): Promise<Plugin> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fastlane-dph-'));
  fs.chmodSync(dir, 0o755); // the pod's uid reaches the socket below it
  const kubeletDir = path.join(dir, 'device-plugins');
  fs.mkdirSync(kubeletDir);
  // The plugin's health check reads the link state; the interfaces live in the pod's namespace.
  const sysfs = path.join(dir, 'sys');
  for (const name of interfaces) {
    fs.mkdirSync(path.join(sysfs, 'class', 'net', name), { recursive: true });
    fs.writeFileSync(path.join(sysfs, 'class', 'net', name, 'operstate'), 'up\n');
  }
  const configFile = path.join(dir, 'plugin.json');
  fs.writeFileSync(configFile, JSON.stringify({
    resource_name: resource,
    kubelet_dir: kubeletDir,
    state_dir: path.join(dir, 'state'),
    sysfs,
    health_poll_ms: 50,
    interfaces: interfaces.map((name) => ({ name, queues: { first: 0, count: 1 } })),
    allowed_uids: [NOBODY],
  }));
  const standin = spawn(STANDIN, ['-dir', kubeletDir], { stdio: ['pipe', 'pipe', 'pipe'] });
  const kubelet = new Lines(standin);
  const plugins: ChildProcess[] = [];
  const startPlugin = (): { plugin: ChildProcess; log: Lines } => {
    const plugin = spawn(process.execPath, [CLI, 'device-plugin', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    plugins.push(plugin);
    return { plugin, log: new Lines(plugin) };
  };
  t.teardown(async () => {
    for (const plugin of plugins) {
      plugin.kill('SIGKILL');
    }
    standin.stdin!.end();
    await Promise.all([...plugins.map(exited), exited(standin)]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const first = startPlugin();
  await kubelet.next('ListAndWatch', (l) => l.includes('"event":"devices"'));
  const p: Plugin = {
    dir, kubelet, ...first,
    allocate: async (devices) => {
      standin.stdin!.write(`${JSON.stringify({ op: 'allocate', containers: [devices] })}\n`);
      const line = JSON.parse(await kubelet.next('Allocate reply', (l) => l.includes('"op"') || l.includes('"event":"allocate"')));
      if (line.event !== 'allocate') {
        throw new Error(`Allocate failed: ${JSON.stringify(line)}`);
      }
      const response = line.response.container_responses[0];
      return { envs: response.envs, hostDir: response.mounts[0].host_path };
    },
    restart: async () => {
      p.plugin.kill('SIGTERM');
      const code = await exited(p.plugin);
      if (code !== 0) {
        throw new Error(`the plugin exited with ${code}:\n${p.log.all.join('\n')}`);
      }
      Object.assign(p, startPlugin());
      await kubelet.next('ListAndWatch again', (l) => l.includes('"event":"devices"'));
    },
  };
  return p;
}

/**
 * `command` in namespace `netns` as `uid` with no capability in any set and no_new_privs, its
 * environment only PATH and `env` (what Allocate returned); killed at the test's end if running.
 */
export function startPod(t: ExecutionContext, netns: string, command: string[], env: Record<string, string>, uid = NOBODY): { child: ChildProcess; lines: Lines } {
  const child = spawn('ip', [
    'netns', 'exec', netns,
    'setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--',
    ...command,
  ], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited(child);
    }
  });
  return { child, lines: new Lines(child) };
}

export function procStatus(pid: number): Record<string, string> {
  return Object.fromEntries(
    fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').filter((l) => l.includes(':')).map((l) => {
      const [k, ...v] = l.split(':');
      return [k!, v.join(':').trim()];
    }),
  );
}
