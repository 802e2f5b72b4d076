// `fastlane testbed up|down`: the two-namespace veth test bed, for trying configs by hand.

import type { Argv, CommandModule } from 'yargs';

import { Testbed, testbedNames, type TestbedOptions } from '../testbed';

interface UpArgs {
  prefix: string | undefined;
  subnet: number | undefined;
  json: boolean;
}

interface DownArgs {
  prefix: string;
}

const upCommand: CommandModule<object, UpArgs> = {
  command: 'up',
  describe: 'Create <prefix>-gen and <prefix>-fwd joined by the veth pair <prefix>-g0 / <prefix>-f0',
  builder: (yargs: Argv) =>
    yargs
      .option('prefix', { describe: 'name prefix (default from the process id)', type: 'string' })
      .option('subnet', { describe: 'N in 10.77.N.0/24 (default from the process id)', type: 'number' })
      .option('json', { describe: 'print the test bed as JSON', type: 'boolean', default: false }) as Argv<UpArgs>,
  handler: (args) => {
    const options: TestbedOptions = {};
    if (args.prefix !== undefined) {
      options.prefix = args.prefix;
    }
    if (args.subnet !== undefined) {
      options.subnet = args.subnet;
    }
    const bed = Testbed.up(options);
    if (args.json) {
      console.log(JSON.stringify({ prefix: bed.prefix, subnet: bed.subnet, gen: bed.gen, fwd: bed.fwd }, null, 2));
      return;
    }
    for (const [role, end] of [
      ['gen', bed.gen],
      ['fwd', bed.fwd],
    ] as const) {
      console.log(`${role}: netns ${end.netns}, interface ${end.interface}, ${end.address}/24, mac ${end.mac}`);
    }
    console.log(`remove with: fastlane testbed down --prefix ${bed.prefix}`);
  },
};

const downCommand: CommandModule<object, DownArgs> = {
  command: 'down',
  describe: 'Remove the test bed with this prefix (whatever of it exists)',
  builder: (yargs: Argv) =>
    yargs.option('prefix', { describe: 'name prefix given to up', type: 'string', demandOption: true }) as Argv<DownArgs>,
  handler: (args) => {
    Testbed.down(args.prefix);
    const { gen, fwd } = testbedNames(args.prefix);
    console.log(`removed ${gen.netns}, ${fwd.netns} and ${gen.interface}/${fwd.interface}`);
  },
};

export const testbedCommand: CommandModule = {
  command: 'testbed',
  describe: 'Create or remove a two-namespace veth test bed (root)',
  builder: (yargs: Argv) => yargs.command(upCommand).command(downCommand).demandCommand(1),
  handler: () => {},
};
