// Single-core macswap throughput of Fastlane's DPDK and AF_PACKET backends, each against the
// native program it is measured by, side by side in one invocation on a veth test bed:
//   Fastlane DPDK (net_af_xdp vdev)  vs  dpdk-testpmd --forward-mode=macswap on the same vdev
//   Fastlane AF_PACKET               vs  benches/native/tpacket_reflector (plain C TPACKET_V3)
//   (--pairs af_xdp adds Fastlane AF_XDP vs xsk_macswap, which benches/macswap.ts also runs)
//
//   npx tsx benches/backends.ts [--seconds 5] [--rounds 5] [--sizes 64,1400] [--pairs dpdk,af_packet]
//                               [--against DIR] [--write]
//
// `--against DIR` also runs each Fastlane forwarder from another build tree (a checkout of an
// earlier commit, built with `npm run build`), interleaved with the rest, and reports this
// build's median per-round ratio to it: a before/after comparison in one invocation.
//
// The built-in generator floods from CPU 0; each forwarder runs pinned to CPU 1 in its own
// process. Each round runs every forwarder once, in an order rotated from round to round; the
// figure quoted is the median of the rounds, the ratio the median of the per-round ratios of
// Fastlane to its baseline. `--write` replaces the backends section of benches/RESULTS.md.

import { Testbed } from '../src-ts/testbed';
import { TrafficGenerator, udpFrame } from '../src-ts/traffic';
import {
  FASTLANE_AF_PACKET,
  FASTLANE_AF_XDP,
  FASTLANE_DPDK,
  GEN_CORE,
  fromTree,
  PORT,
  TESTPMD_AF_XDP,
  TPACKET_REFLECTOR,
  XSK_MACSWAP,
  buildNative,
  median,
  parseOptions,
  reportSection,
  sleep,
  withForwarder,
  type FastlaneForwarder,
  type Forwarder,
  stopRunningForwarders,
} from './forwarders';
import { execFileSync } from 'node:child_process';
import { onStopSignal } from '../src-ts/signals';

/** Each backend: Fastlane on it, and its native baseline. */
const PAIRS: Record<string, [FastlaneForwarder, Forwarder]> = {
  dpdk: [FASTLANE_DPDK, TESTPMD_AF_XDP],
  af_packet: [FASTLANE_AF_PACKET, TPACKET_REFLECTOR],
  af_xdp: [FASTLANE_AF_XDP, XSK_MACSWAP],
};

async function returnedPps(forwarder: Forwarder, bed: Testbed, size: number, seconds: number): Promise<number> {
  const { gen, fwd } = bed;
  return withForwarder(forwarder, fwd, gen, async () => {
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
      return (after.returnedPackets - before.returnedPackets) / ((performance.now() - t0) / 1000);
    } finally {
      generator.stop();
    }
  });
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2), {
    seconds: 5,
    rounds: 5,
    sizes: [64, 1400],
    pairs: ['dpdk', 'af_packet'],
    against: '',
    write: false,
  });
  const pairs = options.pairs.map((name) => {
    const pair = PAIRS[name];
    if (!pair) {
      throw new Error(`--pairs: unknown backend ${name} (${Object.keys(PAIRS).join(', ')})`);
    }
    return pair;
  });
  // This build against the one in `--against`: the earlier build's commit names it.
  const earlier = options.against
    ? execFileSync('git', ['-C', options.against, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
    : '';
  const befores = new Map<Forwarder, Forwarder>(
    earlier ? pairs.map(([fastlane]) => [fastlane, fromTree(fastlane, options.against, earlier)]) : [],
  );
  const forwarders: Forwarder[] = [...pairs.flat(), ...befores.values()];
  buildNative();
  const bed = Testbed.up({ prefix: `flk${process.pid % 10000}`, subnet: 191 });
  onStopSignal(() => {
    stopRunningForwarders();
    bed.down();
  });
  const rows: string[] = [];
  const againstRows: string[] = [];
  try {
    for (const size of options.sizes) {
      const rates = new Map<Forwarder, number[]>(forwarders.map((f) => [f, []]));
      for (let round = 0; round < options.rounds; round++) {
        for (let i = 0; i < forwarders.length; i++) {
          const forwarder = forwarders[(i + round) % forwarders.length]!;
          const pps = await returnedPps(forwarder, bed, size, options.seconds);
          rates.get(forwarder)!.push(pps);
          console.log(`${size} B round ${round + 1}: ${forwarder.name} ${(pps / 1e6).toFixed(3)} Mpps`);
        }
      }
      for (const [fastlane, baseline] of pairs) {
        const base = rates.get(baseline)!;
        for (const forwarder of [fastlane, baseline]) {
          const mine = rates.get(forwarder)!;
          const ratio = forwarder === fastlane ? median(mine.map((r, i) => r / base[i]!)).toFixed(3) : '1 (baseline)';
          rows.push(
            `| ${forwarder.name} | ${size} B | ${(median(mine) / 1e6).toFixed(3)} | ` +
              `${mine.map((r) => (r / 1e6).toFixed(2)).join(' / ')} | ${ratio} |`,
          );
        }
        const before = befores.get(fastlane);
        if (before) {
          const then = rates.get(before)!;
          const now = rates.get(fastlane)!;
          rows.push(
            `| ${before.name} | ${size} B | ${(median(then) / 1e6).toFixed(3)} | ` +
              `${then.map((r) => (r / 1e6).toFixed(2)).join(' / ')} | ${median(then.map((r, i) => r / base[i]!)).toFixed(3)} |`,
          );
          againstRows.push(`| ${fastlane.name} | ${size} B | ${median(now.map((r, i) => r / then[i]!)).toFixed(3)} |`);
        }
      }
    }
  } finally {
    bed.down();
  }
  const command =
    `npx tsx benches/backends.ts --seconds ${options.seconds} --rounds ${options.rounds} ` +
    `--sizes ${options.sizes.join(',')} --pairs ${options.pairs.join(',')}` +
    `${options.against ? ` --against DIR` : ''}${options.write ? ' --write' : ''}`;
  reportSection('backends', command, [
    '| forwarder (1 core, macswap) | frame | returned Mpps (median) | per round | median ratio to its baseline |',
    '|---|---|---|---|---|',
    ...rows,
    ...(earlier
      ? [
          '',
          `DIR is a build of commit ${earlier}. This build against it, median of the per-round ratios:`,
          '',
          `| forwarder | frame | this build / ${earlier} |`,
          '|---|---|---|',
          ...againstRows,
        ]
      : []),
  ], options.write);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
