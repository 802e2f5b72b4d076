// `fastlane upf …`: the 5G UPF application (apps/upf). Its subcommands live in the app's own
// build (apps/upf/dist, built by `npm run build`), loaded only when `upf` is asked for.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Argv, CommandModule } from 'yargs';

/** The app's CLI module: two levels above src-ts/commands/ and dist/commands/. */
const UPF_CLI = path.join(__dirname, '..', '..', 'apps', 'upf', 'dist', 'cli.js');

function upfCommands(): CommandModule<object, never>[] {
  if (!fs.existsSync(UPF_CLI)) {
    throw new Error(`the UPF application is not built (${UPF_CLI} is missing): run npm run build`);
  }
  return (require(UPF_CLI) as { upfCommands: CommandModule<object, never>[] }).upfCommands;
}

export const upfCommand: CommandModule = {
  command: 'upf',
  describe: 'The 5G UPF: run or validate a UPF config (config/upf.schema.json)',
  builder: (yargs: Argv) => {
    for (const command of upfCommands()) {
      yargs.command(command);
    }
    return yargs.demandCommand(1);
  },
  handler: () => {},
};
