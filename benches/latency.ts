// Round-trip latency at a low rate through each Fastlane backend and its native baseline, and
// through the kernel's UDP stack, side by side in one invocation on a veth test bed:
//   Fastlane AF_XDP vs xsk_macswap, Fastlane DPDK (net_af_xdp) vs dpdk-testpmd macswap,
//   Fastlane AF_PACKET vs tpacket_reflector, and benches/native/udp_echo as a reference.
//
//   npx tsx benches/latency.ts [--rate 10000] [--count 2000] [--rounds 3] [--sizes 64,256,512]
//                              [--pairs af_xdp,dpdk,af_packet] [--write]
//
// The probe (fastlane_testbed::latency::measure) sends numbered frames from an AF_PACKET socket
// in the generator's namespace, this process pinned to CPU 0, and times each reflection from
// just before its send to the kernel's receive timestamp; each forwarder runs pinned to CPU 1.
// Each round runs every forwarder once, in an order rotated from round to round; a figure quoted
// is the median of the rounds, an overhead the median of the per-round differences between
// Fastlane and its baseline. `--write` replaces the latency section of benches/RESULTS.md.

import { execFileSync } from 'node:child_process';

import { Testbed } from '../src-ts/testbed';
import { measureLatency, udpFrame, type LatencyStats } from '../src-ts/traffic';
import {
  FASTLANE_AF_PACKET,
  FASTLANE_AF_XDP,
  FASTLANE_DPDK,
  GEN_CORE,
  PORT,
  TESTPMD_AF_XDP,
  TPACKET_REFLECTOR,
  UDP_ECHO,
  XSK_MACSWAP,
  buildNative,
  median,
  parseOptions,
  reportSection,
  withForwarder,
  type Forwarder,
  stopRunningForwarders,
} from './forwarders';
import { onStopSignal } from '../src-ts/signals';

/** Each backend: Fastlane on it, and its native baseline. */
const PAIRS: Record<string, [Forwarder, Forwarder]> = {
  af_xdp: [FASTLANE_AF_XDP, XSK_MACSWAP],
  dpdk: [FASTLANE_DPDK, TESTPMD_AF_XDP],
  af_packet: [FASTLANE_AF_PACKET, TPACKET_REFLECTOR],
};

interface Sample {
  medianUs: number;
  p99Us: number;
  lost: number;
}

async function sample(forwarder: Forwarder, bed: Testbed, size: number, count: number, ratePps: number): Promise<Sample> {
  const { gen, fwd } = bed;
  return withForwarder(forwarder, fwd, gen, async () => {
    // Source port = destination port: a UDP echo answers to the source port, and a macswap
    // reflection keeps both; either way the probe recognises the port. Sizes include the FCS.
    const frame = udpFrame(
      { srcMac: gen.mac, dstMac: fwd.mac, srcIp: gen.address, dstIp: fwd.address, srcPort: PORT, dstPort: PORT },
      size - 4,
    );
    const stats: LatencyStats = await measureLatency({
      netns: gen.netns,
      interface: gen.interface,
      frame,
      count,
      ratePps,
      matchUdpPort: PORT,
    });
    if (stats.medianUs === undefined || stats.p99Us === undefined) {
      throw new Error(`${forwarder.name}, ${size} B: none of ${stats.sent} frames came back`);
    }
    return { medianUs: stats.medianUs, p99Us: stats.p99Us, lost: stats.lost };
  });
}

const us = (v: number) => v.toFixed(1);
const signed = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(1)}`;

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2), {
    rate: 10_000,
    count: 2000,
    rounds: 3,
    sizes: [64, 256, 512],
    pairs: ['af_xdp', 'dpdk', 'af_packet'],
    write: false,
  });
  const pairs = options.pairs.map((name) => {
    const pair = PAIRS[name];
    if (!pair) {
      throw new Error(`--pairs: unknown backend ${name} (${Object.keys(PAIRS).join(', ')})`);
    }
    return pair;
  });
  const forwarders = [...pairs.flat(), UDP_ECHO];
  buildNative();
  // The probe runs on the libuv pool: pin every thread of this process, present and future.
  execFileSync('taskset', ['-a', '-p', '-c', `${GEN_CORE}`, `${process.pid}`], { stdio: 'ignore' });
  const bed = Testbed.up({ prefix: `fll${process.pid % 10000}`, subnet: 192 });
  onStopSignal(() => {
    stopRunningForwarders();
    bed.down();
  });
  const rows: string[] = [];
  try {
    for (const size of options.sizes) {
      const samples = new Map<Forwarder, Sample[]>(forwarders.map((f) => [f, []]));
      for (let round = 0; round < options.rounds; round++) {
        for (let i = 0; i < forwarders.length; i++) {
          const forwarder = forwarders[(i + round) % forwarders.length]!;
          const s = await sample(forwarder, bed, size, options.count, options.rate);
          samples.get(forwarder)!.push(s);
          console.log(`${size} B round ${round + 1}: ${forwarder.name} median ${us(s.medianUs)} us, p99 ${us(s.p99Us)} us, lost ${s.lost}`);
        }
      }
      const row = (forwarder: Forwarder, baseline?: Forwarder) => {
        const mine = samples.get(forwarder)!;
        let overhead = 'baseline';
        if (baseline) {
          const base = samples.get(baseline)!;
          const dMedian = median(mine.map((s, i) => s.medianUs - base[i]!.medianUs));
          const dP99 = median(mine.map((s, i) => s.p99Us - base[i]!.p99Us));
          overhead = `${signed(dMedian)} / ${signed(dP99)}`;
        } else if (forwarder === UDP_ECHO) {
          overhead = 'reference';
        }
        rows.push(
          `| ${forwarder.name} | ${size} B | ${us(median(mine.map((s) => s.medianUs)))} | ${us(median(mine.map((s) => s.p99Us)))} | ` +
            `${overhead} | ${mine.map((s) => s.lost).join(' / ')} |`,
        );
      };
      for (const [fastlane, baseline] of pairs) {
        row(fastlane, baseline);
        row(baseline);
      }
      row(UDP_ECHO);
    }
  } finally {
    bed.down();
  }
  const command =
    `npx tsx benches/latency.ts --rate ${options.rate} --count ${options.count} --rounds ${options.rounds} ` +
    `--sizes ${options.sizes.join(',')} --pairs ${options.pairs.join(',')}${options.write ? ' --write' : ''}`;
  reportSection('latency', command, [
    '| forwarder (1 core, macswap) | frame | RTT median µs | RTT p99 µs | overhead vs baseline, median / p99 µs | lost per round |',
    '|---|---|---|---|---|---|',
    ...rows,
  ], options.write);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
