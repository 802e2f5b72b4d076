// `fastlane validate <config..>`: every error of every file, as `file: /json/path: message`.

import type { Argv, CommandModule } from 'yargs';

import { ConfigError, loadConfigFile } from '../validate';

interface ValidateArgs {
  config: string[];
}

/** Prints each file's verdict; returns whether every file is valid. */
export function validateFiles(files: string[], print: (line: string) => void): boolean {
  let allValid = true;
  for (const file of files) {
    try {
      loadConfigFile(file);
      print(`${file}: ok`);
    } catch (e) {
      allValid = false;
      if (e instanceof ConfigError) {
        for (const issue of e.issues) {
          print(`${file}: ${issue.path || '/'}: ${issue.message}`);
        }
      } else {
        print(`${file}: ${(e as Error).message}`);
      }
    }
  }
  return allValid;
}

export const validateCommand: CommandModule<object, ValidateArgs> = {
  command: 'validate <config..>',
  describe: 'Check config files against the schema and this machine (exit 0 when all are valid)',
  builder: (yargs: Argv) =>
    yargs.positional('config', {
      describe: 'config files',
      type: 'string',
      array: true,
    }) as Argv<ValidateArgs>,
  handler: (args) => {
    process.exitCode = validateFiles(args.config, (line) => console.log(line)) ? 0 : 1;
  },
};
