// AF_XDP macswap in an unprivileged pod (uid 65534, no capability, no_new_privs, every descriptor
// from `fastlane device-plugin`) against the same config run privileged (root, making its own
// descriptors), interleaved in one invocation on a veth test bed; and the time from Allocate to
// the first packet forwarded.
//
//   npx tsx benches/unprivileged.ts [--seconds 5] [--rounds 5] [--sizes 64,1400] [--write]
//
// Both forwarders are `fastlane run` of one config, started in the forwarder's namespace with the
// data-plane thread pinned to CPU 1, the generator on CPU 0. They differ in one line of the
// config (`"deployment": { "mode": "device_plugin" }`) and in who starts them: the pod through
// setpriv with the environment the plugin's Allocate returned (the socket path pointed at the
// host side of the allocation's directory), the privileged run as root. Each round runs both, in
// an order rotated from round to round, and allocates anew for the pod (a token is good for one
// handoff). The ratio is the median of the per-round ratios pod / privileged.
//
// Allocate to first packet: with the generator already flooding, the time from the kubelet
// stand-in's Allocate call to the pod's "running" line, and to the first frame that comes back.
// `--write` replaces the unprivileged section of benches/RESULTS.md.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';

import { onStopSignal } from '../src-ts/signals';
import { Testbed, type TestbedEnd } from '../src-ts/testbed';
import { TrafficGenerator, udpFrame } from '../src-ts/traffic';
import { FWD_CORE, GEN_CORE, PORT, ROOT, median, parseOptions, reportSection, sleep, spawnUntil, stopProcess, stopRunningForwarders } from './forwarders';

const CLI = path.join(ROOT, 'dist', 'cli.js');
const STANDIN = path.join(ROOT, 'target', 'kubelet-standin-bench');
const NOBODY = 65534;

/** The one config both run; only `deployment` differs. */
function config(dir: string, fwd: TestbedEnd, mode: 'standalone' | 'device_plugin'): string {
  const file = path.join(dir, `macswap-${mode}.json`);
  fs.writeFileSync(file, JSON.stringify({
    name: `bench-${mode}`,
    backend: 'af_xdp',
    ports: [{ interface: fwd.interface, queues: [{ id: 0, core: FWD_CORE }] }],
    filter: { udp_ports: [PORT] },
    // The same UMEM and rings as benches/macswap.ts's Fastlane AF_XDP.
    af_xdp: { bind_mode: 'copy', attach_mode: 'native', need_wakeup: true, umem_frames: 8192, frame_size: 4096, fill_ring_size: 8192 },
    threads: { batch_size: 64 },
    deployment: { mode },
    pipeline: ['macswap'],
  }), { mode: 0o644 });
  return file;
}

/** Lines of a process's output, awaited by pattern. */
class Lines {
  readonly all: string[] = [];
  #waiters: Array<() => void> = [];
  constructor(child: ChildProcess) {
    for (const stream of [child.stdout!, child.stderr!]) {
      readline.createInterface({ input: stream }).on('line', (l) => {
        this.all.push(l);
        this.#waiters.splice(0).forEach((w) => w());
      });
    }
  }

  async find(pattern: RegExp, ms = 20_000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.all.find((l) => pattern.test(l));
      if (hit !== undefined) {
        return hit;
      }
      if (Date.now() > deadline) {
        throw new Error(`no ${pattern} within ${ms} ms:\n${this.all.join('\n')}`);
      }
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }
}

