// `fastlane run <config>`: start the data plane, report, stop cleanly on SIGINT/SIGTERM.

import type { Argv, CommandModule } from 'yargs';

import { Dataplane } from '../dataplane';
import { formatRate } from '../format';
import { createMetricsRegistry, parseListenAddress, serveMetrics, type MetricsServer } from '../metrics';
import type { DataplaneStats } from '../native';
import { StopLatch } from '../signals';

interface RunArgs {
  config: string;
  'stats-interval': number;
  metrics: string | undefined;
}

function totals(stats: DataplaneStats): { rx: number; tx: number } {
  return stats.queues.reduce((t, q) => ({ rx: t.rx + q.rxPackets, tx: t.tx + q.txPackets }), { rx: 0, tx: 0 });
}

export const runCommand: CommandModule<object, RunArgs> = {
  command: 'run <config>',
  describe: 'Run the data plane described by a config file until SIGINT or SIGTERM',
  builder: (yargs: Argv) =>
    yargs
      .positional('config', { describe: 'config file', type: 'string', demandOption: true })
      .option('stats-interval', {
        describe: 'seconds between rate lines (0: none)',
        type: 'number',
        default: 0,
      })
      .option('metrics', {
        describe: 'serve Prometheus metrics at http://ADDR/metrics (host:port, [ipv6]:port or port)',
        type: 'string',
        requiresArg: true,
      }) as Argv<RunArgs>,
  handler: async (args) => {
    const latch = new StopLatch();
    try {
      let dataplane: Dataplane;
      try {
        if (args.metrics !== undefined) {
          // A bad address is found before any port is touched.
          parseListenAddress(args.metrics);
        }
        dataplane = Dataplane.fromFile(args.config);
        dataplane.start();
      } catch (e) {
        console.error(`fastlane: cannot start: ${(e as Error).message}`);
        process.exitCode = 1;
        return;
      }
      dataplane.on('error', (e) => latch.fail(e));
      let metrics: MetricsServer | undefined;
      if (args.metrics !== undefined) {
        try {
          metrics = await serveMetrics(createMetricsRegistry(dataplane), args.metrics);
        } catch (e) {
          dataplane.stop();
          console.error(`fastlane: cannot serve metrics: ${(e as Error).message}`);
          process.exitCode = 1;
          return;
        }
      }
      const { config } = dataplane;
      const queues = config.ports
        .flatMap((p) => p.queues.map((q) => `${p.interface} queue ${q.id} on core ${q.core}`))
        .join(', ');
      console.log(
        `fastlane: running ${config.name ?? args.config} (${config.backend}) on ${queues}` +
          `${config.netns === undefined ? '' : ` in netns ${config.netns}`}; Ctrl-C stops`,
      );
      if (metrics !== undefined) {
        console.log(`fastlane: metrics at ${metrics.url}`);
      }
      const interval = args.statsInterval;
      if (interval > 0) {
        let last = { at: performance.now(), ...totals(dataplane.stats()) };
        while (!latch.stopped) {
          await latch.sleep(interval * 1000);
          const now = { at: performance.now(), ...totals(dataplane.stats()) };
          const seconds = (now.at - last.at) / 1000;
          console.log(`rx ${formatRate((now.rx - last.rx) / seconds)}, tx ${formatRate((now.tx - last.tx) / seconds)}`);
          last = now;
        }
      } else {
        await latch.wait();
      }
      dataplane.stop();
      await metrics?.close();
      if (latch.error !== undefined) {
        console.error(`fastlane: ${latch.error.message}`);
        process.exitCode = 1;
      } else {
        console.log('fastlane: stopped');
        process.exitCode = 0;
      }
    } finally {
      latch.dispose();
    }
  },
};
