// Batched TypeScript macswap (`{ "type": "js" }` + dataplane.onBatch) against the Rust `macswap`
// processor, on a veth test bed with AF_XDP in copy mode.
//
//   tsx benches/js-macswap.ts [--seconds 5] [--rounds 5] [--batches 32,256] [--size 64]
//
// The built-in generator floods from CPU 0; both forwarders run in this process with their
// data-plane thread pinned to CPU 1, and Node's main thread (the handler's) runs where the
// scheduler puts it. Each round runs both, in an order alternating from round to round; the ratio
// quoted is the median of the per-round ratios TypeScript / Rust.

import * as os from 'node:os';

import { Verdict, type PacketBatch } from '../src-ts/batch';
import type { FastlaneConfig } from '../src-ts/config';
import { Dataplane } from '../src-ts/dataplane';
import { Testbed, type TestbedEnd } from '../src-ts/testbed';
import { TrafficGenerator, udpFrame } from '../src-ts/traffic';
import { onStopSignal } from '../src-ts/signals';

const PORT = 9000;
const FWD_CORE = 1;
const GEN_CORE = 0;

interface Options {
  seconds: number;
  rounds: number;
  batches: number[];
  size: number;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { seconds: 5, rounds: 5, batches: [32, 256], size: 64 };
  for (let i = 0; i < argv.length; i += 2) {
    const value = String(argv[i + 1]);
    switch (argv[i]) {
      case '--seconds':
        options.seconds = Number(value);
        break;
      case '--rounds':
        options.rounds = Number(value);
        break;
      case '--batches':
        options.batches = value.split(',').map(Number);
        break;
      case '--size':
        options.size = Number(value);
        break;
      default:
        throw new Error(`unknown option ${argv[i]}`);
    }
  }
  return options;
}

/** The TypeScript forwarder's handler: swap the MACs of every packet and send it back. */
function macswap(batch: PacketBatch): void {
  const data = batch.data;
  const n = batch.length;
  for (let i = 0; i < n; i++) {
    const o = batch.offset(i);
    for (let k = o; k < o + 6; k++) {
      const t = data[k]!;
      data[k] = data[k + 6]!;
      data[k + 6] = t;
    }
  }
  batch.setAllVerdicts(Verdict.TRANSMIT);
}

type Kind = 'rust' | 'ts';

function config(fwd: TestbedEnd, kind: Kind, batchSize: number): FastlaneConfig {
  return {
    name: `bench-js-macswap-${kind}`,
    backend: 'af_xdp',
    netns: fwd.netns,
    ports: [{ interface: fwd.interface, queues: [{ id: 0, core: FWD_CORE }] }],
    filter: { udp_ports: [PORT] },
    af_xdp: { bind_mode: 'copy', attach_mode: 'native', need_wakeup: true, umem_frames: 8192, frame_size: 4096 },
    threads: { batch_size: batchSize },
    pipeline: kind === 'rust' ? ['macswap'] : [{ type: 'js' }],
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measure(bed: Testbed, kind: Kind, batchSize: number, options: Options): Promise<{ pps: number; backlog: number }> {
  const { gen, fwd } = bed;
  const dataplane = new Dataplane(config(fwd, kind, batchSize));
  if (kind === 'ts') {
    dataplane.onBatch(macswap, { slots: 16 });
  }
  dataplane.start();
  try {
    // Frame sizes are quoted with the 4-byte FCS the wire adds; the frame built here has none.
    const frame = udpFrame(
      { srcMac: gen.mac, dstMac: fwd.mac, srcIp: gen.address, dstIp: fwd.address, srcPort: PORT, dstPort: PORT },
      options.size - 4,
    );
    const generator = new TrafficGenerator({ netns: gen.netns, interface: gen.interface, frame, core: GEN_CORE, matchUdpPort: PORT });
    generator.start();
    try {
      await sleep(1000);
      const before = generator.stats();
      const t0 = performance.now();
      await sleep(options.seconds * 1000);
      const after = generator.stats();
      const elapsed = (performance.now() - t0) / 1000;
      const backlog = dataplane.stats().queues[0]?.dropped['js_backlog'] ?? 0;
      return { pps: (after.returnedPackets - before.returnedPackets) / elapsed, backlog };
    } finally {
      generator.stop();
    }
  } finally {
    dataplane.stop();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const bed = Testbed.up({ prefix: `flj${process.pid % 10000}`, subnet: 191 });
  onStopSignal(() => bed.down());
  const rows: string[] = [];
  try {
    for (const batchSize of options.batches) {
      const rates: Record<Kind, number[]> = { rust: [], ts: [] };
      for (let round = 0; round < options.rounds; round++) {
        const order: Kind[] = round % 2 === 0 ? ['rust', 'ts'] : ['ts', 'rust'];
        for (const kind of order) {
          const { pps, backlog } = await measure(bed, kind, batchSize, options);
          rates[kind].push(pps);
          console.log(
            `batch ${batchSize} round ${round + 1}: ${kind} ${(pps / 1e6).toFixed(3)} Mpps` +
              (kind === 'ts' ? ` (js_backlog drops ${backlog})` : ''),
          );
        }
      }
      const ratios = rates.ts.map((r, i) => r / rates.rust[i]!);
      rows.push(
        `| ${batchSize} | ${(median(rates.rust) / 1e6).toFixed(3)} | ${(median(rates.ts) / 1e6).toFixed(3)} | ` +
          `${ratios.map((r) => r.toFixed(2)).join(' / ')} | ${median(ratios).toFixed(3)} |`,
      );
    }
  } finally {
    bed.down();
  }
  console.log(
    [
      '',
      `${options.size} B frames, ${options.rounds} rounds of ${options.seconds} s, ${os.cpus().length} vCPUs, kernel ${os.release()}`,
      '| batch | Rust macswap Mpps (median) | TypeScript macswap Mpps (median) | ratio per round | median ratio |',
      '|---|---|---|---|---|',
      ...rows,
    ].join('\n'),
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
