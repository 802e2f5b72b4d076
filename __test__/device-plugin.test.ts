// `fastlane device-plugin` driven by a kubelet stand-in written in Go on the official generated
// package k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1 (tests/kubelet-standin), so both sides of
// the wire are checked against code this project did not write. The plugin runs in a network
// namespace made here, with veth interfaces whose links the tests set down and up; VFs are fake
// PCI device directories under a sysfs root of the test's own.

import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';

import { devicePluginConfigIssues } from '../src-ts/device-plugin/config';
import { CLI, ROOT, uniquePrefix } from './helpers';

const STANDIN_SRC = path.join(ROOT, 'tests', 'kubelet-standin');
const STANDIN = path.join(ROOT, 'target', 'kubelet-standin');
const PROTO_COPY = path.join(ROOT, 'deploy', 'kubelet-deviceplugin');
const RESOURCE = 'fastlane.io/test';
const ENDPOINT = 'fastlane-fastlane.io_test.sock';

const prefix = uniquePrefix('dp');
const NETNS = `${prefix}ns`;
const IF_A = `${prefix}a`; // 4 queues
const IF_B = `${prefix}b`; // 2 queues
const VF_1 = '0000:03:00.2';
const VF_2 = '0000:03:00.3';
const QUEUE_IDS = [0, 1, 2, 3].map((q) => `${IF_A}-q${q}`).concat([0, 1].map((q) => `${IF_B}-q${q}`));
const ALL_IDS = [...QUEUE_IDS, VF_1, VF_2];

const ip = (...args: string[]): void => void execFileSync('ip', args, { stdio: 'pipe' });

