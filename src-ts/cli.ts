#!/usr/bin/env node
// The `fastlane` command: one file per subcommand under commands/.

import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';

import { demoCommand } from './commands/demo';
import { devicePluginCommand } from './commands/device-plugin';
import { newPluginCommand } from './commands/new-plugin';
import { runCommand } from './commands/run';
import { testbedCommand } from './commands/testbed';
import { upfCommand } from './commands/upf';
import { validateCommand } from './commands/validate';

async function main(): Promise<void> {
  try {
    await yargs(hideBin(process.argv))
      .scriptName('fastlane')
      .command(validateCommand)
      .command(runCommand)
      .command(testbedCommand)
      .command(demoCommand)
      .command(newPluginCommand)
      .command(devicePluginCommand)
      .command(upfCommand)
      .demandCommand(1)
      .strict()
      .help()
      .fail((message, error, y) => {
        if (error !== undefined && error !== null) {
          throw error;
        }
        console.error(`${y.help().toString()}\n\n${message}`);
        process.exit(1);
      })
      .parseAsync();
  } catch (e) {
    // A command failed: its message is the news, not the usage or a stack.
    console.error(`fastlane: ${(e as Error).message}`);
    process.exitCode = 1;
  }
}

void main();
