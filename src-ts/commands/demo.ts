// `fastlane demo`: the whole story in a few seconds on a veth test bed. A macswap data plane on
// AF_XDP takes UDP port 9000 while the kernel keeps answering everything else (ping).

import { execFileSync } from 'node:child_process';
import type { Argv, CommandModule } from 'yargs';

import { ConfigBuilder } from '../builder';
import { Dataplane } from '../dataplane';
import { LiveLine, formatRate, formatStats } from '../format';
import { StopLatch } from '../signals';
import { Testbed } from '../testbed';
import { TrafficGenerator, udpFrame } from '../traffic';

interface DemoArgs {
  seconds: number;
  size: number;
  prefix: string | undefined;
}

const FAST_PORT = 9000;
const GENERATOR_CORE = 0;
const DATAPLANE_CORE = 1;

export const demoCommand: CommandModule<object, DemoArgs> = {
  command: 'demo',
  describe: 'Forward UDP on AF_XDP between two namespaces while the kernel still answers ping (root)',
  builder: (yargs: Argv) =>
    yargs
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
    try {
      testbed = Testbed.up(args.prefix === undefined ? {} : { prefix: args.prefix });
      const { gen, fwd } = testbed;
      console.log(`test bed: ${gen.netns} ${gen.interface} ${gen.address}  <->  ${fwd.netns} ${fwd.interface} ${fwd.address}`);

      const config = new ConfigBuilder('af_xdp')
        .name('demo-macswap')
        .netns(fwd.netns)
        .port(fwd.interface, { id: 0, core: DATAPLANE_CORE })
        .udpPorts(FAST_PORT)
        .process('macswap')
        .build();
      dataplane = new Dataplane(config);
      dataplane.on('error', (e) => latch.fail(e));
      dataplane.start();
      console.log(`data plane: macswap on ${fwd.interface} queue 0, core ${DATAPLANE_CORE}, AF_XDP; UDP ${FAST_PORT} fast, the rest to the kernel`);

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

      console.log(`slow path: ping ${fwd.address} from ${gen.netns}`);
      let pingOk = true;
      try {
        const out = execFileSync('ip', ['netns', 'exec', gen.netns, 'ping', '-c', '3', '-i', '0.2', fwd.address], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        console.log(out.trimEnd());
      } catch (e) {
        pingOk = false;
        const { stdout, stderr } = e as { stdout?: string; stderr?: string };
        console.log(`${stdout ?? ''}${stderr ?? ''}`.trimEnd() || (e as Error).message);
      }

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
