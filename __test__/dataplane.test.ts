// The Dataplane wrapper. Validation runs before anything native; the tests that start a data plane
// need root and the native NativeDataplane, TrafficGenerator, udpFrame and exchangeFrames.

import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ConfigBuilder } from '../src-ts/builder';
import { Dataplane } from '../src-ts/dataplane';
import { Testbed } from '../src-ts/testbed';
import { exchangeFrames, udpFrame } from '../src-ts/traffic';
import { ConfigError } from '../src-ts/validate';
import { CLI, ROOT, macswapConfig, uniquePrefix } from './helpers';

test('the constructor validates and throws a ConfigError listing every error', (t) => {
  const config: any = macswapConfig();
  config.backend = 'carrier_pigeon';
  config.ports[0].queues[0].core = 'one';
  const error = t.throws(() => new Dataplane(config), { instanceOf: ConfigError });
  t.deepEqual(error?.issues.map((i) => i.path), ['/backend', '/ports/0/queues/0/core']);
});

test('fromFile names the file in its ConfigError', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fastlane-dp-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'bad.json');
  fs.writeFileSync(file, JSON.stringify({ ...macswapConfig(), pipeline: ['macswapp'] }));
  const error = t.throws(() => Dataplane.fromFile(file), { instanceOf: ConfigError });
  t.is(error?.source, file);
  t.regex(error?.message ?? '', /\/pipeline\/0: expected one of/);
});

// Remove `.failing` once the native addon exports NativeDataplane and the traffic tools: ava then
// reports these as passing unexpectedly.
test.serial('macswap on a test bed returns UDP 9000 with MACs swapped; the kernel answers the rest', async (t) => {
  const prefix = uniquePrefix('d');
  t.teardown(() => Testbed.down(prefix));
  const bed = Testbed.up({ prefix, subnet: 204 });
  const { gen, fwd } = bed;
  const dataplane = new Dataplane(
    new ConfigBuilder()
      .netns(fwd.netns)
      .port(fwd.interface, { id: 0, core: 1 })
      .udpPorts(9000)
      .process('count')
      .process('macswap')
      .build(),
  );
  t.teardown(() => dataplane.stop());
  t.false(dataplane.running);
  dataplane.start();
  t.true(dataplane.running);

  const frame = udpFrame(
    { srcMac: gen.mac, dstMac: fwd.mac, srcIp: gen.address, dstIp: fwd.address, srcPort: 9000, dstPort: 9000 },
    64,
  );
  const back = await exchangeFrames(gen.netns, gen.interface, Array(8).fill(frame), 9000, 8, 3000);
  t.is(back.length, 8);
  for (const f of back) {
    t.deepEqual(f.subarray(0, 6), frame.subarray(6, 12), 'destination is the sender');
    t.deepEqual(f.subarray(6, 12), frame.subarray(0, 6), 'source is the forwarder');
    t.deepEqual(f.subarray(12), frame.subarray(12), 'the rest is untouched');
  }
  const ping = execFileSync('ip', ['netns', 'exec', gen.netns, 'ping', '-c', '2', '-i', '0.2', '-W', '2', fwd.address], {
    encoding: 'utf8',
  });
  t.regex(ping, / 0% packet loss/);

  const stats = dataplane.stats();
  t.is(stats.queues.length, 1);
  t.true((stats.queues[0]?.rxPackets ?? 0) >= 8);
  t.true((stats.queues[0]?.txPackets ?? 0) >= 8);
  t.true((stats.ports[0]?.xdp?.redirected ?? 0) >= 8);
  t.deepEqual(stats.pipeline.map((s) => [s.stage, s.packets]), [[0, stats.queues[0]?.rxPackets]]);

  dataplane.stop();
  t.false(dataplane.running);
});

test.serial('start on a missing interface throws with context and leaves nothing running', (t) => {
  const prefix = uniquePrefix('e');
  t.teardown(() => Testbed.down(prefix));
  const bed = Testbed.up({ prefix, subnet: 205 });
  const dataplane = new Dataplane(
    new ConfigBuilder().netns(bed.fwd.netns).port('no-such-if0', { id: 0, core: 0 }).process('drop').build(),
  );
  t.throws(() => dataplane.start(), { message: /no-such-if0/ });
  t.false(dataplane.running);
});

test.serial('fastlane demo forwards, shows the kernel answering ping, and cleans up', (t) => {
  const prefix = uniquePrefix('f');
  t.teardown(() => Testbed.down(prefix));
  const r = spawnSync(process.execPath, [CLI, 'demo', '--seconds', '1', '--prefix', prefix], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  t.is(r.status, 0, r.stdout + r.stderr);
  t.regex(r.stdout, / 0% packet loss/);
  const measured = /measured: .* returned \((\d+) of (\d+) sent/.exec(r.stdout);
  t.truthy(measured, r.stdout);
  t.true(Number(measured?.[1]) > 0);
  t.false(Testbed.namespaces().some((ns) => ns.startsWith(`${prefix}-`)));
});

for (const backend of ['af_packet', 'dpdk']) {
  test.serial(`fastlane demo --backend ${backend} forwards, and the kernel answers ping on the same port`, (t) => {
    const prefix = uniquePrefix(backend === 'dpdk' ? 'k' : 'p');
    t.teardown(() => Testbed.down(prefix));
    const r = spawnSync(process.execPath, [CLI, 'demo', '--seconds', '1', '--backend', backend, '--prefix', prefix], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    t.is(r.status, 0, r.stdout + r.stderr);
    t.regex(r.stdout, new RegExp(`data plane: macswap on .*, ${backend};`));
    t.regex(r.stdout, /slow path, after the flood/);
    t.regex(r.stdout, / 0% packet loss/);
    const measured = /measured: .* returned \((\d+) of (\d+) sent/.exec(r.stdout);
    t.true(Number(measured?.[1]) > 0, r.stdout);
    t.false(Testbed.namespaces().some((ns) => ns.startsWith(`${prefix}-`)));
  });
}
