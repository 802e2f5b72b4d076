// The single-core macswap forwarders the benchmarks of issue 3 compare: Fastlane on each backend
// (`node dist/cli.js run CONFIG`, pinned with taskset) and the native program each backend is
// measured against, each in its own process pinned to FWD_CORE in the forwarder's namespace.
// Shared by benches/backends.ts (throughput) and benches/latency.ts (round-trip latency).

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { TestbedEnd } from '../src-ts/testbed';

export const ROOT = path.join(__dirname, '..');
export const NATIVE_DIR = path.join(ROOT, 'benches', 'native');
const NATIVE = path.join(NATIVE_DIR, 'build');
export const PORT = 9000;
export const FWD_CORE = 1;
export const GEN_CORE = 0;

export interface Forwarder {
  name: string;
  /**
   * Frames that enter the forwarder's veth through the XDP path (the generator's XDP_TX) are
   * dropped unless that end has a native XDP program: forwarders that attach none get
   * `xdp_pass` for their run.
   */
  attachesXdp: boolean;
  /** Starts the forwarder; resolves once it is ready, with the process to stop afterwards. */
  start(fwd: TestbedEnd, gen: TestbedEnd): Promise<ChildProcess>;
}

/** Spawns `command` and resolves when `ready` appears on its output. */
/** Forwarders running now: a benchmark stopped by a signal stops them before removing its test bed. */
const running = new Set<ChildProcess>();

/** SIGTERM to every forwarder still running (they remove what they made themselves). */
export function stopRunningForwarders(): void {
  for (const child of running) {
    child.kill('SIGTERM');
  }
}

