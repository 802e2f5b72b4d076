// Single-core macswap throughput on a veth test bed: Fastlane (AF_XDP) against a plain C AF_XDP
// forwarder and a kernel UDP socket echo, run side by side in one invocation.
//
//   npm run bench:macswap -- [--seconds 5] [--rounds 5] [--sizes 64,1400] [--forwarders a,b,...] [--write]
//
// Forwarders: fastlane (run to completion), fastlane-mw (master-worker: the I/O thread and one
// worker, both on CPU 1), fastlane-rules (examples/rules-plugin looking each packet's destination
// up among 20,000 rules in shared memory, then macswap), c (plain C AF_XDP), udp (kernel UDP
// socket echo); default fastlane,c,udp.
//
// The built-in generator floods from CPU 0; each forwarder runs pinned to CPU 1 in its own
// process. Each round runs every forwarder once, in an order rotated from round to round, so that
// slow drift of this noisy machine hits all of them alike; the figure quoted for a forwarder is the
// median of its rounds, and its ratio is the median of the per-round ratios to the baseline.
// `--write` replaces the macswap section of benches/RESULTS.md.

import { execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { FWD_CORE, GEN_CORE, PORT, ROOT, median, reportSection, sleep, spawnUntil, stopProcess, stopRunningForwarders } from './forwarders';
import { SharedRegion } from '../src-ts/shm';
import { Testbed, type TestbedEnd } from '../src-ts/testbed';
import { TrafficGenerator, udpFrame } from '../src-ts/traffic';
import { onStopSignal } from '../src-ts/signals';

const NATIVE = path.join(ROOT, 'benches', 'native', 'build');
const RULES_REGION = `fl-bench-rules-${process.pid}`;
const RULES_PLUGIN = path.join(ROOT, 'examples', 'rules-plugin', 'target', 'release', 'librules_plugin.so');

/** 20,000 rules, one of them for the forwarder's address, as a UPF holds its PDRs. */
function installRules(fwdAddress: string): SharedRegion {
  execFileSync('cargo', ['build', '-q', '--release', '--manifest-path', path.join(ROOT, 'examples', 'rules-plugin', 'Cargo.toml')], {
    stdio: 'inherit',
    env: { ...process.env, CARGO_TARGET_DIR: path.join(ROOT, 'examples', 'rules-plugin', 'target') },
  });
  const region = SharedRegion.create(RULES_REGION, { tables: [{ name: 'rules', keySize: 4, valueSize: 8, capacity: 65536 }] });
  const rules = region.table('rules');
  const forward = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]);
  for (let i = 0; i < 19_999; i++) {
    rules.set(Buffer.from([10, 100 + (i >> 16), (i >> 8) & 0xff, i & 0xff]), forward);
  }
  rules.set(Buffer.from(fwdAddress.split('.').map(Number)), forward);
  return region;
}

interface Options {
  forwarders: string[];
  seconds: number;
  rounds: number;
  sizes: number[];
  write: boolean;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { forwarders: ['fastlane', 'c', 'udp'], seconds: 5, rounds: 5, sizes: [64, 1400], write: false };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    switch (argv[i]) {
      case '--seconds':
        options.seconds = Number(value);
        i++;
        break;
      case '--rounds':
        options.rounds = Number(value);
        i++;
        break;
      case '--sizes':
        options.sizes = String(value).split(',').map(Number);
        i++;
        break;
      case '--forwarders':
        options.forwarders = String(value).split(',');
        i++;
        break;
      case '--write':
        options.write = true;
        break;
      default:
        throw new Error(`unknown option ${argv[i]}`);
    }
  }
  return options;
}

interface Forwarder {
  key: string;
  name: string;
  /** Starts the forwarder; resolves once it is ready, with the process to stop afterwards. */
  start(fwd: TestbedEnd, gen: TestbedEnd): Promise<ChildProcess>;
}


const inNetns = (netns: string, ...command: string[]) => [`--net=/run/netns/${netns}`, 'taskset', '-c', `${FWD_CORE}`, ...command];

function fastlaneForwarder(key: string, name: string, threads: object, pipeline: unknown[] = ['macswap']): Forwarder {
  return {
    key,
    name,
    start: (fwd) => {
      const config = {
        name: 'bench-macswap',
        backend: 'af_xdp',
        netns: fwd.netns,
        ports: [{ interface: fwd.interface, queues: [{ id: 0, core: FWD_CORE }] }],
        filter: { udp_ports: [PORT] },
        // The same UMEM and rings as the C forwarder: 8192 frames of 4096 B, all of them in the fill ring.
        af_xdp: { bind_mode: 'copy', attach_mode: 'native', need_wakeup: true, umem_frames: 8192, frame_size: 4096, fill_ring_size: 8192 },
        threads: { batch_size: 64, ...threads },
        pipeline,
      };
      const file = path.join(os.tmpdir(), `fastlane-bench-${process.pid}.json`);
      fs.writeFileSync(file, JSON.stringify(config));
      const cli = path.join(ROOT, 'dist', 'cli.js');
      // Node's own threads (the control plane) are not pinned to the forwarding core: the
      // data-plane thread pins itself to FWD_CORE, and runs there as each C forwarder does.
      return spawnUntil(process.execPath, [cli, 'run', file], /fastlane: running/);
    },
  };
}

