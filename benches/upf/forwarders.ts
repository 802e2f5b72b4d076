// What benches/upf.ts runs in the UPF's namespace of the test bed: the UPF itself, and the
// macswap it is measured against. Both are one process running the Fastlane config derived from
// the same UPF config (apps/upf/src/config.ts: N3 and N6 with their filters and kernel paths, one
// queue each, both on FWD_CORE); macswap's has the built-in macswap where the UPF's has its
// plugin.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { findPlugin } from '../../apps/upf/src/app';
import { deriveFastlaneConfig, type UpfConfig } from '../../apps/upf/src/config';
import { UE_POOL_V4, type BedEnd, type UpfTestbed } from '../../apps/upf/test/testbed';
import { AF_XDP_SECTION, FWD_CORE, ROOT, dpdkSection, spawnUntil, stopProcess, type Backend } from '../forwarders';
import { peersOf, type Peers } from './subscribers';

export type Direction = 'uplink' | 'downlink';

export interface UpfBenchForwarder {
  key: 'upf' | 'macswap';
  name(backend: Backend): string;
  /** Checks (once, before the test bed is built) that what it runs is there. */
  prepare(): void;
  /** Starts it with `ues` sessions (where it has sessions); resolves once it forwards. */
  start(bed: UpfTestbed, backend: Backend, ues: number): Promise<{ stop(): Promise<void> }>;
  /** The end at which what it sends of `direction`'s traffic arrives. */
  returnsTo(bed: UpfTestbed, direction: Direction): BedEnd;
}

/** The UPF config of the bench: tables sized to `ues` sessions exactly. */
export function upfConfig(bed: UpfTestbed, backend: Backend, ues: number): UpfConfig {
  const queues = [{ id: 0, core: FWD_CORE }];
  const sections: Record<Backend, object> = {
    af_xdp: AF_XDP_SECTION,
    dpdk: dpdkSection([bed.n3.iface, bed.n6.iface]),
    af_packet: {},
  };
  return {
    name: `bench-upf-${backend}`,
    backend,
    netns: bed.upfNetns,
    threads: { model: 'run_to_completion', batch_size: 64 },
    ...sections[backend],
    upf: {
      node_id: 'bench-upf',
      // Both families, as the bed has them (its IPv6 default route goes through N6 too).
      n3: { interface: bed.n3.iface, queues, addresses: [`${bed.n3.ipv4}/24`, `${bed.n3.ipv6}/64`] },
      n6: { interface: bed.n6.iface, queues, addresses: [`${bed.n6.ipv4}/24`, `${bed.n6.ipv6}/64`] },
      ue_pools: [UE_POOL_V4],
      capacity: { sessions: ues, pdrs: 2 * ues, fars: 2 * ues, qers: ues, urrs: 2 * ues },
    },
  } as UpfConfig;
}

/** Writes `document` to a file of its own for the run; removed by the returned function. */
function tempJson(document: unknown, tag: string): { file: string; remove(): void } {
  const file = path.join(os.tmpdir(), `fastlane-bench-upf-${process.pid}-${tag}.json`);
  fs.writeFileSync(file, JSON.stringify(document));
  return { file, remove: () => fs.rmSync(file, { force: true }) };
}

const CLI = path.join(ROOT, 'dist', 'cli.js');
const RUNNER = path.join(__dirname, 'run-upf.ts');

export const MACSWAP: UpfBenchForwarder = {
  key: 'macswap',
  name: (backend) => `Fastlane macswap (${backend})`,
  prepare: () => {
    if (!fs.existsSync(CLI)) {
      throw new Error('dist/cli.js is missing: npm run build');
    }
  },
  start: async (bed, backend, ues) => {
    const derived = deriveFastlaneConfig(upfConfig(bed, backend, ues), { path: '', config: {} });
    const config = tempJson({ ...derived, name: `bench-upf-macswap-${backend}`, pipeline: ['macswap'] }, 'macswap');
    // The data-plane thread pins itself to FWD_CORE; Node's own threads stay unpinned.
    const child = await spawnUntil(process.execPath, [CLI, 'run', config.file], /fastlane: running/);
    return {
      stop: async () => {
        await stopProcess(child);
        config.remove();
      },
    };
  },
  returnsTo: (bed, direction) => (direction === 'uplink' ? bed.gnb : bed.dn),
};

/** What benches/upf/run-upf.ts is given. */
export interface RunnerInput {
  config: UpfConfig;
  ues: number;
  peers: Peers;
  /** Where it writes its RunSummary when stopped. */
  statsFile: string;
}

/** The UPF's data-plane counters over a run. */
export interface RunSummary {
  queues: Array<{ interface: string; rx: number; tx: number; kernel: number; dropped: Record<string, number> }>;
  plugin: Array<{ counters: Record<string, number>; drops: Record<string, number> }>;
}

/** One line: per queue received, sent, to the kernel and dropped (by reason), and the plugin's drops. */
function summaryLine(summary: RunSummary): string {
  const nonzero = (counts: Record<string, number>) =>
    Object.entries(counts)
      .filter(([, n]) => n > 0)
      .map(([reason, n]) => `${reason} ${n}`)
      .join(', ') || 'none';
  const queues = summary.queues.map((q) => `${q.interface}: rx ${q.rx} tx ${q.tx} kernel ${q.kernel} dropped ${nonzero(q.dropped)}`);
  const plugin = summary.plugin.map((p) => `plugin drops ${nonzero(p.drops)}`);
  return [...queues, ...plugin].join('; ');
}

export const UPF: UpfBenchForwarder = {
  key: 'upf',
  name: (backend) => `UPF (${backend})`,
  prepare: () => {
    findPlugin();
    if (!fs.existsSync(path.join(ROOT, 'apps', 'upf', 'dist', 'app.js'))) {
      throw new Error('apps/upf/dist is missing: npm run build');
    }
  },
  start: async (bed, backend, ues) => {
    const statsFile = path.join(os.tmpdir(), `fastlane-bench-upf-${process.pid}-stats.json`);
    const input: RunnerInput = { config: upfConfig(bed, backend, ues), ues, peers: peersOf(bed), statsFile };
    const file = tempJson(input, 'upf');
    const child = await spawnUntil(process.execPath, ['--import', 'tsx', RUNNER, file.file], /bench-upf: forwarding/);
    return {
      stop: async () => {
        await stopProcess(child);
        file.remove();
        if (fs.existsSync(statsFile)) {
          console.log(`  ${UPF.name(backend)}: ${summaryLine(JSON.parse(fs.readFileSync(statsFile, 'utf8')) as RunSummary)}`);
          fs.rmSync(statsFile);
        }
      },
    };
  },
  returnsTo: (bed, direction) => (direction === 'uplink' ? bed.dn : bed.gnb),
};

export const FORWARDERS: UpfBenchForwarder[] = [UPF, MACSWAP];
