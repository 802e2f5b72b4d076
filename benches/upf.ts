// UPF throughput on one core against Fastlane macswap on the same test bed (issue 8's benchmark).
//
//   npm run bench:upf -- [--backends af_xdp,dpdk] [--sizes 64,1400] [--rounds 5] [--seconds 5]
//                        [--ues 10000] [--forwarders upf,macswap] [--note TEXT] [--write] [--dry-run]
//
// Test bed: apps/upf/test/testbed.ts (gNB ── N3 · UPF · N6 ── DN, three namespaces). Each
// forwarder runs one queue on each of N3 and N6, both on CPU 1, from the Fastlane config derived
// from one UPF config: the UPF (apps/upf's application, as `fastlane upf run` starts it, with 10K
// sessions of 2 PDRs, 2 FARs, 1 QER and 2 URRs each created through its UpfSessions before the
// clock starts: benches/upf/run-upf.ts), or the built-in macswap in place of the UPF's plugin,
// which sends each frame back out of the port it came in on. The generator (CPU 0)
// cycles over one frame per UE: uplink, GTP-U to each UE's F-TEID from the gNB end; downlink, IP
// to each UE's address from the DN end. The rate is what arrives where the forwarder sends it:
// the UPF's decapsulated uplink at the DN end and encapsulated downlink at the gNB end; macswap's
// frames back at the end that sent them. Sizes are inner frames (Ethernet + inner IP as on N6,
// with the 4-byte FCS): 64 B inner is a 108 B GTP-U frame on N3. Macswap forwards the very
// frames the UPF gets, on the same port, so the ratio is the UPF's processing cost alone.
//
// Each round runs every (backend, forwarder) once, in an order rotated from round to round, each
// run measuring uplink then downlink (the other way round on odd rounds); figures are medians of
// the rounds, ratios medians of the per-round UPF/macswap ratios. `--write` replaces the upf
// section of benches/RESULTS.md and writes benches/upf-results.json and benches/upf-throughput.svg.
// `--note` adds a sentence to the section and the chart (say, that the machine was busy).
// `--dry-run` runs everything with 100 UEs, one round of 1 s, and writes nothing: a smoke check.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { onStopSignal } from '../src-ts/signals';
import { attachPassThrough, TrafficGenerator } from '../src-ts/traffic';
import { GEN_CORE, ROOT, median, parseOptions, reportSection, sleep, stopRunningForwarders, type Backend } from './forwarders';
import { UpfTestbed } from '../apps/upf/test/testbed';
import { writeChart, type UpfResults } from './upf/chart';
import { FORWARDERS, type Direction, type UpfBenchForwarder } from './upf/forwarders';
import { downlinkFrames, GTPU_OVERHEAD, MAX_UES, UE_PORT, GTPU_PORT, uplinkFrames } from './upf/subscribers';

const BACKENDS: Backend[] = ['af_xdp', 'dpdk', 'af_packet'];
const DIRECTIONS: Direction[] = ['uplink', 'downlink'];
/** Issue 8's targets: UPF / macswap at least this, by inner frame size. */
const TARGETS: Record<number, number> = { 64: 0.9, 1400: 0.95 };
const RESULTS_JSON = path.join(ROOT, 'benches', 'upf-results.json');
const CHART = path.join(ROOT, 'benches', 'upf-throughput.svg');

interface Run {
  backend: Backend;
  forwarder: UpfBenchForwarder;
}

