// What Prometheus metrics cost. Collection happens only when scraped (the native counters are per
// thread and summed when read), so the packet path does no extra work with metrics on; what is
// left to measure is the scrape itself and whether scraping disturbs forwarding.
//
//   npm run bench:metrics -- [--scrapes 300] [--seconds 5] [--rounds 3] [--scrape-hz 10] [--pairs 20]
//
// 1. Scrape latency with 1 and 8 queues: a macswap data plane on a veth pair with that many queues,
//    in this process; times `stats()` alone, `registry.metrics()` without and with Node's default
//    metrics, and a full HTTP GET /metrics over loopback (client in the same process). Median and
//    p99 in ms.
// 2. Throughput A/B: `fastlane run` pinned to CPU 1 with and without `--metrics`, the metrics one
//    scraped at --scrape-hz (Prometheus' usual interval is 15 s: 10 Hz is 150 times that); the
//    built-in generator floods 64 B frames from CPU 0. Rounds interleave the two; the figure is the
//    median of the per-round ratios (this machine drifts ±15% between runs).
// 3. The same with less drift: one `fastlane run --metrics` process under a steady flood, 1 s windows
//    alternating scraped at --scrape-hz and not scraped (an idle listening socket costs nothing),
//    --pairs pairs in ABBA order; the figure is the median of the per-pair ratios.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { FastlaneConfig } from '../src-ts/config';
import { Dataplane } from '../src-ts/dataplane';
import { createMetricsRegistry, serveMetrics } from '../src-ts/metrics';
import { Testbed, type TestbedEnd } from '../src-ts/testbed';
import { TrafficGenerator, udpFrame } from '../src-ts/traffic';

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const PORT = 9000;
const GEN_CORE = 0;
const FWD_CORE = 1;

