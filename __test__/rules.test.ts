// The fast path reads rules a slow path writes, across processes, while it forwards: a TypeScript
// writer in its own process installs per-destination rules in a shared-memory table, the data
// plane (the example `rules-plugin` in front of macswap) forwards by them, the writer is killed
// with SIGKILL, forwarding goes on with the last rules, and a new writer reattaches and changes
// them. Needs root (veth test bed) and cargo (builds the plugin).

import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as path from 'node:path';

import { Dataplane } from '../src-ts/dataplane';
import { SharedRegion } from '../src-ts/shm';
import { Testbed } from '../src-ts/testbed';
import { exchangeFrames, udpFrame } from '../src-ts/traffic';
import { ROOT, uniquePrefix } from './helpers';

const LAYOUT = { tables: [{ name: 'rules', keySize: 4, valueSize: 8, capacity: 65536 }] };
const FORWARD = [1, 0, 0, 0, 0, 0, 0, 0];

function buildPlugin(): string {
  const crate = path.join(ROOT, 'examples', 'rules-plugin');
  const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(crate, 'target');
  const build = spawnSync('cargo', ['build', '--release', '--manifest-path', path.join(crate, 'Cargo.toml')], {
    encoding: 'utf8',
    env: { ...process.env, CARGO_TARGET_DIR: targetDir },
  });
  if (build.status !== 0) {
    throw new Error(build.stderr);
  }
  return path.join(targetDir, 'release', 'librules_plugin.so');
}

/** A writer in a process of its own: opens the region, runs `body`, says "ready", then waits. */
async function writer(region: string, body: string): Promise<ReturnType<typeof spawn>> {
  const code = `
    const { SharedRegion } = require(${JSON.stringify(path.join(ROOT, 'src-ts', 'shm.ts'))});
    const rules = SharedRegion.open(${JSON.stringify(region)}, ${JSON.stringify(LAYOUT)}).table('rules');
    const ip = (s) => Buffer.from(s.split('.').map(Number));
    ${body}
    process.stdout.write('ready\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  if (line.toString().trim() !== 'ready') {
    throw new Error(`writer said ${line}`);
  }
  return child;
}

test.serial('rules written by a TypeScript process steer the live fast path, and outlive their writer', async (t) => {
  t.timeout(10 * 60_000);
  const library = buildPlugin();
  const regionName = `fl-rules-test-${process.pid}`;
  const region = SharedRegion.create(regionName, LAYOUT);
  t.teardown(() => {
    region.close();
    SharedRegion.unlink(regionName);
  });

  const prefix = uniquePrefix('r');
  t.teardown(() => Testbed.down(prefix));
  const bed = Testbed.up({ prefix, subnet: 207 });
  const { gen, fwd } = bed;
  const dataplane = new Dataplane({
    backend: 'af_xdp',
    netns: fwd.netns,
    ports: [{ interface: fwd.interface, queues: [{ id: 0, core: 1 }] }],
    filter: { udp_ports: [9000] },
    pipeline: [{ type: 'plugin', path: library, config: { region: regionName, table: 'rules' } }, 'macswap'],
  });
  t.teardown(() => dataplane.stop());
  dataplane.start();

  // Frames to two destinations behind the forwarder; only rules decide which come back.
  const toward = (dstIp: string) =>
    udpFrame({ srcMac: gen.mac, dstMac: fwd.mac, srcIp: gen.address, dstIp, srcPort: 40000, dstPort: 9000 }, 64);
  const returned = async (dstIp: string) =>
    (await exchangeFrames(gen.netns, gen.interface, Array(4).fill(toward(dstIp)), 9000, 4, 700)).length;

  t.is(await returned('10.200.0.1'), 0, 'no rule, no forwarding');

  const first = await writer(regionName, `rules.set(ip('10.200.0.1'), Buffer.from(${JSON.stringify(FORWARD)}));`);
  t.teardown(() => first.kill('SIGKILL'));
  t.is(await returned('10.200.0.1'), 4, 'a rule from another process is used at once');
  t.is(await returned('10.200.0.2'), 0);

  first.kill('SIGKILL');
  await once(first, 'exit');
  t.is(await returned('10.200.0.1'), 4, 'the last rules stay in force after the writer died');

  const second = await writer(
    regionName,
    `if (rules.get(ip('10.200.0.1')) === undefined) throw new Error('the old rule is gone');
     rules.delete(ip('10.200.0.1'));
     rules.set(ip('10.200.0.2'), Buffer.from(${JSON.stringify(FORWARD)}));`,
  );
  t.teardown(() => second.kill('SIGKILL'));
  t.is(await returned('10.200.0.1'), 0, 'the new writer took over and removed the rule');
  t.is(await returned('10.200.0.2'), 4);

  const plugin = dataplane.stats().plugins[0];
  t.is(plugin?.plugin, 'rules-plugin');
  t.is(plugin?.counters.hit, 12);
  t.is(plugin?.counters.miss, 12);
});
