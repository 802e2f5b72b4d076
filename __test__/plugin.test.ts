// `fastlane new-plugin`: the scaffolded crate builds into a loadable plugin library.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { crateNameProblem, scaffoldPlugin } from '../src-ts/commands/new-plugin';
import { Dataplane } from '../src-ts/dataplane';
import { Testbed } from '../src-ts/testbed';
import { exchangeFrames, udpFrame } from '../src-ts/traffic';
import { CLI, ROOT, uniquePrefix } from './helpers';

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
  // The ABI crate and a JSON reader for the config, and no serde.
  t.regex(manifest, /^miniserde = "0\.1"$/m);
  t.false(/serde_json|fastlane-core/.test(manifest), manifest);
  t.regex(fs.readFileSync(path.join(crate, 'src', 'lib.rs'), 'utf8'), /fastlane_plugin::export!\(EdgeFilter\);/);
  t.regex(fs.readFileSync(path.join(crate, 'src', 'lib.rs'), 'utf8'), /const DROP_REASONS: &'static \[&'static str\] = &\["too_short"\];/);
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
  const tree = spawnSync('cargo', ['tree', '--edges', 'normal,build', '--prefix', 'none', '--manifest-path', path.join(crate, 'Cargo.toml')], {
    encoding: 'utf8',
  });
  t.is(tree.status, 0, tree.stderr);
  const crates = tree.stdout.split('\n').map((line) => line.split(' ')[0]);
  t.true(crates.includes('fastlane-abi'), tree.stdout);
  for (const banned of ['serde', 'serde_json', 'fastlane-core']) {
    t.false(crates.includes(banned), `${banned} in the plugin's tree:\n${tree.stdout}`);
  }
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

test.serial('the example ACL plugin runs in a live data plane in front of macswap, with its counters and its named drop reasons in stats', async (t) => {
  t.timeout(10 * 60_000);
  const crate = path.join(ROOT, 'examples', 'acl-plugin');
  const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(crate, 'target');
  const build = spawnSync('cargo', ['build', '--release', '--manifest-path', path.join(crate, 'Cargo.toml')], {
    encoding: 'utf8',
    env: { ...process.env, CARGO_TARGET_DIR: targetDir },
  });
  t.is(build.status, 0, build.stderr);
  const library = path.join(targetDir, 'release', 'libacl_plugin.so');

  const prefix = uniquePrefix('a');
  t.teardown(() => Testbed.down(prefix));
  const bed = Testbed.up({ prefix, subnet: 206 });
  const { gen, fwd } = bed;
  const dataplane = new Dataplane({
    backend: 'af_xdp',
    netns: fwd.netns,
    ports: [{ interface: fwd.interface, queues: [{ id: 0, core: 1 }] }],
    filter: { udp_ports: [{ from: 9000, to: 9001 }] },
    pipeline: [{ type: 'plugin', path: library, config: { deny_dst_ports: [9001] } }, 'macswap'],
  });
  t.teardown(() => dataplane.stop());
  dataplane.start();

  const frame = (dstPort: number) =>
    udpFrame({ srcMac: gen.mac, dstMac: fwd.mac, srcIp: gen.address, dstIp: fwd.address, srcPort: 40000, dstPort }, 64);
  const allowed = await exchangeFrames(gen.netns, gen.interface, Array(5).fill(frame(9000)), 9000, 5, 3000);
  const denied = await exchangeFrames(gen.netns, gen.interface, Array(3).fill(frame(9001)), 9001, 3, 800);
  t.is(allowed.length, 5);
  t.is(denied.length, 0);
  const stats = dataplane.stats();
  t.deepEqual(stats.plugins, [
    { stage: 0, plugin: 'acl-plugin', counters: { allowed: 5, denied: 3 }, drops: { denied_port: 3, denied_source: 0 } },
  ]);
  // The plugin's own reasons count as the `plugin` drop reason of the queue, not as `processor`.
  t.is(stats.queues[0]?.dropped.plugin, 3);
  t.is(stats.queues[0]?.dropped.processor, 0);
  dataplane.stop();

  // Started again, the data plane counts from zero: the plugin's counters too.
  dataplane.start();
  const again = await exchangeFrames(gen.netns, gen.interface, Array(2).fill(frame(9000)), 9000, 2, 3000);
  t.is(again.length, 2);
  t.deepEqual(dataplane.stats().plugins, [
    { stage: 0, plugin: 'acl-plugin', counters: { allowed: 2, denied: 0 }, drops: { denied_port: 0, denied_source: 0 } },
  ]);
  dataplane.stop();
});