const allForwarders: Forwarder[] = [
  fastlaneForwarder('fastlane', 'Fastlane AF_XDP', {}),
  fastlaneForwarder('fastlane-mw', 'Fastlane AF_XDP master-worker', {
    model: 'master_worker',
    worker_cores: [FWD_CORE],
    worker_ring_size: 256,
  }),
  fastlaneForwarder('fastlane-rules', 'Fastlane AF_XDP + 20K shared-memory rules', {}, [
    { type: 'plugin', path: RULES_PLUGIN, config: { region: RULES_REGION, table: 'rules', capacity: 65536 } },
    'macswap',
  ]),
  {
    key: 'c',
    name: 'C AF_XDP (libxdp)',
    start: (fwd) =>
      spawnUntil('nsenter', inNetns(fwd.netns, path.join(NATIVE, 'xsk_macswap'), fwd.interface, '--port', `${PORT}`, '--copy'), /xsk_macswap: /),
  },
  {
    key: 'udp',
    name: 'kernel UDP echo',
    start: (fwd, gen) => {
      // Generator frames arrive through the XDP path: the receiving end needs a native program.
      execFileSync('ip', ['-n', fwd.netns, 'link', 'set', 'dev', fwd.interface, 'xdpdrv', 'obj', path.join(NATIVE, 'xdp_pass.bpf.o'), 'sec', 'xdp']);
      execFileSync('ip', ['-n', fwd.netns, 'neigh', 'replace', gen.address, 'lladdr', gen.mac, 'dev', fwd.interface, 'nud', 'permanent']);
      return spawnUntil('nsenter', inNetns(fwd.netns, path.join(NATIVE, 'udp_echo'), `${fwd.address}:${PORT}`), /udp_echo: listening/);
    },
  },
];

function detachPass(fwd: TestbedEnd): void {
  execFileSync('ip', ['-n', fwd.netns, 'link', 'set', 'dev', fwd.interface, 'xdpdrv', 'off']);
}


async function measure(forwarder: Forwarder, bed: Testbed, size: number, seconds: number): Promise<number> {
  const { gen, fwd } = bed;
  const child = await forwarder.start(fwd, gen);
  try {
    // Frame sizes are quoted with the 4-byte FCS the wire adds; the frame we build has none.
    const frame = udpFrame(
      { srcMac: gen.mac, dstMac: fwd.mac, srcIp: gen.address, dstIp: fwd.address, srcPort: PORT, dstPort: PORT },
      size - 4,
    );
    const generator = new TrafficGenerator({ netns: gen.netns, interface: gen.interface, frame, core: GEN_CORE, matchUdpPort: PORT });
    generator.start();
    try {
      await sleep(1000);
      const before = generator.stats();
      const t0 = performance.now();
      await sleep(seconds * 1000);
      const after = generator.stats();
      const elapsed = (performance.now() - t0) / 1000;
      return (after.returnedPackets - before.returnedPackets) / elapsed;
    } finally {
      generator.stop();
    }
  } finally {
    await stopProcess(child);
    if (forwarder.name === 'kernel UDP echo') {
      detachPass(fwd);
    }
  }
}


async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const forwarders = allForwarders.filter((f) => options.forwarders.includes(f.key));
  if (!forwarders.some((f) => f.key === 'c')) {
    throw new Error('the C AF_XDP baseline (c) is what the ratios are to: include it');
  }
  execFileSync('make', ['-s', '-C', path.join(ROOT, 'benches', 'native')], { stdio: 'inherit' });
  const bed = Testbed.up({ prefix: `flb${process.pid % 10000}`, subnet: 190 });
  const rules = forwarders.some((f) => f.key === 'fastlane-rules') ? installRules(bed.fwd.address) : undefined;
  const cleanup = () => {
    bed.down();
    if (rules !== undefined) {
      rules.close();
      SharedRegion.unlink(RULES_REGION);
    }
  };
  onStopSignal(() => {
    stopRunningForwarders();
    cleanup();
  });
  const rows: string[] = [];
  try {
    for (const size of options.sizes) {
      const rates = new Map<string, number[]>(forwarders.map((f) => [f.name, []]));
      for (let round = 0; round < options.rounds; round++) {
        const order = forwarders.map((_, i) => forwarders[(i + round) % forwarders.length]!);
        for (const forwarder of order) {
          const pps = await measure(forwarder, bed, size, options.seconds);
          rates.get(forwarder.name)!.push(pps);
          console.log(`${size} B round ${round + 1}: ${forwarder.name} ${(pps / 1e6).toFixed(3)} Mpps`);
        }
      }
      const baseline = rates.get('C AF_XDP (libxdp)')!;
      for (const forwarder of forwarders) {
        const mine = rates.get(forwarder.name)!;
        const ratios = mine.map((r, i) => r / baseline[i]!);
        rows.push(
          `| ${forwarder.name} | ${size} B | ${(median(mine) / 1e6).toFixed(3)} | ` +
            `${mine.map((r) => (r / 1e6).toFixed(2)).join(' / ')} | ${median(ratios).toFixed(3)} |`,
        );
      }
    }
  } finally {
    cleanup();
  }
  const table = [
    '| forwarder (1 core, macswap) | frame | returned Mpps (median) | per round | median ratio to C AF_XDP |',
    '|---|---|---|---|---|',
    ...rows,
  ].join('\n');
  const command =
    `npm run bench:macswap -- --seconds ${options.seconds} --rounds ${options.rounds} --sizes ${options.sizes.join(',')} ` +
    `--forwarders ${options.forwarders.join(',')}${options.write ? ' --write' : ''}`;
  reportSection('macswap', command, table.split('\n'), options.write);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