export function spawnUntil(command: string, args: string[], ready: RegExp, env?: NodeJS.ProcessEnv): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    running.add(child);
    child.once('exit', () => running.delete(child));
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`${command} ${args.join(' ')}: not ready after 30 s:\n${output}`));
    }, 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (ready.test(output)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited with ${code} before it was ready:\n${output}`));
    });
  });
}

export function stopProcess(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    child.removeAllListeners('exit');
    child.on('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

const inNetns = (netns: string, ...command: string[]) => [`--net=/run/netns/${netns}`, 'taskset', '-c', `${FWD_CORE}`, ...command];

/**
 * `fastlane run` of a one-port, one-queue macswap config on `backend`, pinned to FWD_CORE, with the
 * CLI of the build tree `root` (this one, or another build for a before/after comparison).
 */
function fastlane(fwd: TestbedEnd, backend: Backend, sections: object, batchSize: number, root: string): Promise<ChildProcess> {
  const config = {
    name: `bench-${backend}`,
    backend,
    netns: fwd.netns,
    ports: [{ interface: fwd.interface, queues: [{ id: 0, core: FWD_CORE }] }],
    filter: { udp_ports: [PORT] },
    ...sections,
    threads: { batch_size: batchSize },
    pipeline: ['macswap'],
  };
  const file = path.join(os.tmpdir(), `fastlane-bench-${process.pid}-${backend}.json`);
  fs.writeFileSync(file, JSON.stringify(config));
  const cli = path.join(root, 'dist', 'cli.js');
  // Node's own threads (the control plane) are not pinned to the forwarding core: the
  // data-plane thread pins itself to FWD_CORE, and runs there as each C forwarder does.
  return spawnUntil(process.execPath, [cli, 'run', file], /fastlane: running/);
}

/**
 * The vdev string DPDK's net_af_xdp PMD needs for queue 0 of `iface` (same as testpmd.sh); `index`
 * tells apart the vdevs of one process.
 */
const afXdpVdev = (iface: string, index = 0) => `net_af_xdp${index},iface=${iface},start_queue=0,queue_count=1`;

export type Backend = 'af_xdp' | 'dpdk' | 'af_packet';

/** The same UMEM and rings as the C forwarder: 8192 frames of 4096 B, all of them in the fill ring. */
export const AF_XDP_SECTION = {
  af_xdp: { bind_mode: 'copy', attach_mode: 'native', need_wakeup: true, umem_frames: 8192, frame_size: 4096, fill_ring_size: 8192 },
};

/** Ordinary pages, like testpmd.sh: the comparisons are about the forwarding, not the memory. */
export function dpdkSection(interfaces: string[]): object {
  const devices = Object.fromEntries(interfaces.map((iface, i) => [iface, afXdpVdev(iface, i)]));
  return { dpdk: { devices, huge_pages: false, memory_mb: 512, mbufs: 16384 } };
}

/** A Fastlane forwarder, which can also run from another build tree. */
export interface FastlaneForwarder extends Forwarder {
  startFrom(root: string, fwd: TestbedEnd): Promise<ChildProcess>;
}

function fastlaneForwarder(name: string, backend: Backend, sections: (fwd: TestbedEnd) => object, batchSize = 64): FastlaneForwarder {
  // Fastlane's backends all attach an XDP program except AF_PACKET.
  const attachesXdp = backend !== 'af_packet';
  const startFrom = (root: string, fwd: TestbedEnd) => fastlane(fwd, backend, sections(fwd), batchSize, root);
  return { name, attachesXdp, startFrom, start: (fwd) => startFrom(ROOT, fwd) };
}

/** `forwarder` run from the build tree `root` (checked for `dist/cli.js`), named by `label`. */
export function fromTree(forwarder: FastlaneForwarder, root: string, label: string): Forwarder {
  if (!fs.existsSync(path.join(root, 'dist', 'cli.js'))) {
    throw new Error(`${root}/dist/cli.js is missing: npm run build in that tree`);
  }
  return { name: `${forwarder.name} @ ${label}`, attachesXdp: forwarder.attachesXdp, start: (fwd) => forwarder.startFrom(root, fwd) };
}

export const FASTLANE_AF_XDP = fastlaneForwarder('Fastlane AF_XDP', 'af_xdp', () => AF_XDP_SECTION);

export const FASTLANE_DPDK = fastlaneForwarder('Fastlane DPDK (net_af_xdp)', 'dpdk', (fwd) => dpdkSection([fwd.interface]));

// Like tpacket_reflector, leave the kernel stack its copy of every frame (tc ingress could not
// drop them for the C program here: no flower classifier, no gact action in this kernel).
// Bursts of 256, as tpacket_reflector sends per sendmmsg.
// No reserved headroom either, as the reflector has none: macswap prepends nothing.
export const FASTLANE_AF_PACKET = fastlaneForwarder(
  'Fastlane AF_PACKET',
  'af_packet',
  () => ({ af_packet: { block_timeout_ms: 1, suppress_kernel: false, headroom: 0 } }),
  256,
);

export const XSK_MACSWAP: Forwarder = {
  name: 'C AF_XDP (xsk_macswap)',
  attachesXdp: true,
  start: (fwd) =>
    spawnUntil('nsenter', inNetns(fwd.netns, path.join(NATIVE, 'xsk_macswap'), fwd.interface, '--port', `${PORT}`, '--copy'), /xsk_macswap: /),
};

export const TESTPMD_AF_XDP: Forwarder = {
  name: 'testpmd macswap (net_af_xdp)',
  attachesXdp: true,
  start: (fwd) => spawnUntil('nsenter', inNetns(fwd.netns, path.join(NATIVE_DIR, 'testpmd.sh'), fwd.interface, 'af_xdp'), /testpmd\.sh: forwarding/),
};

export const TPACKET_REFLECTOR: Forwarder = {
  name: 'C TPACKET_V3 (tpacket_reflector)',
  attachesXdp: false,
  start: (fwd) =>
    spawnUntil(
      'nsenter',
      inNetns(fwd.netns, path.join(NATIVE, 'tpacket_reflector'), fwd.interface, '--port', `${PORT}`, '--block-timeout-ms', '1'),
      /tpacket_reflector: /,
    ),
};

export const UDP_ECHO: Forwarder = {
  name: 'kernel UDP echo',
  attachesXdp: false,
  start: (fwd, gen) => {
    // Replies go through the neighbour table: do not make the first ones wait for ARP.
    execFileSync('ip', ['-n', fwd.netns, 'neigh', 'replace', gen.address, 'lladdr', gen.mac, 'dev', fwd.interface, 'nud', 'permanent']);
    return spawnUntil('nsenter', inNetns(fwd.netns, path.join(NATIVE, 'udp_echo'), `${fwd.address}:${PORT}`), /udp_echo: listening/);
  },
};

/** Runs `body` with `forwarder` started (and `xdp_pass` on the forwarder's end if it needs it). */
export async function withForwarder<T>(forwarder: Forwarder, fwd: TestbedEnd, gen: TestbedEnd, body: () => Promise<T>): Promise<T> {
  if (!forwarder.attachesXdp) {
    execFileSync('ip', ['-n', fwd.netns, 'link', 'set', 'dev', fwd.interface, 'xdpdrv', 'obj', path.join(NATIVE, 'xdp_pass.bpf.o'), 'sec', 'xdp']);
  }
  try {
    const child = await forwarder.start(fwd, gen);
    try {
      return await body();
    } finally {
      await stopProcess(child);
    }
  } finally {
    if (!forwarder.attachesXdp) {
      execFileSync('ip', ['-n', fwd.netns, 'link', 'set', 'dev', fwd.interface, 'xdpdrv', 'off']);
    }
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** Builds the native baselines (and checks `dist/cli.js` is there for the Fastlane variants). */
export function buildNative(): void {
  execFileSync('make', ['-s', '-C', NATIVE_DIR], { stdio: 'inherit' });
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli.js'))) {
    throw new Error('dist/cli.js is missing: npm run build');
  }
}

/** The "Measured ... with:" header of a RESULTS.md section. */
export function provenance(command: string): string[] {
  const commit = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  return [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} vCPUs, kernel ${os.release()}, commit ${commit}, with:`,
    '',
    '```sh',
    command,
    '```',
    '',
  ];
}

