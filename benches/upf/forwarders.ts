// What benches/upf.ts runs on the UPF's namespace of the test bed: the UPF itself and the
// macswap it is measured against, each one Fastlane process with a queue on N3 and one on N6,
// both on FWD_CORE, and the same backend sections.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { AF_XDP_SECTION, FWD_CORE, ROOT, dpdkSection, spawnUntil, stopProcess, type Backend } from '../forwarders';
import type { BedEnd, UpfBed } from './bed';
import { UE_POOL, GTPU_PORT } from './subscribers';

export type Direction = 'uplink' | 'downlink';

export interface UpfBenchForwarder {
  key: string;
  name(backend: Backend): string;
  /** Checks (once, before the test bed is built) that what it runs is there. */
  prepare(): void;
  /** Starts it with `ues` sessions (where it has sessions); resolves once it forwards. */
  start(bed: UpfBed, backend: Backend, ues: number): Promise<{ stop(): Promise<void> }>;
  /** The end at which what it sends of `direction`'s traffic arrives. */
  returnsTo(bed: UpfBed, direction: Direction): BedEnd;
}

/** The Fastlane config both forwarders share, without what processes the packets. */
export function portsConfig(bed: UpfBed, backend: Backend): object {
  const sections: Record<Backend, object> = {
    af_xdp: AF_XDP_SECTION,
    dpdk: dpdkSection([bed.n3.interface, bed.n6.interface]),
    af_packet: {},
  };
  return {
    backend,
    netns: bed.n3.netns,
    ports: [
      { interface: bed.n3.interface, queues: [{ id: 0, core: FWD_CORE }], filter: { udp_ports: [GTPU_PORT] } },
      { interface: bed.n6.interface, queues: [{ id: 0, core: FWD_CORE }], filter: { dst_prefixes: [UE_POOL] } },
    ],
    ...sections[backend],
    threads: { batch_size: 64 },
  };
}

const CLI = path.join(ROOT, 'dist', 'cli.js');

/** Writes `config` to a file of its own and starts `fastlane ARGS FILE` on it. */
export function fastlaneRun(args: string[], config: object, tag: string): Promise<{ stop(): Promise<void> }> {
  const file = path.join(os.tmpdir(), `fastlane-bench-upf-${process.pid}-${tag}.json`);
  fs.writeFileSync(file, JSON.stringify(config));
  // The data-plane thread pins itself to FWD_CORE; Node's own threads stay unpinned.
  return spawnUntil(process.execPath, [CLI, ...args, file], /fastlane: running/).then((child) => ({
    stop: async () => {
      await stopProcess(child);
      fs.rmSync(file, { force: true });
    },
  }));
}

export const MACSWAP: UpfBenchForwarder = {
  key: 'macswap',
  name: (backend) => `Fastlane macswap (${backend})`,
  prepare: () => {
    if (!fs.existsSync(CLI)) {
      throw new Error('dist/cli.js is missing: npm run build');
    }
  },
  start: (bed, backend) => fastlaneRun(['run'], { name: 'bench-upf-macswap', ...portsConfig(bed, backend), pipeline: ['macswap'] }, 'macswap'),
  returnsTo: (bed, direction) => (direction === 'uplink' ? bed.gnb : bed.dn),
};

export const FORWARDERS: UpfBenchForwarder[] = [MACSWAP];
