// `fastlane upf …`: the UPF's subcommands, which the main CLI (src-ts/commands/upf.ts) loads
// from this app's build.

import type { Argv, CommandModule } from 'yargs';

import { ConfigError } from 'fastlane-dataplane';

import { UpfDataplane } from './app';
import { loadUpfConfig } from './config';
import { sessionsCommand } from './node';
import { ControlSupervisor } from './supervisor';
import { controlSocketOf, wiring } from './wiring';

interface RunArgs {
  config: string;
}

interface ValidateArgs {
  configs: string[];
}

/** Resolves on the first SIGINT or SIGTERM (which then no longer end the process). */
function stopSignal(): { promise: Promise<NodeJS.Signals>; dispose(): void } {
  let handler: (signal: NodeJS.Signals) => void = () => {};
  const promise = new Promise<NodeJS.Signals>((resolve) => {
    handler = resolve;
  });
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  const keepAlive = setInterval(() => {}, 1 << 30);
  return {
    promise,
    dispose: () => {
      clearInterval(keepAlive);
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

const runCommand: CommandModule<object, RunArgs> = {
  command: 'run <config>',
  describe: 'Run the UPF of a UPF config until SIGINT or SIGTERM',
  builder: (yargs: Argv) =>
    yargs.positional('config', { describe: 'UPF config file', type: 'string', demandOption: true }) as Argv<RunArgs>,
  handler: async (args) => {
    // Signals are caught from the start, so one during start-up still stops cleanly.
    const stop = stopSignal();
    try {
      // The data plane here; the control side (PFCP node, next hops) in a process of its own,
      // restarted when it dies, so that forwarding never depends on it (supervisor.ts).
      let upf: UpfDataplane;
      let control: ControlSupervisor;
      try {
        const config = loadUpfConfig(args.config);
        upf = await UpfDataplane.start(config, wiring());
        try {
          control = await ControlSupervisor.start({ configFile: args.config, region: upf.region, log: (line) => console.log(line) });
        } catch (e) {
          await upf.stop();
          throw e;
        }
      } catch (e) {
        console.error(`fastlane upf: cannot start: ${(e as Error).message}`);
        process.exitCode = 1;
        return;
      }
      let failure: Error | undefined;
      const failed = new Promise<void>((resolve) =>
        upf.dataplane.on('error', (e) => {
          failure = e;
          resolve();
        }),
      );
      const { n3, n6, pfcp } = upf.config.upf;
      console.log(
        `fastlane upf: running ${upf.config.name ?? args.config} (${upf.config.backend}): N3 ${n3.interface} ` +
          `${n3.addresses.join(' ')}, N6 ${n6.interface}, UE pools ${upf.config.upf.ue_pools.join(' ')}, ` +
          `rules in /dev/shm/${upf.region}${pfcp === undefined ? '' : `, PFCP on ${pfcp.address}`}` +
          `${upf.config.netns === undefined ? '' : ` in netns ${upf.config.netns}`}; Ctrl-C stops`,
      );
      await Promise.race([stop.promise, failed]);
      await control.stop();
      await upf.stop();
      if (failure !== undefined) {
        console.error(`fastlane upf: ${failure.message}`);
        process.exitCode = 1;
      } else {
        console.log('fastlane upf: stopped');
        process.exitCode = 0;
      }
    } finally {
      stop.dispose();
    }
  },
};

const validateCommand: CommandModule<object, ValidateArgs> = {
  command: 'validate <configs..>',
  describe: 'Check UPF config files; print every error with its JSON path',
  builder: (yargs: Argv) =>
    yargs.positional('configs', { describe: 'UPF config files', type: 'string', array: true, demandOption: true }) as Argv<ValidateArgs>,
  handler: (args) => {
    let bad = 0;
    for (const file of args.configs) {
      try {
        loadUpfConfig(file);
        console.log(`${file}: ok`);
      } catch (e) {
        bad += 1;
        console.error(e instanceof ConfigError ? e.message : `${file}: ${(e as Error).message}`);
      }
    }
    process.exitCode = bad === 0 ? 0 : 1;
  },
};

/** The `fastlane upf` subcommands. */
export const upfCommands: CommandModule<object, never>[] = [
  runCommand as unknown as CommandModule<object, never>,
  validateCommand as unknown as CommandModule<object, never>,
  // The PFCP node answers on its control socket, which the config's name determines.
  sessionsCommand((file) => controlSocketOf(loadUpfConfig(file))) as unknown as CommandModule<object, never>,
];
