// How fast UpfSessions installs sessions in shared memory: sessions per second through the whole
// path the PFCP node uses (checks, records, index, the one-store flip), for the benchmark's
// session shape (an uplink PDR by TEID and a downlink PDR by UE address, two FARs, a QER, a URR),
// into a region of the given capacity; then modifications (a path switch: the downlink FAR's
// tunnel) and deletions per second. The target is at least 20,000 sessions/s.
//
//   npm run bench:upf-sessions -- [--sessions 10000] [--rounds 3]
//
// Each round creates a fresh region, installs --sessions sessions, modifies each once, deletes
// each; the figures are the median round's. A first round of 2,000 sessions, not counted, warms
// up the JIT (a PFCP node runs for long). Each is given twice: per second of wall-clock time,
// and per second of this process's CPU time (user + system), which a machine loaded by other work
// disturbs much less.

import { SharedRegion } from 'fastlane-dataplane';

import { ShmUpfSessions } from '../apps/upf/src/sessions/index';
import { basicSession } from '../apps/upf/test/sessions-helpers';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`--${name} needs a whole number from 1, not ${process.argv[i + 1]}`);
  }
  return value;
}

const count = option('sessions', 10_000);
const rounds = option('rounds', 3);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Rate {
  wall: number;
  cpu: number;
}
const results: { install: Rate; modify: Rate; remove: Rate }[] = [];
for (let round = -1; round < rounds; round++) {
  const warmup = round < 0;
  const sessions = warmup ? Math.min(2000, count) : count;
  const name = `upf-sessions-bench-${process.pid}-${round + 1}`;
  const caps = { sessions, pdrs: 2 * sessions, fars: 2 * sessions, qers: sessions, urrs: 2 * sessions };
  const s = ShmUpfSessions.create(name, caps);
  try {
    const rules = Array.from({ length: sessions }, (_, i) => basicSession(i));
    const rate = (run: (i: number) => void): Rate => {
      const cpu = process.cpuUsage();
      const started = process.hrtime.bigint();
      for (let i = 0; i < sessions; i++) run(i);
      const wall = Number(process.hrtime.bigint() - started) / 1e9;
      const used = process.cpuUsage(cpu);
      return { wall: sessions / wall, cpu: sessions / ((used.user + used.system) / 1e6) };
    };
    const install = rate((i) => s.create(BigInt(i + 1), rules[i]!));
    const modify = rate((i) =>
      s.modify(BigInt(i + 1), {
        updateFars: [{ farId: 2, updateForwardingParameters: { outerHeaderCreation: { teid: 0x9000_0000 + i, ipv4: '192.168.7.7' }, sendEndMarker: false } }],
      }),
    );
    const remove = rate((i) => s.delete(BigInt(i + 1)));
    if (warmup) continue;
    results.push({ install, modify, remove });
    const show = (r: Rate): string => `${r.wall.toFixed(0)}/s (${r.cpu.toFixed(0)}/CPU-s)`;
    console.log(`round ${round + 1}: install ${show(install)}, modify ${show(modify)}, delete ${show(remove)}`);
  } finally {
    s.close();
    SharedRegion.unlink(name);
  }
}
const fmt = (n: number): string => Math.round(n).toLocaleString('en');
const summary = (pick: (r: (typeof results)[number]) => Rate): string =>
  `${fmt(median(results.map((r) => pick(r).wall)))}/s wall-clock, ${fmt(median(results.map((r) => pick(r).cpu)))}/s of CPU time`;
console.log(`\n${count} sessions, median of ${rounds} rounds (target: install ≥ 20,000 sessions/s):`);
console.log(`  install ${summary((r) => r.install)}`);
console.log(`  modify  ${summary((r) => r.modify)}`);
console.log(`  delete  ${summary((r) => r.remove)}`);
