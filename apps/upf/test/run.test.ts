// Needs root: `fastlane upf run` as a user runs it — starts from a config file on the
// three-namespace bed, answers for its addresses through the kernel, stops on SIGTERM removing
// what it made; a config that cannot start leaves nothing behind.

import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { UpfConfig } from '../src/config';
import { UE_POOL_V4, UE_POOL_V6, UpfTestbed } from './testbed';

const ROOT = path.join(__dirname, '..', '..', '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');

function configFor(bed: UpfTestbed, region: string, netns = bed.upfNetns): UpfConfig {
  const example = JSON.parse(fs.readFileSync(path.join(ROOT, 'apps', 'upf', 'config', 'upf-af_packet.json'), 'utf8')) as UpfConfig;
  const { pfcp: _, ...upf } = example.upf;
  return {
    ...example,
    name: `${example.name ?? 'upf'}-${region}`,
    netns,
    upf: {
      ...upf,
      n3: { ...example.upf.n3, interface: bed.n3.iface, addresses: [`${bed.n3.ipv4}/24`, `${bed.n3.ipv6}/64`] },
      n6: { ...example.upf.n6, interface: bed.n6.iface, addresses: [`${bed.n6.ipv4}/24`, `${bed.n6.ipv6}/64`] },
      ue_pools: [UE_POOL_V4, UE_POOL_V6],
      capacity: { sessions: 16, pdrs: 64, fars: 64, qers: 16, urrs: 16, next_hops: 16 },
      region,
    },
  };
}

test.serial('fastlane upf run starts, keeps the kernel side answering, and stops on SIGTERM leaving nothing', async (t) => {
  const bed = UpfTestbed.up(`ur${process.pid % 10000}`, 51);
  t.teardown(() => bed.down());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'upf-run-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const region = `upf-run-${process.pid}`;
  const file = path.join(dir, 'upf.json');
  // With a PFCP node (N4 on loopback, in this process's namespace), which `upf sessions` asks.
  const config = configFor(bed, region);
  config.upf.pfcp = { address: '127.0.0.1', port: 20000 + (process.pid % 20000) };
  fs.writeFileSync(file, JSON.stringify(config));

  const child = spawn('node', [CLI, 'upf', 'run', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "running" line: ${out} ${err}`)), 20000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ctrl-C stops')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', () => reject(new Error(`exited early: ${out} ${err}`)));
  });
  t.regex(out, new RegExp(`running upf.*\\(af_packet\\): N3 ${bed.n3.iface}.*rules in /dev/shm/${region}, PFCP on 127\\.0\\.0\\.1`));
  const sessions = spawnSync('node', [CLI, 'upf', 'sessions', file], { encoding: 'utf8', timeout: 20000 });
  t.is(sessions.status, 0, sessions.stderr);
  t.is(sessions.stdout.trim(), '0 sessions', 'the PFCP node answers on its control socket');
  t.true(fs.existsSync(`/dev/shm/${region}`));
  t.regex(bed.exec(bed.gnb.netns, 'ping', '-c', '1', '-W', '2', bed.n3.ipv4), / 0% packet loss/);
  t.regex(bed.exec(bed.dn.netns, 'ping', '-c', '1', '-W', '2', bed.n6.ipv6), / 0% packet loss/);

  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  t.is(await exited, 0, err);
  t.regex(out, /fastlane upf: stopped/);
  t.false(fs.existsSync(`/dev/shm/${region}`), 'the region is removed');
  t.false(fs.existsSync(`/dev/shm/${region}-pfcp`), "the PFCP node's state region is removed");
  const tc = bed.exec(bed.upfNetns, 'tc', 'filter', 'show', 'dev', bed.n3.iface, 'ingress');
  t.is(tc.trim(), '', 'no tc program left on N3');
  t.notRegex(bed.exec(bed.upfNetns, 'ip', 'link'), /fl-/, 'no punt TAP left');
});

test.serial('a UPF that cannot start says why, exits 1 and leaves no region', (t) => {
  const bed = UpfTestbed.up(`uf${process.pid % 10000}`, 52);
  t.teardown(() => bed.down());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'upf-run-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const region = `upf-fail-${process.pid}`;
  const file = path.join(dir, 'upf.json');
  // Valid, but N6 names an interface that is not there: the data plane cannot start.
  const config = configFor(bed, region);
  config.upf.n6.interface = 'no-such-if0';
  fs.writeFileSync(file, JSON.stringify(config));
  const run = spawnSync('node', [CLI, 'upf', 'run', file], { encoding: 'utf8', timeout: 30000 });
  t.is(run.status, 1, run.stdout);
  t.regex(run.stderr, /fastlane upf: cannot start: .*no-such-if0/);
  t.false(fs.existsSync(`/dev/shm/${region}`), 'the region made before the data plane is removed again');
});

test.serial('a control process that cannot start fails the start, which leaves no region', (t) => {
  const bed = UpfTestbed.up(`uc${process.pid % 10000}`, 58);
  t.teardown(() => bed.down());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'upf-run-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const region = `upf-nocontrol-${process.pid}`;
  const file = path.join(dir, 'upf.json');
  // The data plane starts; the PFCP node cannot bind N4 to an address this host does not have.
  const config = configFor(bed, region);
  config.upf.pfcp = { address: '203.0.113.254', port: 8805 };
  fs.writeFileSync(file, JSON.stringify(config));
  const run = spawnSync('node', [CLI, 'upf', 'run', file], { encoding: 'utf8', timeout: 30000 });
  t.is(run.status, 1, run.stdout);
  t.regex(run.stderr, /EADDRNOTAVAIL/);
  t.regex(run.stderr, /fastlane upf: cannot start: the control process exited with code 1 before it was up/);
  t.false(fs.existsSync(`/dev/shm/${region}`), 'the region is removed');
  t.false(fs.existsSync(`/dev/shm/${region}-pfcp`), "the PFCP node's state region is removed");
});