interface Options {
  scrapes: number;
  seconds: number;
  rounds: number;
  scrapeHz: number;
  pairs: number;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { scrapes: 300, seconds: 5, rounds: 3, scrapeHz: 10, pairs: 20 };
  const keys: Record<string, keyof Options> = {
    '--scrapes': 'scrapes',
    '--seconds': 'seconds',
    '--rounds': 'rounds',
    '--scrape-hz': 'scrapeHz',
    '--pairs': 'pairs',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const key = keys[argv[i] ?? ''];
    const value = Number(argv[i + 1]);
    if (key === undefined || !(value > 0)) {
      throw new Error(`usage: tsx benches/metrics-scrape.ts [--scrapes N] [--seconds S] [--rounds R] [--scrape-hz HZ] [--pairs P]`);
    }
    options[key] = value;
  }
  return options;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A namespace with one veth end of `queues` queues (the peer stays behind in this namespace's twin). */
function multiQueueBed(prefix: string, queues: number): { netns: string; iface: string; down(): void } {
  const netns = `${prefix}-fwd`;
  const peerNs = `${prefix}-gen`;
  const iface = `${prefix}-f0`;
  const down = () => {
    for (const ns of [netns, peerNs]) {
      try {
        ip('netns', 'delete', ns);
      } catch {
        // Already gone.
      }
    }
  };
  try {
    ip('netns', 'add', netns);
    ip('netns', 'add', peerNs);
    const q = ['numtxqueues', `${queues}`, 'numrxqueues', `${queues}`];
    ip('link', 'add', iface, ...q, 'netns', netns, 'type', 'veth', 'peer', 'name', `${prefix}-g0`, ...q, 'netns', peerNs);
    ip('-n', netns, 'link', 'set', iface, 'up');
    ip('-n', peerNs, 'link', 'set', `${prefix}-g0`, 'up');
  } catch (e) {
    down();
    throw e;
  }
  return { netns, iface, down };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function timeMs(n: number, f: () => unknown): Promise<{ median: number; p99: number }> {
  for (let i = 0; i < Math.min(50, n); i++) {
    await f();
  }
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await f();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return { median: percentile(samples, 50), p99: percentile(samples, 99) };
}

async function scrapeLatency(queues: number, scrapes: number): Promise<string[]> {
  const bed = multiQueueBed(`flms${process.pid % 10000}`, queues);
  try {
    const config: FastlaneConfig = {
      backend: 'af_xdp',
      netns: bed.netns,
      ports: [{ interface: bed.iface, queues: Array.from({ length: queues }, (_, id) => ({ id, core: id % 2 })) }],
      filter: { udp_ports: [PORT] },
      pipeline: ['count', 'macswap'],
    };
    const dataplane = new Dataplane(config);
    dataplane.start();
    const registry = createMetricsRegistry(dataplane);
    const fastlaneOnly = createMetricsRegistry(dataplane, { defaultMetrics: false });
    const server = await serveMetrics(registry, '127.0.0.1:0');
    try {
      const rows: Array<[string, { median: number; p99: number }]> = [
        ['native stats()', await timeMs(scrapes, () => dataplane.stats())],
        ['registry.metrics(), fastlane_* only', await timeMs(scrapes, () => fastlaneOnly.metrics())],
        ['registry.metrics(), with Node defaults', await timeMs(scrapes, () => registry.metrics())],
        ['HTTP GET /metrics', await timeMs(scrapes, async () => (await fetch(server.url)).text())],
      ];
      const lines = (await registry.metrics()).split('\n').filter((l) => l.startsWith('fastlane_')).length;
      return rows.map(
        ([what, t]) => `| ${queues} | ${what} | ${t.median.toFixed(3)} | ${t.p99.toFixed(3)} | ${lines} |`,
      );
    } finally {
      await server.close();
      dataplane.stop();
    }
  } finally {
    bed.down();
  }
}

/** Starts `fastlane run` pinned to the forwarding core; resolves with the process and its metrics URL. */
function startFastlane(config: string, metrics: boolean): Promise<{ child: ChildProcess; url?: string }> {
  const args = ['-c', `${FWD_CORE}`, process.execPath, CLI, 'run', config, ...(metrics ? ['--metrics', '127.0.0.1:0'] : [])];
  return new Promise((resolve, reject) => {
    const child = spawn('taskset', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const url = /fastlane: metrics at (\S+)/.exec(output)?.[1];
      if (/fastlane: running/.test(output) && (!metrics || url !== undefined)) {
        resolve(url === undefined ? { child } : { child, url });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`fastlane run exited with ${code}:\n${output}`)));
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    if (child.exitCode !== null) {
      resolve();
      return;
    }
    child.on('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function forwardedPps(bed: Testbed, config: string, metrics: boolean, options: Options): Promise<number> {
  const { gen, fwd } = bed;
  const { child, url } = await startFastlane(config, metrics);
  let scraping = true;
  let scrapes = 0;
  const scraper = (async () => {
    while (url !== undefined && scraping) {
      await (await fetch(url)).text();
      scrapes++;
      await sleep(1000 / options.scrapeHz);
    }
  })();
  try {
    const frame = udpFrame(frameFields(gen, fwd), 60);
    const generator = new TrafficGenerator({ netns: gen.netns, interface: gen.interface, frame, core: GEN_CORE, matchUdpPort: PORT });
    generator.start();
    try {
      await sleep(1000);
      const before = generator.stats();
      const t0 = performance.now();
      await sleep(options.seconds * 1000);
      const after = generator.stats();
      return (after.returnedPackets - before.returnedPackets) / ((performance.now() - t0) / 1000);
    } finally {
      generator.stop();
    }
  } finally {
    scraping = false;
    await scraper;
    await stop(child);
    if (metrics && scrapes === 0) {
      throw new Error('the metrics run was never scraped');
    }
  }
}

/** Forwarded packets per second over `ms`, scraping `url` at `hz` meanwhile when given. */
async function windowPps(generator: TrafficGenerator, ms: number, url?: string, hz = 0): Promise<number> {
  const before = generator.stats().returnedPackets;
  const t0 = performance.now();
  let scrapes = 0;
  while (performance.now() - t0 < ms) {
    if (url === undefined) {
      await sleep(ms - (performance.now() - t0));
    } else {
      await (await fetch(url)).text();
      scrapes++;
      await sleep(Math.min(1000 / hz, ms - (performance.now() - t0)));
    }
  }
  const pps = (generator.stats().returnedPackets - before) / ((performance.now() - t0) / 1000);
  if (url !== undefined && scrapes === 0) {
    throw new Error('a scraped window was never scraped');
  }
  return pps;
}

async function windowedRatio(bed: Testbed, config: string, options: Options): Promise<string> {
  const { gen, fwd } = bed;
  const { child, url } = await startFastlane(config, true);
  try {
    const generator = new TrafficGenerator({
      netns: gen.netns,
      interface: gen.interface,
      frame: udpFrame(frameFields(gen, fwd), 60),
      core: GEN_CORE,
      matchUdpPort: PORT,
    });
    generator.start();
    try {
      await sleep(1000);
      const ratios: number[] = [];
      let on = 0;
      let off = 0;
      for (let pair = 0; pair < options.pairs; pair++) {
        const scrapedFirst = pair % 2 === 0;
        const first = await windowPps(generator, 1000, scrapedFirst ? url : undefined, options.scrapeHz);
        const second = await windowPps(generator, 1000, scrapedFirst ? undefined : url, options.scrapeHz);
        const [scraped, idle] = scrapedFirst ? [first, second] : [second, first];
        ratios.push(scraped / idle);
        on += scraped;
        off += idle;
      }
      const sorted = [...ratios].sort((a, b) => a - b);
      return (
        `${options.pairs} pairs of 1 s windows in one process, scraped at ${options.scrapeHz} Hz vs not: ` +
        `median per-pair ratio ${median(ratios).toFixed(3)} (quartiles ${percentile(sorted, 25).toFixed(3)}–` +
        `${percentile(sorted, 75).toFixed(3)}), ratio of totals ${(on / off).toFixed(3)}, ` +
        `${(off / options.pairs / 1e6).toFixed(3)} Mpps unscraped`
      );
    } finally {
      generator.stop();
    }
  } finally {
    await stop(child);
  }
}

function frameFields(gen: TestbedEnd, fwd: TestbedEnd) {
  return { srcMac: gen.mac, dstMac: fwd.mac, srcIp: gen.address, dstIp: fwd.address, srcPort: PORT, dstPort: PORT };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const latency = [
    '| queues | what | median ms | p99 ms | fastlane_* series |',
    '|---|---|---|---|---|',
    ...(await scrapeLatency(1, options.scrapes)),
    ...(await scrapeLatency(8, options.scrapes)),
  ];
  console.log(latency.join('\n'));

  const bed = Testbed.up({ prefix: `flmt${process.pid % 10000}`, subnet: 191 });
  const file = path.join(os.tmpdir(), `fastlane-metrics-bench-${process.pid}.json`);
  try {
    fs.writeFileSync(
      file,
      JSON.stringify({
        backend: 'af_xdp',
        netns: bed.fwd.netns,
        ports: [{ interface: bed.fwd.interface, queues: [{ id: 0, core: FWD_CORE }] }],
        filter: { udp_ports: [PORT] },
        af_xdp: { bind_mode: 'copy', attach_mode: 'native', need_wakeup: true, umem_frames: 8192, frame_size: 4096 },
        threads: { batch_size: 64 },
        pipeline: ['macswap'],
      }),
    );
    const ratios: number[] = [];
    const rows: string[] = [];
    for (let round = 0; round < options.rounds; round++) {
      const order = round % 2 === 0 ? [false, true] : [true, false];
      const pps = new Map<boolean, number>();
      for (const metrics of order) {
        pps.set(metrics, await forwardedPps(bed, file, metrics, options));
      }
      const off = pps.get(false)!;
      const on = pps.get(true)!;
      ratios.push(on / off);
      rows.push(`| ${round + 1} | ${(off / 1e6).toFixed(3)} | ${(on / 1e6).toFixed(3)} | ${(on / off).toFixed(3)} |`);
      console.log(rows[rows.length - 1]);
    }
    console.log(
      [
        `\n64 B macswap, metrics scraped at ${options.scrapeHz} Hz vs no metrics, ${options.seconds} s per run:`,
        '| round | off Mpps | on Mpps | on/off |',
        '|---|---|---|---|',
        ...rows,
        `median on/off ratio: ${median(ratios).toFixed(3)}`,
      ].join('\n'),
    );
    console.log(`\n${await windowedRatio(bed, file, options)}`);
  } finally {
    fs.rmSync(file, { force: true });
    bed.down();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