test.before(() => {
  if (!fs.existsSync(CLI)) {
    throw new Error(`${CLI} is missing: run npm run build:ts`);
  }
  // -mod=readonly: go.sum must be complete as checked in.
  execFileSync('go', ['build', '-mod=readonly', '-o', STANDIN, '.'], { cwd: STANDIN_SRC, stdio: 'pipe' });
  ip('netns', 'add', NETNS);
  for (const name of [IF_A, IF_B]) {
    // veth (this kernel has no dummy driver); the peer stays up, the tests flip the end offered.
    ip('-n', NETNS, 'link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`);
    ip('-n', NETNS, 'link', 'set', `${name}p`, 'up');
    ip('-n', NETNS, 'link', 'set', name, 'up');
  }
});

test.after.always(() => {
  try {
    ip('netns', 'del', NETNS); // takes its veths with it
  } catch {
    // not made
  }
});

/** A process printing JSON lines; next() waits for the first line after the last match. */
class JsonLines {
  readonly lines: any[] = [];
  #cursor = 0;
  #wake: (() => void) | undefined;
  constructor(readonly child: ChildProcess, readonly log: string[]) {
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      log.push(line);
      try {
        this.lines.push(JSON.parse(line));
      } catch {
        return; // a log line of the plugin
      }
      this.#wake?.();
    });
    child.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
  }

  async next(what: string, match: (line: any) => boolean, ms = 10_000): Promise<any> {
    const deadline = Date.now() + ms;
    for (;;) {
      while (this.#cursor < this.lines.length) {
        const line = this.lines[this.#cursor++];
        if (match(line)) {
          return line;
        }
      }
      if (Date.now() > deadline) {
        throw new Error(`no ${what} within ${ms} ms; output so far:\n${this.log.join('\n')}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}

interface Bed {
  dir: string;
  kubeletDir: string;
  stateDir: string;
  sysfs: string;
  configFile: string;
  kubelet: JsonLines;
  send(command: object): void;
  startPlugin(): ChildProcess;
  stopPlugin(p: ChildProcess): Promise<number | null>;
  pluginLog: string[];
}

/** A kubelet stand-in on a temp dir and a plugin (running in NETNS) for the two veths and two VFs. */
async function bed(t: ExecutionContext): Promise<Bed> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fastlane-dp-'));
  const kubeletDir = path.join(dir, 'device-plugins');
  const stateDir = path.join(dir, 'state');
  const sysfs = path.join(dir, 'sys');
  fs.mkdirSync(kubeletDir);
  // Net devices from the real sysfs (the plugin's, which `ip netns exec` mounts for NETNS); VFs fake.
  fs.mkdirSync(path.join(sysfs, 'bus', 'pci', 'devices'), { recursive: true });
  fs.symlinkSync('/sys/class', path.join(sysfs, 'class'));
  for (const [vf, group] of [[VF_1, '42'], [VF_2, '43']] as const) {
    makeVf(sysfs, vf, group);
  }
  const configFile = path.join(dir, 'plugin.json');
  fs.writeFileSync(configFile, JSON.stringify({
    resource_name: RESOURCE,
    kubelet_dir: kubeletDir,
    state_dir: stateDir,
    sysfs,
    health_poll_ms: 50,
    interfaces: [{ name: IF_A, queues: { first: 0, count: 4 } }, { name: IF_B, queues: { first: 0, count: 2 } }],
    vfs: [{ pci_address: VF_1 }, { pci_address: VF_2 }],
  }));
  const log: string[] = [];
  const pluginLog: string[] = [];
  const standin = spawn(STANDIN, ['-dir', kubeletDir], { stdio: ['pipe', 'pipe', 'pipe'] });
  const kubelet = new JsonLines(standin, log);
  const plugins: ChildProcess[] = [];
  t.teardown(async () => {
    for (const p of plugins) {
      p.kill('SIGKILL');
    }
    standin.stdin!.end();
    await new Promise((resolve) => standin.once('exit', resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await kubelet.next('stand-in listening', (l) => l.event === 'listening');
  return {
    dir, kubeletDir, stateDir, sysfs, configFile, kubelet, pluginLog,
    send: (command) => standin.stdin!.write(`${JSON.stringify(command)}\n`),
    startPlugin: () => {
      const p = spawn('ip', ['netns', 'exec', NETNS, process.execPath, CLI, 'device-plugin', '--config', configFile], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      new JsonLines(p, pluginLog);
      plugins.push(p);
      return p;
    },
    stopPlugin: async (p) => {
      const exited = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
      p.kill('SIGTERM');
      return exited;
    },
  };
}

function makeVf(sysfs: string, pciAddress: string, group: string): void {
  const dev = path.join(sysfs, 'bus', 'pci', 'devices', pciAddress);
  fs.mkdirSync(dev);
  fs.symlinkSync(`../../../../kernel/iommu_groups/${group}`, path.join(dev, 'iommu_group'));
}

const devices = (l: any): Record<string, string> =>
  Object.fromEntries(l.response.devices.map((d: any) => [d.ID, d.health]));

async function registered(b: Bed): Promise<{ register: any; list: any }> {
  const register = await b.kubelet.next('Register', (l) => l.event === 'register');
  await b.kubelet.next('GetDevicePluginOptions', (l) => l.event === 'options');
  const list = await b.kubelet.next('ListAndWatch', (l) => l.event === 'devices');
  return { register, list };
}

async function call(b: Bed, command: { op: string; [field: string]: unknown }): Promise<any> {
  b.send(command);
  return b.kubelet.next(`${command.op} reply`, (l) => l.event === command.op || (l.event === 'error' && l.op === command.op));
}

test.serial('the api.proto copy and its licence are byte-identical to k8s.io/kubelet at the stand-in\'s version', (t) => {
  const mod = JSON.parse(execFileSync('go', ['list', '-m', '-json', 'k8s.io/kubelet'], { cwd: STANDIN_SRC, encoding: 'utf8' }));
  t.regex(mod.Version, /^v0\.\d+\.\d+$/);
  const readme = fs.readFileSync(path.join(PROTO_COPY, 'README.md'), 'utf8');
  t.true(readme.includes(`\`k8s.io/kubelet\` **${mod.Version}**`), 'the README names the version the copy came from');
  const sha = (f: string): string => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
  t.is(sha(path.join(PROTO_COPY, 'v1beta1', 'api.proto')), sha(path.join(mod.Dir, 'pkg', 'apis', 'deviceplugin', 'v1beta1', 'api.proto')));
  t.is(sha(path.join(PROTO_COPY, 'LICENSE')), sha(path.join(mod.Dir, 'LICENSE')));
});

test.serial('registers v1beta1 with its resource name and endpoint, options, and lists exactly the configured devices as healthy', async (t) => {
  const b = await bed(t);
  b.startPlugin();
  const { register, list } = await registered(b);
  t.deepEqual(register.request, {
    version: 'v1beta1',
    endpoint: ENDPOINT,
    resource_name: RESOURCE,
    options: { pre_start_required: true, get_preferred_allocation_available: true },
  });
  t.true(fs.statSync(path.join(b.kubeletDir, ENDPOINT)).isSocket());
  const options = await call(b, { op: 'options' });
  t.deepEqual(options.response, { pre_start_required: true, get_preferred_allocation_available: true });
  t.deepEqual(devices(list), Object.fromEntries(ALL_IDS.map((id) => [id, 'Healthy'])));
});

test.serial('a link set down, or a VF gone, is streamed as Unhealthy, and Healthy again when back', async (t) => {
  const b = await bed(t);
  b.startPlugin();
  await registered(b);
  const healthy = Object.fromEntries(ALL_IDS.map((id) => [id, 'Healthy']));
  const expect = async (what: string, want: Record<string, string>): Promise<void> => {
    const l = await b.kubelet.next(what, (x) => x.event === 'devices' && JSON.stringify(devices(x)) === JSON.stringify(want));
    t.deepEqual(devices(l), want);
  };
  ip('-n', NETNS, 'link', 'set', IF_A, 'down');
  try {
    const aDown = { ...healthy };
    for (let q = 0; q < 4; q++) {
      aDown[`${IF_A}-q${q}`] = 'Unhealthy';
    }
    await expect(`${IF_A} Unhealthy`, aDown);
  } finally {
    ip('-n', NETNS, 'link', 'set', IF_A, 'up');
  }
  await expect(`${IF_A} Healthy again`, healthy);
  fs.rmSync(path.join(b.sysfs, 'bus', 'pci', 'devices', VF_2), { recursive: true });
  await expect(`${VF_2} Unhealthy`, { ...healthy, [VF_2]: 'Unhealthy' });
  makeVf(b.sysfs, VF_2, '43');
  await expect(`${VF_2} Healthy again`, healthy);
  // Allocate refuses an unhealthy device.
  ip('-n', NETNS, 'link', 'set', IF_B, 'down');
  try {
    await b.kubelet.next(`${IF_B} Unhealthy`, (x) => x.event === 'devices' && devices(x)[`${IF_B}-q0`] === 'Unhealthy');
    const refused = await call(b, { op: 'allocate', containers: [[`${IF_B}-q0`]] });
    t.like(refused, { event: 'error', code: 'FailedPrecondition', message: `device "${IF_B}-q0" is Unhealthy` });
  } finally {
    ip('-n', NETNS, 'link', 'set', IF_B, 'up');
  }
});

test.serial('GetPreferredAllocation keeps to one interface and to contiguous queues', async (t) => {
  const b = await bed(t);
  b.startPlugin();
  await registered(b);
  const prefer = async (available: string[], mustInclude: string[], size: number): Promise<string[]> => {
    const r = await call(b, { op: 'preferred', requests: [{ available, must_include: mustInclude, size }] });
    t.is(r.event, 'preferred', JSON.stringify(r));
    return r.response.container_responses[0].deviceIDs;
  };
  const a = (q: number): string => `${IF_A}-q${q}`;
  const bq = (q: number): string => `${IF_B}-q${q}`;
  // Three fit only on A; two fit exactly on B (A's four stay whole).
  t.deepEqual(await prefer(QUEUE_IDS, [], 3), [a(0), a(1), a(2)]);
  t.deepEqual(await prefer(QUEUE_IDS, [], 2), [bq(0), bq(1)]);
  // A required queue pulls the rest to its interface, next to it.
  t.deepEqual(await prefer(QUEUE_IDS, [a(3)], 2), [a(3), a(2)]);
  t.deepEqual(await prefer(QUEUE_IDS, [bq(1)], 2), [bq(1), bq(0)]);
  // The contiguous pair, not the first two free.
  t.deepEqual(await prefer([a(0), a(2), a(3)], [], 2), [a(2), a(3)]);
  // More than one interface holds: the largest first, then the next.
  t.deepEqual((await prefer(QUEUE_IDS, [], 5)).sort(), [a(0), a(1), a(2), a(3), bq(0)].sort());
  // VFs in address order, whatever order the kubelet lists them in.
  t.deepEqual(await prefer([VF_2, VF_1], [], 1), [VF_1]);
});

test.serial('Allocate mounts a socket directory per allocation and names the socket, devices, token and VFIO devices', async (t) => {
  const b = await bed(t);
  b.startPlugin();
  await registered(b);
  const r = await call(b, { op: 'allocate', containers: [[`${IF_A}-q0`, `${IF_A}-q1`], [VF_1, VF_2]] });
  t.is(r.event, 'allocate', JSON.stringify(r));
  const [queues, vfs] = r.response.container_responses;
  for (const c of [queues, vfs]) {
    t.is(c.envs.FASTLANE_DEVICE_PLUGIN_SOCKET, '/run/fastlane/handoff.sock');
    t.regex(c.envs.FASTLANE_TOKEN, /^[0-9a-f]{64}$/);
    t.is(c.mounts.length, 1);
    t.like(c.mounts[0], { container_path: '/run/fastlane', read_only: false });
    t.is(c.mounts[0].host_path, path.join(b.stateDir, 'allocations', c.envs.FASTLANE_ALLOCATION));
    t.true(fs.statSync(c.mounts[0].host_path).isDirectory());
  }
  t.not(queues.envs.FASTLANE_TOKEN, vfs.envs.FASTLANE_TOKEN);
  t.not(queues.envs.FASTLANE_ALLOCATION, vfs.envs.FASTLANE_ALLOCATION);
  t.is(queues.envs.FASTLANE_DEVICES, `${IF_A}-q0,${IF_A}-q1`);
  t.deepEqual(queues.devices, []);
  t.false('PCIDEVICE_FASTLANE_IO_TEST' in queues.envs);
  t.is(vfs.envs.FASTLANE_DEVICES, `${VF_1},${VF_2}`);
  t.is(vfs.envs.PCIDEVICE_FASTLANE_IO_TEST, `${VF_1},${VF_2}`);
  t.deepEqual(vfs.devices, ['vfio', '42', '43'].map((n) => ({ container_path: `/dev/vfio/${n}`, host_path: `/dev/vfio/${n}`, permissions: 'rw' })));
  // The state keeps a digest of each token, never the token.
  const state = fs.readFileSync(path.join(b.stateDir, 'allocations.json'), 'utf8');
  t.false(state.includes(queues.envs.FASTLANE_TOKEN));
  t.true(state.includes(crypto.createHash('sha256').update(queues.envs.FASTLANE_TOKEN).digest('hex')));
  const unknown = await call(b, { op: 'allocate', containers: [[`${IF_A}-q9`]] });
  t.like(unknown, { event: 'error', code: 'InvalidArgument' });
  t.true(unknown.message.startsWith(`unknown device "${IF_A}-q9"`), unknown.message);
  const prestart = await call(b, { op: 'prestart', devices: [VF_2, VF_1] });
  t.is(prestart.event, 'prestart', JSON.stringify(prestart));
});

test.serial('a kubelet restart (its directory swept, kubelet.sock new) leads to re-registration', async (t) => {
  const b = await bed(t);
  b.startPlugin();
  await registered(b);
  b.send({ op: 'restart' });
  await b.kubelet.next('stand-in listening again', (l) => l.event === 'listening');
  const { register, list } = await registered(b);
  t.is(register.request.endpoint, ENDPOINT);
  t.is(Object.keys(devices(list)).length, ALL_IDS.length);
  t.true(fs.statSync(path.join(b.kubeletDir, ENDPOINT)).isSocket());
  const r = await call(b, { op: 'allocate', containers: [[`${IF_B}-q0`]] });
  t.is(r.event, 'allocate', JSON.stringify(r));
});

test.serial('a plugin restart keeps its allocations; SIGTERM removes its socket', async (t) => {
  const b = await bed(t);
  const first = b.startPlugin();
  await registered(b);
  const r = await call(b, { op: 'allocate', containers: [[`${IF_A}-q2`, `${IF_A}-q3`]] });
  const hostDir = r.response.container_responses[0].mounts[0].host_path;
  t.is(await b.stopPlugin(first), 0, b.pluginLog.join('\n'));
  t.false(fs.existsSync(path.join(b.kubeletDir, ENDPOINT)));
  await b.kubelet.next('ListAndWatch ended', (l) => l.event === 'stream_ended');
  b.startPlugin();
  await registered(b);
  t.true(fs.statSync(hostDir).isDirectory(), 'the running pod keeps its socket directory');
  const known = await call(b, { op: 'prestart', devices: [`${IF_A}-q3`, `${IF_A}-q2`] });
  t.is(known.event, 'prestart', JSON.stringify(known));
  const unknown = await call(b, { op: 'prestart', devices: [`${IF_A}-q0`] });
  t.like(unknown, { event: 'error', code: 'FailedPrecondition' });
  // Reallocating a device ends the allocation that held it: the restarted plugin knew that one.
  const again = await call(b, { op: 'allocate', containers: [[`${IF_A}-q3`]] });
  t.is(again.event, 'allocate', JSON.stringify(again));
  t.false(fs.existsSync(hostDir));
  const gone = await call(b, { op: 'prestart', devices: [`${IF_A}-q2`, `${IF_A}-q3`] });
  t.like(gone, { event: 'error', code: 'FailedPrecondition' });
});

test('invalid device-plugin configs name the JSON path', (t) => {
  const issues = (doc: unknown): Record<string, string> =>
    Object.fromEntries(devicePluginConfigIssues(doc).map((i) => [i.path, i.message]));
  t.deepEqual(devicePluginConfigIssues({ resource_name: RESOURCE, interfaces: [{ name: 'eth0', queues: { first: 0, count: 1 } }] }), []);
  t.deepEqual(Object.keys(issues({ resource_name: 'no-slash', vfs: [{ pci_address: VF_1 }] })), ['/resource_name']);
  t.deepEqual(Object.keys(issues({ resource_name: RESOURCE })), ['']);
  const bad = issues({
    resource_name: RESOURCE,
    state_dir: 'relative',
    health_poll_ms: 0,
    colour: 'red',
    allowed_uids: [65534, -1],
    interfaces: [
      { name: 'eth0', queues: { first: 0, count: 2 } },
      { name: 'eth0', queues: { first: -1, count: 0 } },
      { name: 'much-too-long-name0', queues: { first: 4095, count: 2 }, speed: 1 },
    ],
    vfs: [{ pci_address: '0000:03:00.2' }, { pci_address: '0000:03:00.2' }, { pci_address: '03:00.2' }],
  });
  t.deepEqual(Object.keys(bad).sort(), [
    '/allowed_uids/1', '/colour', '/health_poll_ms', '/interfaces/1/name', '/interfaces/1/queues/count', '/interfaces/1/queues/first',
    '/interfaces/2/name', '/interfaces/2/queues/count', '/interfaces/2/speed', '/state_dir', '/vfs/1/pci_address', '/vfs/2/pci_address',
  ].sort());
  t.is(bad['/interfaces/1/name'], 'interface "eth0" is already listed at /interfaces/0');
  t.is(bad['/vfs/1/pci_address'], 'VF 0000:03:00.2 is already listed at /vfs/0');
});

test('the CLI refuses an invalid config with the path, or a missing kubelet directory, and exits 1', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fastlane-dp-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'bad.json');
  fs.writeFileSync(file, JSON.stringify({ resource_name: RESOURCE, kubelet_dir: dir, state_dir: dir, vfs: [{ pci_address: 'x' }] }));
  const r = spawnSync(process.execPath, [CLI, 'device-plugin', '--config', file], { encoding: 'utf8', timeout: 30_000 });
  t.is(r.status, 1, r.stdout + r.stderr);
  t.true(r.stderr.includes(`invalid config ${file}`), r.stderr);
  t.true(r.stderr.includes('/vfs/0/pci_address: a PCI address'), r.stderr);
  t.false(fs.existsSync(path.join(dir, ENDPOINT)), 'no socket is served');
  const missing = path.join(dir, 'no-kubelet-here');
  fs.writeFileSync(file, JSON.stringify({ resource_name: RESOURCE, kubelet_dir: missing, state_dir: dir, vfs: [{ pci_address: VF_1 }] }));
  const r2 = spawnSync(process.execPath, [CLI, 'device-plugin', '--config', file], { encoding: 'utf8', timeout: 30_000 });
  t.is(r2.status, 1, r2.stdout + r2.stderr);
  t.true(r2.stderr.includes(`kubelet_dir ${missing} is not a directory`), r2.stderr);
});