/** A kubelet stand-in and the device plugin offering queue 0 of the forwarder's interface. */
async function devicePlugin(dir: string, fwd: TestbedEnd): Promise<{ allocate(): Promise<Record<string, string>>; stop(): Promise<void> }> {
  const kubeletDir = path.join(dir, 'device-plugins');
  fs.mkdirSync(kubeletDir);
  const sysfs = path.join(dir, 'sys');
  fs.mkdirSync(path.join(sysfs, 'class', 'net', fwd.interface), { recursive: true });
  fs.writeFileSync(path.join(sysfs, 'class', 'net', fwd.interface, 'operstate'), 'up\n');
  const pluginConfig = path.join(dir, 'plugin.json');
  fs.writeFileSync(pluginConfig, JSON.stringify({
    resource_name: 'fastlane.io/bench',
    kubelet_dir: kubeletDir,
    state_dir: path.join(dir, 'state'),
    sysfs,
    interfaces: [{ name: fwd.interface, queues: { first: 0, count: 1 } }],
    allowed_uids: [NOBODY],
  }));
  const standin = spawn(STANDIN, ['-dir', kubeletDir], { stdio: ['pipe', 'pipe', 'pipe'] });
  const kubelet = new Lines(standin);
  const plugin = spawn(process.execPath, [CLI, 'device-plugin', '--config', pluginConfig], { stdio: ['ignore', 'pipe', 'pipe'] });
  new Lines(plugin);
  await kubelet.find(/"event":"devices"/);
  return {
    allocate: async () => {
      const seen = kubelet.all.length;
      standin.stdin!.write(`${JSON.stringify({ op: 'allocate', containers: [[`${fwd.interface}-q0`]] })}\n`);
      for (;;) {
        const line = kubelet.all.slice(seen).find((l) => l.includes('"event":"allocate"') || l.includes('"op":"allocate"'));
        if (line !== undefined) {
          const reply = JSON.parse(line);
          if (reply.event !== 'allocate') {
            throw new Error(`Allocate: ${line}`);
          }
          const response = reply.response.container_responses[0];
          return { ...response.envs, FASTLANE_DEVICE_PLUGIN_SOCKET: path.join(response.mounts[0].host_path, 'handoff.sock') };
        }
        await sleep(1);
      }
    },
    stop: async () => {
      await stopProcess(plugin);
      standin.stdin!.end();
      await new Promise((resolve) => (standin.exitCode !== null ? resolve(null) : standin.once('exit', resolve)));
    },
  };
}

/** `fastlane run` in the forwarder's namespace: as root, or as the pod (setpriv) with `env`. */
function start(fwd: TestbedEnd, file: string, pod: Record<string, string> | undefined): Promise<ChildProcess> {
  const drop = pod === undefined
    ? []
    : ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--'];
  return spawnUntil('ip', ['netns', 'exec', fwd.netns, ...drop, process.execPath, CLI, 'run', file], /fastlane: running/, { ...process.env, ...pod });
}

function generator(bed: Testbed, size: number): TrafficGenerator {
  const { gen, fwd } = bed;
  // Frame sizes are quoted with the 4-byte FCS the wire adds; the frame we build has none.
  const frame = udpFrame({ srcMac: gen.mac, dstMac: fwd.mac, srcIp: gen.address, dstIp: fwd.address, srcPort: PORT, dstPort: PORT }, size - 4);
  return new TrafficGenerator({ netns: gen.netns, interface: gen.interface, frame, core: GEN_CORE, matchUdpPort: PORT });
}

async function measure(bed: Testbed, size: number, seconds: number, run: () => Promise<ChildProcess>): Promise<number> {
  const child = await run();
  const traffic = generator(bed, size);
  try {
    traffic.start();
    await sleep(1000);
    const before = traffic.stats();
    const t0 = performance.now();
    await sleep(seconds * 1000);
    const after = traffic.stats();
    return (after.returnedPackets - before.returnedPackets) / ((performance.now() - t0) / 1000);
  } finally {
    traffic.stop();
    await stopProcess(child);
  }
}