const key = (backend: Backend, forwarder: string, direction: Direction, size: number) => `${backend} ${forwarder} ${direction} ${size}`;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const options = parseOptions(argv, {
    backends: ['af_xdp', 'dpdk'],
    sizes: [64, 1400],
    rounds: 5,
    seconds: 5,
    warmup: 1,
    ues: 10_000,
    forwarders: ['upf', 'macswap'],
    write: false,
    dryRun: false,
    note: '',
  });
  if (options.dryRun) {
    if (options.write) {
      throw new Error('--dry-run writes nothing: leave out --write');
    }
    Object.assign(options, { ues: 100, rounds: 1, seconds: 1, warmup: 0.3 });
  }
  const backends = options.backends.map((b) => {
    if (!BACKENDS.includes(b as Backend)) {
      throw new Error(`--backends: unknown backend ${b} (${BACKENDS.join(', ')})`);
    }
    return b as Backend;
  });
  const forwarders = options.forwarders.map((name) => {
    const forwarder = FORWARDERS.find((f) => f.key === name);
    if (!forwarder) {
      throw new Error(`--forwarders: unknown forwarder ${name} (${FORWARDERS.map((f) => f.key).join(', ')})`);
    }
    return forwarder;
  });
  if (!Number.isInteger(options.ues) || options.ues < 1 || options.ues > MAX_UES) {
    throw new Error(`--ues: ${options.ues} is not a count from 1 to ${MAX_UES}`);
  }
  for (const size of options.sizes) {
    if (!Number.isInteger(size) || size < 64 || size + GTPU_OVERHEAD > 1518) {
      throw new Error(`--sizes: ${size} B inner frames do not fit GTP-U in a 1518 B frame (64 to ${1518 - GTPU_OVERHEAD})`);
    }
  }
  for (const forwarder of forwarders) {
    forwarder.prepare();
  }
  const loadBefore = os.loadavg()[0]!;
  const bed = UpfTestbed.up(`flu${process.pid % 100000}`, 192);
  onStopSignal(() => {
    stopRunningForwarders();
    bed.down();
  });
  const rates = new Map<string, number[]>();
  const runs: Run[] = backends.flatMap((backend) => forwarders.map((forwarder) => ({ backend, forwarder })));
  try {
    for (const size of options.sizes) {
      // Frame sizes are quoted with the 4-byte FCS the wire adds; the frames built have none.
      const inner = size - 4;
      const frames: Record<Direction, Buffer[]> = {
        uplink: uplinkFrames(bed, options.ues, inner),
        downlink: downlinkFrames(bed, options.ues, inner),
      };
      for (let round = 0; round < options.rounds; round++) {
        for (let i = 0; i < runs.length; i++) {
          const { backend, forwarder } = runs[(i + round) % runs.length]!;
          const directions = round % 2 === 0 ? DIRECTIONS : [...DIRECTIONS].reverse();
          const measured = await withForwarder(forwarder, backend, bed, options.ues, async () => {
            const out: Array<[Direction, number]> = [];
            for (const direction of directions) {
              out.push([direction, await returnedPps(bed, forwarder, direction, frames[direction], inner, options)]);
            }
            return out;
          });
          for (const [direction, pps] of measured) {
            const k = key(backend, forwarder.key, direction, size);
            rates.set(k, [...(rates.get(k) ?? []), pps]);
            console.log(`${size} B round ${round + 1}: ${forwarder.name(backend)} ${direction} ${(pps / 1e6).toFixed(3)} Mpps`);
          }
        }
      }
    }
  } finally {
    bed.down();
  }
  const loadAfter = os.loadavg()[0]!;

  const loaded = `1-minute load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after, on ${os.cpus().length} vCPUs`;
  const note = `${new Date().toISOString().slice(0, 10)}: ${loaded}${options.note ? `. ${options.note}` : ''}`;
  const results: UpfResults = { ues: options.ues, note, rows: [] };
  const rows: string[] = [];
  for (const backend of backends) {
    for (const direction of DIRECTIONS) {
      for (const size of options.sizes) {
        const upf = rates.get(key(backend, 'upf', direction, size));
        const macswap = rates.get(key(backend, 'macswap', direction, size));
        const ratio = upf && macswap ? median(upf.map((r, i) => r / macswap[i]!)) : undefined;
        const target = TARGETS[size];
        const verdict = ratio === undefined || target === undefined ? '' : ratio >= target ? `≥ ${target}: met` : `≥ ${target}: missed`;
        const mpps = (xs: number[] | undefined) => (xs ? (median(xs) / 1e6).toFixed(3) : '–');
        const perRound = (xs: number[] | undefined) => (xs ? xs.map((r) => (r / 1e6).toFixed(2)).join(' / ') : '–');
        rows.push(
          `| ${backend} | ${direction} | ${size} B | ${mpps(upf)} | ${mpps(macswap)} | ${perRound(upf)} | ${perRound(macswap)} | ` +
            `${ratio === undefined ? '–' : ratio.toFixed(3)} | ${verdict} |`,
        );
        results.rows.push({
          backend,
          direction,
          size,
          ...(upf ? { upfMpps: median(upf) / 1e6 } : {}),
          ...(macswap ? { macswapMpps: median(macswap) / 1e6 } : {}),
        });
      }
    }
  }
  const command = [
    'npm run bench:upf --',
    `--backends ${backends.join(',')} --sizes ${options.sizes.join(',')} --rounds ${options.rounds} --seconds ${options.seconds}`,
    `--ues ${options.ues} --forwarders ${options.forwarders.join(',')}`,
    ...(options.note ? [`--note ${JSON.stringify(options.note)}`] : []),
    ...(options.write ? ['--write'] : []),
    ...(options.dryRun ? ['--dry-run'] : []),
  ].join(' ');
  reportSection(
    'upf',
    command,
    [
      `${options.ues} UEs: ${2 * options.ues} PDRs, ${2 * options.ues} FARs, ${options.ues} QERs, ${2 * options.ues} URRs. ${loaded}.` +
        `${options.note ? ` ${options.note.replace(/[^.]$/, '$&.')}` : ''}`,
      '',
      `![UPF throughput by inner frame size and backend](upf-throughput.svg)`,
      '',
      '| backend | direction | inner frame | UPF Mpps (median) | macswap Mpps (median) | UPF per round | macswap per round | median ratio UPF / macswap | target |',
      '|---|---|---|---|---|---|---|---|---|',
      ...rows,
    ],
    options.write,
  );
  if (options.write) {
    fs.writeFileSync(RESULTS_JSON, `${JSON.stringify(results, null, 2)}\n`);
    writeChart(results, CHART);
    console.log(`wrote ${path.relative(ROOT, RESULTS_JSON)} and ${path.relative(ROOT, CHART)}`);
  }
}

