// Spawns node on the built CLI (dist/cli.js; `npm test` builds it first).

import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { CLI, EXAMPLES, ROOT, macswapConfig } from './helpers';

function fastlane(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tempConfig(t: { teardown(f: () => void): void }, config: unknown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fastlane-cli-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify(config));
  return file;
}

test.before(() => {
  if (!fs.existsSync(CLI)) {
    throw new Error(`${CLI} is missing: run npm run build:ts`);
  }
});

test('validate exits 0 and says ok for every example', (t) => {
  const files = fs.readdirSync(EXAMPLES).map((f) => path.join('config', 'examples', f));
  const r = fastlane('validate', ...files);
  t.is(r.status, 0, r.stdout + r.stderr);
  for (const file of files) {
    t.true(r.stdout.includes(`${file}: ok`), r.stdout);
  }
});

test('validate exits non-zero and prints every error as file: path: message', (t) => {
  const config: any = macswapConfig();
  config.backend = 'carrier_pigeon';
  config.ports[0].queues[0].colour = 1;
  const file = tempConfig(t, config);
  const r = fastlane('validate', file);
  t.is(r.status, 1);
  const lines = r.stdout.trim().split('\n');
  t.is(lines.length, 2, r.stdout);
  t.regex(lines[0] ?? '', new RegExp(`^${escape(file)}: /backend: .*carrier_pigeon`));
  t.regex(lines[1] ?? '', new RegExp(`^${escape(file)}: /ports/0/queues/0/colour: unknown key "colour"`));
});

test('validate reports the native check by path', (t) => {
  const config: any = macswapConfig();
  config.ports[0].queues[0].core = 65535;
  const file = tempConfig(t, config);
  const r = fastlane('validate', file);
  t.is(r.status, 1);
  t.regex(r.stdout, new RegExp(`^${escape(file)}: /ports/0/queues/0/core: core 65535 does not exist`, 'm'));
});

test('one invalid file among valid ones fails the run; a missing file too', (t) => {
  const config: any = macswapConfig();
  config.pipeline = [];
  const bad = tempConfig(t, config);
  const good = path.join('config', 'examples', 'macswap-af_xdp.json');
  const r = fastlane('validate', good, bad);
  t.is(r.status, 1);
  t.regex(r.stdout, new RegExp(`^${escape(good)}: ok$`, 'm'));
  t.regex(r.stdout, new RegExp(`^${escape(bad)}: /pipeline: needs at least 1 item`, 'm'));

  const missing = fastlane('validate', path.join(os.tmpdir(), 'no-such-fastlane-config.json'));
  t.is(missing.status, 1);
  t.regex(missing.stdout, /no-such-fastlane-config\.json: ENOENT/);
});

test('validate without a file is a usage error', (t) => {
  const r = fastlane('validate');
  t.not(r.status, 0);
  t.regex(r.stderr, /Not enough non-option arguments/);
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
