// `fastlane new-plugin`: the scaffolded crate builds into a loadable plugin library.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { crateNameProblem, scaffoldPlugin } from '../src-ts/commands/new-plugin';
import { CLI, ROOT } from './helpers';

function fastlane(cwd: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tempDir(t: { teardown(f: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fastlane-new-plugin-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test.before(() => {
  if (!fs.existsSync(CLI)) {
    throw new Error(`${CLI} is missing: run npm run build:ts`);
  }
});

test('new-plugin scaffolds a crate that cargo builds into a library exporting the plugin entry point', (t) => {
  t.timeout(10 * 60_000);
  const dir = tempDir(t);
  const r = fastlane(dir, 'new-plugin', 'edge-filter');
  t.is(r.status, 0, r.stdout + r.stderr);
  const crate = path.join(dir, 'edge-filter');
  for (const file of ['Cargo.toml', 'src/lib.rs', 'README.md', '.gitignore']) {
    t.true(fs.existsSync(path.join(crate, file)), file);
  }
  const manifest = fs.readFileSync(path.join(crate, 'Cargo.toml'), 'utf8');
  t.regex(manifest, /crate-type = \["cdylib"\]/);
  // Run from this checkout: the dependency is the repository's crate, by path.
  t.true(manifest.includes(`fastlane-plugin = { path = "${path.join(ROOT, 'crates', 'fastlane-plugin')}" }`), manifest);
  t.regex(fs.readFileSync(path.join(crate, 'src', 'lib.rs'), 'utf8'), /fastlane_plugin::export!\(EdgeFilter\);/);
  t.regex(fs.readFileSync(path.join(crate, 'README.md'), 'utf8'), /"path": "\.\/target\/release\/libedge_filter\.so"/);

  const targetDir = process.env['CARGO_TARGET_DIR'] ?? path.join(ROOT, 'target');
  const build = spawnSync('cargo', ['build', '--manifest-path', path.join(crate, 'Cargo.toml')], {
    encoding: 'utf8',
    env: { ...process.env, CARGO_TARGET_DIR: targetDir },
    timeout: 9 * 60_000,
  });
  t.is(build.status, 0, build.stderr);
  const library = path.join(targetDir, 'debug', 'libedge_filter.so');
  t.true(fs.readFileSync(library).includes('fastlane_plugin_entry'), `${library} exports the entry point`);
});

test('new-plugin refuses a name that is not a crate name and creates nothing', (t) => {
  const dir = tempDir(t);
  for (const [name, why] of [
    ['9lives', 'starts with a letter'],
    ['my plugin', 'starts with a letter'],
    ['fn', 'Rust keyword'],
    ['fastlane-plugin', 'Rust keyword or a name the plugin'],
  ] as const) {
    const r = fastlane(dir, 'new-plugin', name);
    t.is(r.status, 1, name);
    t.true(r.stderr.includes(`invalid plugin name "${name}"`) && r.stderr.includes(why), r.stderr);
  }
  t.deepEqual(fs.readdirSync(dir), []);
});

test('new-plugin refuses to write into a directory that is not empty', (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'keep.txt'), 'mine');
  const r = fastlane(dir, 'new-plugin', 'acl', '--dir', '.');
  t.is(r.status, 1);
  t.true(r.stderr.includes('already exists and is not empty'), r.stderr);
  t.deepEqual(fs.readdirSync(dir), ['keep.txt']);
});

test('outside the repository the crate depends on fastlane-plugin by version; names are checked', (t) => {
  const dir = tempDir(t);
  const written = scaffoldPlugin({ name: 'my_acl', dir: path.join(dir, 'p'), pluginCrate: undefined });
  t.is(written.length, 4);
  t.regex(fs.readFileSync(path.join(dir, 'p', 'Cargo.toml'), 'utf8'), /^fastlane-plugin = "0\.1"$/m);
  t.is(crateNameProblem('my_acl-2'), undefined);
  t.not(crateNameProblem('a'.repeat(65)), undefined);
  t.not(crateNameProblem('Self'), undefined);
});
