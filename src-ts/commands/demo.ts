// `fastlane demo`: the whole story in a few seconds on a veth test bed. A macswap data plane takes
// UDP port 9000 while the kernel keeps answering everything else (ping, during the flood), on the
// packet I/O mechanism `--backend` names; nothing else changes between mechanisms.

import { execFile } from 'node:child_process';
import type { Argv, CommandModule } from 'yargs';

import { ConfigBuilder } from '../builder';
import type { Backend } from '../config';
import { Dataplane } from '../dataplane';
import { LiveLine, formatRate, formatStats } from '../format';
import { StopLatch } from '../signals';
import { Testbed } from '../testbed';
import { TrafficGenerator, attachPassThrough, udpFrame } from '../traffic';

interface DemoArgs {
  backend: Backend;
  seconds: number;
  size: number;
  prefix: string | undefined;
}

const FAST_PORT = 9000;
const GENERATOR_CORE = 0;
const DATAPLANE_CORE = 1;

export const demoCommand: CommandModule<object, DemoArgs> = {
  command: 'demo',
  describe: 'Forward UDP on fast packet I/O between two namespaces while the kernel still answers ping (root)',
  builder: (yargs: Argv) =>
    yargs
      .option('backend', {
        describe: 'packet I/O mechanism',
        choices: ['af_xdp', 'af_packet', 'dpdk'] as const,
        default: 'af_xdp' as Backend,
      })
      .option('seconds', { describe: 'how long to send', type: 'number', default: 5 })
      .option('size', { describe: 'frame size in bytes (60 to 1514)', type: 'number', default: 64 })
      .option('prefix', { describe: 'test bed name prefix (default from the process id)', type: 'string' })
      .check((a) => {
        if (!(a.seconds > 0)) {
          throw new Error('--seconds must be above 0');
        }
        if (!Number.isInteger(a.size) || a.size < 60 || a.size > 1514) {
          throw new Error('--size must be an integer from 60 to 1514');
        }
        return true;
      }) as Argv<DemoArgs>,
  handler: async (args) => {
    const latch = new StopLatch();
    let testbed: Testbed | undefined;
    let dataplane: Dataplane | undefined;
    let generator: TrafficGenerator | undefined;
    let passThrough: { detach(): void } | undefined;
    try {
      testbed = Testbed.up(args.prefix === undefined ? {} : { prefix: args.prefix });
      const { gen, fwd } = testbed;
      console.log(`test bed: ${gen.netns} ${gen.interface} ${gen.address}  <->  ${fwd.netns} ${fwd.interface} ${fwd.address}`);

      const config = new ConfigBuilder(args.backend)
        .name('demo-macswap')
        .netns(fwd.netns)
        .port(fwd.interface, { id: 0, core: DATAPLANE_CORE })
        .udpPorts(FAST_PORT)
        .process('macswap')
        // DPDK over the veth through its AF_XDP poll-mode driver, without hugepages.
        .dpdk({ devices: { [fwd.interface]: `net_af_xdp0,iface=${fwd.interface}` }, huge_pages: false, memory_mb: 256, mbufs: 8192 })
        .build();
      if (args.backend === 'dpdk') {
        // DPDK takes the whole port: the kernel's view of it, and so its address, is a TAP
        // device. The runtime moves the address off the interface for the run and back at stop.
        config.ports[0]!.tap = { addresses: [`${fwd.address}/24`] };
      }
      if (args.backend === 'af_packet') {
        // The generator sends through the XDP path, which a veth end delivers only to a native
        // XDP program; AF_PACKET attaches none, so give the port a pass-through one.
        passThrough = attachPassThrough(fwd.netns, fwd.interface);
      }
      dataplane = new Dataplane(config);
      dataplane.on('error', (e) => latch.fail(e));
      dataplane.start();
      const slowPath = args.backend === 'dpdk' ? 'to the kernel through a TAP device' : 'to the kernel';
      console.log(`data plane: macswap on ${fwd.interface} queue 0, core ${DATAPLANE_CORE}, ${args.backend}; UDP ${FAST_PORT} fast, the rest ${slowPath}`);

      const frame = udpFrame(
        {
          srcMac: gen.mac,
          dstMac: fwd.mac,
          srcIp: gen.address,
          dstIp: fwd.address,
          srcPort: FAST_PORT,
          dstPort: FAST_PORT,
        },
        args.size,
      );
      generator = new TrafficGenerator({
        netns: gen.netns,
        interface: gen.interface,
        frame,
        core: GENERATOR_CORE,
        matchUdpPort: FAST_PORT,
      });
      console.log(`generator: ${args.size} B UDP frames to ${fwd.address}:${FAST_PORT} from core ${GENERATOR_CORE}, ${args.seconds} s`);

      const line = new LiveLine();
      const started = performance.now();
      generator.start();
      // Under AF_XDP, ping the same address while the generator floods it: the XDP program hands
      // ICMP to the kernel before the fast path's queue, so the kernel answers all the same. A
      // backend that owns the port receives the slow path in the queue the flood overloads, so
      // there the ping follows the flood.
      const pingDuringFlood = args.backend === 'af_xdp';
      let ping = pingDuringFlood ? pingFrom(gen.netns, fwd.address) : undefined;
      let last = { at: started, returned: 0 };
      while (!latch.stopped && performance.now() - started < args.seconds * 1000) {
        await latch.sleep(500);
        const now = { at: performance.now(), returned: generator.stats().returnedPackets };
        const pps = (now.returned - last.returned) / ((now.at - last.at) / 1000);
        line.update(`returned ${formatRate(pps).padStart(11)}   (${((now.at - started) / 1000).toFixed(1)} s)`);
        last = now;
      }
      const sent = generator.stop();
      const elapsed = (performance.now() - started) / 1000;
      line.done();
      if (latch.stopped) {
        return;
      }

      ping ??= pingFrom(gen.netns, fwd.address);
      const { ok: pingOk, output } = await ping;
      const when = pingDuringFlood ? 'during the flood' : 'after the flood (this backend owns the queue the flood filled)';
      console.log(`slow path, ${when}: ping ${fwd.address} from ${gen.netns}`);
      console.log(output);

      console.log(
        `\nmeasured: ${formatRate(sent.returnedPackets / elapsed)} returned ` +
          `(${sent.returnedPackets} of ${sent.sentPackets} sent in ${elapsed.toFixed(1)} s, ${args.size} B frames)`,
      );
      console.log(formatStats(dataplane.stats()));
      if (!pingOk) {
        console.error('fastlane: the kernel did not answer ping while the data plane ran');
        process.exitCode = 1;
      }
    } finally {
      // Teardown runs on success, on error and after SIGINT/SIGTERM alike; each step is independent.
      if (generator?.running === true) {
        attempt(() => generator?.stop());
      }
      attempt(() => dataplane?.stop());
      attempt(() => passThrough?.detach());
      testbed?.down();
      latch.dispose();
      if (latch.signal !== undefined) {
        console.error(`fastlane: ${latch.signal}, stopped and cleaned up`);
        process.exitCode = 130;
      } else if (latch.error !== undefined) {
        console.error(`fastlane: ${latch.error.message}`);
        process.exitCode = 1;
      }
    }
  },
};

function attempt(step: () => unknown): void {
  try {
    step();
  } catch (e) {
    console.error(`fastlane: during teardown: ${(e as Error).message}`);
  }
}

/** Three pings from `netns` to `address`; resolves with whether all came back, and the output. */
function pingFrom(netns: string, address: string): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', netns, 'ping', '-c', '3', '-i', '0.3', '-W', '2', address], (error, stdout, stderr) =>
      resolve({ ok: error === null && / 0% packet loss/.test(stdout), output: `${stdout}${stderr}`.trimEnd() }),
    );
  });
}