/** With the generator flooding: ms from Allocate to the pod running, and to the first frame back. */
async function allocateToFirstPacket(bed: Testbed, plugin: { allocate(): Promise<Record<string, string>> }, file: string): Promise<[number, number]> {
  const traffic = generator(bed, 64);
  traffic.start();
  let child: ChildProcess | undefined;
  try {
    await sleep(500);
    const t0 = performance.now();
    const env = await plugin.allocate();
    let running = 0;
    const startup = start(bed.fwd, file, env).then((c) => {
      running = performance.now() - t0;
      return c;
    });
    let firstPacket = 0;
    while (firstPacket === 0 && performance.now() - t0 < 30_000) {
      if (traffic.stats().returnedPackets > 0) {
        firstPacket = performance.now() - t0;
      } else {
        await sleep(1);
      }
    }
    child = await startup;
    if (firstPacket === 0) {
      throw new Error('no packet came back within 30 s of Allocate');
    }
    return [running, firstPacket];
  } finally {
    traffic.stop();
    if (child !== undefined) {
      await stopProcess(child);
    }
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2), { seconds: 5, rounds: 5, sizes: [64, 1400], write: false });
  if (!fs.existsSync(CLI)) {
    throw new Error('dist/cli.js is missing: npm run build');
  }
  execFileSync('go', ['build', '-mod=readonly', '-o', STANDIN, '.'], { cwd: path.join(ROOT, 'tests', 'kubelet-standin'), stdio: 'inherit' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fastlane-bench-unpriv-'));
  fs.chmodSync(dir, 0o755);
  const bed = Testbed.up({ prefix: `flu${process.pid % 10000}`, subnet: 193 });
  const plugin = await devicePlugin(dir, bed.fwd);
  onStopSignal(() => {
    stopRunningForwarders();
    bed.down();
  });
  const files = { privileged: config(dir, bed.fwd, 'standalone'), pod: config(dir, bed.fwd, 'device_plugin') };
  const rows: string[] = [];
  const startups: Array<[number, number]> = [];
  try {
    for (const size of options.sizes) {
      const rates = { privileged: [] as number[], pod: [] as number[] };
      for (let round = 0; round < options.rounds; round++) {
        const order = round % 2 === 0 ? (['privileged', 'pod'] as const) : (['pod', 'privileged'] as const);
        for (const who of order) {
          const pps = await measure(bed, size, options.seconds, async () =>
            start(bed.fwd, files[who], who === 'pod' ? await plugin.allocate() : undefined),
          );
          rates[who].push(pps);
          console.log(`${size} B round ${round + 1}: ${who} ${(pps / 1e6).toFixed(3)} Mpps`);
        }
      }
      for (const who of ['privileged', 'pod'] as const) {
        const mine = rates[who];
        const ratio = who === 'pod' ? median(mine.map((r, i) => r / rates.privileged[i]!)).toFixed(3) : '1 (baseline)';
        const name = who === 'pod' ? 'unprivileged pod, descriptors from the device plugin' : 'privileged (root), own descriptors';
        rows.push(`| Fastlane AF_XDP, ${name} | ${size} B | ${(median(mine) / 1e6).toFixed(3)} | ${mine.map((r) => (r / 1e6).toFixed(2)).join(' / ')} | ${ratio} |`);
      }
    }
    for (let round = 0; round < options.rounds; round++) {
      const times = await allocateToFirstPacket(bed, plugin, files.pod);
      startups.push(times);
      console.log(`Allocate to running ${times[0].toFixed(0)} ms, to first packet ${times[1].toFixed(0)} ms`);
    }
  } finally {
    await plugin.stop();
    bed.down();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const command = `npx tsx benches/unprivileged.ts --seconds ${options.seconds} --rounds ${options.rounds} --sizes ${options.sizes.join(',')}${options.write ? ' --write' : ''}`;
  const ms = (xs: number[]) => `${median(xs).toFixed(0)} ms (${xs.map((x) => x.toFixed(0)).join(' / ')})`;
  reportSection('unprivileged', command, [
    '| forwarder (1 core, macswap) | frame | returned Mpps (median) | per round | median ratio pod / privileged |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    `Allocate to the pod's \`fastlane: running\`: ${ms(startups.map((s) => s[0]))}; to the first packet forwarded: ${ms(startups.map((s) => s[1]))} (median, then each round; 64 B flood already running).`,
  ], options.write);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