/** Replaces the `<!-- NAME:begin -->` ... `<!-- NAME:end -->` section of benches/RESULTS.md. */
export function writeSection(name: string, section: string): void {
  const file = path.join(ROOT, 'benches', 'RESULTS.md');
  const text = fs.readFileSync(file, 'utf8');
  const pattern = new RegExp(`<!-- ${name}:begin -->[\\s\\S]*<!-- ${name}:end -->`);
  if (!pattern.test(text)) {
    throw new Error(`benches/RESULTS.md lacks the <!-- ${name}:begin/end --> markers`);
  }
  fs.writeFileSync(file, text.replace(pattern, () => section));
}

/** Prints the `NAME` section of benches/RESULTS.md (provenance, then `table`) and, with `write`,
 * puts it in place of the file's current one. */
export function reportSection(name: string, command: string, table: string[], write: boolean): void {
  const section = [`<!-- ${name}:begin -->`, ...provenance(command), ...table, `<!-- ${name}:end -->`].join('\n');
  console.log(`\n${section}`);
  if (write) {
    writeSection(name, section);
  }
}

/** Parses `--name value` options and boolean `--flags` into `defaults`' shape. */
export function parseOptions<T extends Record<string, number | number[] | boolean | string[] | string>>(argv: string[], defaults: T): T {
  const options: Record<string, number | number[] | boolean | string[] | string> = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i]!.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const current = options[key];
    if (!argv[i]!.startsWith('--') || current === undefined) {
      throw new Error(`unknown option ${argv[i]}`);
    }
    if (typeof current === 'boolean') {
      options[key] = true;
      continue;
    }
    const value = argv[++i];
    if (value === undefined) {
      throw new Error(`${argv[i - 1]} needs a value`);
    }
    if (Array.isArray(current)) {
      options[key] = typeof current[0] === 'string' ? value.split(',') : value.split(',').map(Number);
    } else if (typeof current === 'string') {
      options[key] = value;
    } else {
      options[key] = Number(value);
    }
  }
  return options as T;
}
