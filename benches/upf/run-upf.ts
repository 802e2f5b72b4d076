// The UPF as benches/upf.ts runs it: the application of apps/upf (what `fastlane upf run` starts,
// without a PFCP node), then every UE's session created through its UpfSessions, then
// "bench-upf: forwarding" on stdout; stops on SIGTERM or SIGINT.
//
//   node --import tsx benches/upf/run-upf.ts INPUT.json     (INPUT: forwarders.ts RunnerInput)
//
// On stopping it writes the data plane's counters to INPUT's statsFile (RunSummary), so that the
// bench can say where packets went that did not arrive.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

import { Upf } from '../../apps/upf/src/app';
import { wiring } from '../../apps/upf/src/wiring';
import type { RunnerInput, RunSummary } from './forwarders';
import { seid, sessionRules } from './subscribers';

async function main(): Promise<void> {
  const input = JSON.parse(fs.readFileSync(process.argv[2]!, 'utf8')) as RunnerInput;
  let stopping = false;
  let wake: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    wake = resolve;
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      stopping = true;
      wake();
    });
  }
  // A pending promise does not keep Node running; the data plane's threads are not Node's.
  const keepAlive = setInterval(() => {}, 1 << 30);
  const upf = await Upf.start(input.config, wiring());
  try {
    const netns = input.config.netns!;
    const inNetns = (...command: string[]) => execFileSync('ip', ['netns', 'exec', netns, ...command], { stdio: 'ignore' });
    // The kernel resolves both next hops now, not while the first frames wait for them.
    for (const address of [input.peers.gnb, input.peers.n6Gateway]) {
      inNetns('ping', '-c', '1', '-W', '2', address);
    }
    const t0 = performance.now();
    for (let ue = 0; ue < input.ues && !stopping; ue++) {
      upf.sessions.create(seid(ue), sessionRules(ue, input.peers));
    }
    const seconds = (performance.now() - t0) / 1000;
    console.log(`bench-upf: forwarding, ${upf.sessions.size} sessions installed in ${seconds.toFixed(2)} s`);
    const failed = new Promise<void>((resolve) =>
      upf.dataplane.on('error', (e: Error) => {
        console.error(`bench-upf: ${e.message}`);
        process.exitCode = 1;
        resolve();
      }),
    );
    await Promise.race([stopped, failed]);
    const stats = upf.dataplane.stats();
    const summary: RunSummary = {
      queues: stats.queues.map((q) => ({
        interface: q.interface,
        rx: q.rxPackets,
        tx: q.txPackets,
        kernel: q.kernelPackets,
        dropped: q.dropped,
      })),
      plugin: stats.plugins.map((p) => ({ counters: p.counters, drops: p.drops })),
    };
    fs.writeFileSync(input.statsFile, JSON.stringify(summary));
  } finally {
    await upf.stop();
    clearInterval(keepAlive);
  }
}

main().catch((e: unknown) => {
  console.error(`bench-upf: ${(e as Error).message}`);
  process.exit(1);
});