/** Runs `body` with `forwarder` started on `backend`; AF_PACKET attaches no XDP program, so both
 * of its ports get a pass-through one, without which the generator's frames are not delivered. */
async function withForwarder<T>(forwarder: UpfBenchForwarder, backend: Backend, bed: UpfTestbed, ues: number, body: () => Promise<T>): Promise<T> {
  const passes = backend === 'af_packet' ? [bed.n3, bed.n6].map((end) => attachPassThrough(end.netns, end.iface)) : [];
  try {
    const running = await forwarder.start(bed, backend, ues);
    try {
      return await body();
    } finally {
      await running.stop();
    }
  } finally {
    for (const pass of passes) {
      pass.detach();
    }
  }
}

/** What arrives where `forwarder` sends `direction`'s frames, per second, after a warm-up. */
async function returnedPps(
  bed: UpfTestbed,
  forwarder: UpfBenchForwarder,
  direction: Direction,
  frames: Buffer[],
  innerLen: number,
  options: { seconds: number; warmup: number },
): Promise<number> {
  const from = direction === 'uplink' ? bed.gnb : bed.dn;
  const to = forwarder.returnsTo(bed, direction);
  // Uplink the UPF takes the GTP-U off (UDP to the UE port arrives), downlink it puts it on.
  const decapsulated = forwarder.key === 'upf' && direction === 'uplink';
  const encapsulated = forwarder.key === 'upf' && direction === 'downlink';
  const matchUdpPort = decapsulated ? UE_PORT : encapsulated ? GTPU_PORT : direction === 'uplink' ? GTPU_PORT : UE_PORT;
  const expectedLen = frames[0]!.length + (decapsulated ? -GTPU_OVERHEAD : encapsulated ? GTPU_OVERHEAD : 0);
  const generator = new TrafficGenerator({
    netns: from.netns,
    interface: from.iface,
    frames,
    core: GEN_CORE,
    matchUdpPort,
    ...(to === from ? {} : { returnNetns: to.netns, returnInterface: to.iface }),
  });
  generator.start();
  try {
    await sleep(options.warmup * 1000);
    const before = generator.stats();
    const t0 = performance.now();
    await sleep(options.seconds * 1000);
    const after = generator.stats();
    const packets = after.returnedPackets - before.returnedPackets;
    const bytes = after.returnedBytes - before.returnedBytes;
    if (packets === 0) {
      throw new Error(`${forwarder.key} ${direction}: nothing arrived at ${to.iface} (sent ${after.sentPackets - before.sentPackets})`);
    }
    // A cheap check that the frames counted are the forwarder's work (decapsulated or
    // encapsulated by the UPF, 44 bytes apart), not something else: within 0.5% of the expected
    // length on average, which tolerates a stray frame of another size among millions (seen with
    // AF_PACKET), and said when not exact.
    const average = bytes / packets;
    if (Math.abs(average - expectedLen) > 0.005 * expectedLen) {
      throw new Error(`${forwarder.key} ${direction}: ${average.toFixed(1)} bytes per frame arrived, expected ${expectedLen} (inner ${innerLen})`);
    }
    if (bytes !== packets * expectedLen) {
      console.log(`  (${forwarder.key} ${direction}: ${average.toFixed(4)} bytes per frame on average, not exactly ${expectedLen})`);
    }
    return packets / ((performance.now() - t0) / 1000);
  } finally {
    generator.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
