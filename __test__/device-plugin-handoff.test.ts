// The handoff end to end: the real `fastlane device-plugin`, driven by the Go kubelet stand-in
// (tests/kubelet-standin) through registration and Allocate, hands a "pod" its ports. The pod is
// `fastlane run` as uid 65534 with no capability in any set and no_new_privs (setpriv), in its own
// network namespace holding the veth end, started with the environment Allocate returned; only
// the socket's path points at the host side of the allocation's directory, which a container
// would see mounted at /run/fastlane. It runs macswap on af_xdp and on af_packet: UDP from the
// peer namespace is reflected, ping and TCP (the metrics scrape) are answered by the kernel
// through the split, and the counters are exact. Another uid, or a replayed token, gets nothing;
// once the pod is gone nothing made for it remains. Without the plugin the pod fails naming the
// missing capability.

import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Testbed } from '../src-ts/testbed';
import { exchangeFrames, udpFrame } from '../src-ts/traffic';
import { buildStandin, devicePlugin, exited, NOBODY, procStatus, startPod as startUnprivileged, type Lines } from './device-plugin-pod';
import { CLI, uniquePrefix } from './helpers';

const RESOURCE = 'fastlane.io/handoff';
const FAST_PORT = 9000;
const FRAMES = 100;
const METRICS_PORT = 9464;

const prefix = uniquePrefix('dh');
let bed: Testbed;

test.before(() => {
  if (!fs.existsSync(CLI)) {
    throw new Error(`${CLI} is missing: run npm run build:ts`);
  }
  buildStandin();
  bed = Testbed.up({ prefix, subnet: 100 + (process.pid % 100) });
});

test.after.always(() => {
  Testbed.down(prefix);
});

function podConfig(dir: string, backend: string, mode: string, punt: boolean): string {
  const core = os.cpus().length - 1;
  const file = path.join(dir, `pod-${backend}-${mode}-${punt}.json`);
  fs.writeFileSync(file, JSON.stringify({
    backend,
    ports: [{ interface: bed.fwd.interface, queues: [{ id: 0, core }], ...(punt ? { punt: 'tap' } : {}) }],
    filter: { udp_ports: [FAST_PORT] },
    af_xdp: { attach_mode: 'native', umem_frames: 1024, frame_size: 2048 },
    af_packet: { block_count: 16 },
    deployment: { mode },
    pipeline: ['count', 'macswap'],
  }), { mode: 0o644 });
  return file;
}

/** `fastlane run CONFIG` as `uid`, with no capability and no_new_privs, in the pod's namespace. */
const startPod = (t: ExecutionContext, config: string, env: Record<string, string>, uid = NOBODY): { child: ChildProcess; lines: Lines } =>
  startUnprivileged(t, bed.fwd.netns, [process.execPath, CLI, 'run', config, '--metrics', `0.0.0.0:${METRICS_PORT}`], env, uid);

/** The pod's first word: `running`, or the reason it could not start, and its exit code then. */
async function refusedPod(t: ExecutionContext, config: string, env: Record<string, string>, uid = NOBODY): Promise<{ message: string; code: number | null }> {
  const { child, lines } = startPod(t, config, env, uid);
  const message = await lines.next('the pod\'s verdict', (l) => l.startsWith('fastlane: '));
  return { message, code: await exited(child) };
}

/** The plugin's descriptors that a handoff makes: memfds and BPF objects (maps, programs, links). */
function pluginHandoffFds(pid: number): string[] {
  const dir = `/proc/${pid}/fd`;
  return fs.readdirSync(dir).flatMap((fd) => {
    try {
      const target = fs.readlinkSync(path.join(dir, fd));
      return target.startsWith('/memfd:') || target.startsWith('anon_inode:bpf') || target.startsWith('anon_inode:[bpf') || target.includes('XDP')
        ? [`${fd} -> ${target}`]
        : [];
    } catch {
      return []; // closed while listing
    }
  });
}

function scrape(): string {
  const r = spawnSync('ip', ['netns', 'exec', bed.gen.netns, process.execPath, '-e',
    `fetch('http://${bed.fwd.address}:${METRICS_PORT}/metrics').then((r) => r.text()).then((t) => process.stdout.write(t), (e) => { console.error(e.message); process.exit(1); })`,
  ], { encoding: 'utf8', timeout: 15_000 });
  if (r.status !== 0) {
    throw new Error(`metrics scrape over TCP through the split failed: ${r.stderr}`);
  }
  return r.stdout;
}

function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  if (line === undefined) {
    throw new Error(`no ${name} ${JSON.stringify(labels)} in:\n${text}`);
  }
  return Number(line.split(' ').pop());
}

const links = (): string => execFileSync('ip', ['-n', bed.fwd.netns, '-d', '-o', 'link'], { encoding: 'utf8' });

/** The AF_PACKET sockets of the pod's namespace, whoever holds them (`ss --xdp` needs a
 * diagnostics module this kernel lacks: AF_XDP sockets are counted among the plugin's). */
const packetSockets = (): string[] =>
  execFileSync('ip', ['netns', 'exec', bed.fwd.netns, 'ss', '-H', '-a', '--packet'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.trim() !== '');

/** How many sockets the plugin holds. */
const pluginSockets = (pid: number): number =>
  fs.readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:');
    } catch {
      return false;
    }
  }).length;

for (const backend of ['af_xdp', 'af_packet'] as const) {
  test.serial(`an unprivileged pod runs macswap on ${backend} with descriptors the device plugin handed it, and leaves nothing behind`, async (t) => {
    const p = await devicePlugin(t, RESOURCE, [bed.fwd.interface]);
    const before = pluginHandoffFds(p.plugin.pid!);
    const { envs, hostDir } = await p.allocate([`${bed.fwd.interface}-q0`]);
    // The allocation's server listens now: a listening socket and its stop pair.
    const socketsBefore = pluginSockets(p.plugin.pid!);
    t.is(envs.FASTLANE_DEVICE_PLUGIN_SOCKET, '/run/fastlane/handoff.sock');
    const socket = path.join(hostDir, 'handoff.sock');
    t.true(fs.statSync(socket).isSocket(), 'the plugin serves the allocation\'s socket');
    const env = { ...envs, FASTLANE_DEVICE_PLUGIN_SOCKET: socket };
    const config = podConfig(p.dir, backend, 'device_plugin', true);

    // Another uid with the right token gets nothing (and uses nothing up).
    const other = await refusedPod(t, config, env, NOBODY - 1);
    t.is(other.code, 1, other.message);
    t.regex(other.message, /\[ERR_FASTLANE_DEVICE_PLUGIN\] the device plugin at .* refused: uid 65533 may not use allocation [0-9a-f-]{36} \(allowed uids: 65534\)$/);

    const pod = startPod(t, config, env);
    const running = await pod.lines.next('the pod running', (l) => l.startsWith('fastlane: '));
    t.true(running.startsWith('fastlane: running'), `${running}\n${p.log.all.join('\n')}`);
    const status = procStatus(pod.child.pid!);
    t.is(status.Uid!.split(/\s+/)[0], String(NOBODY), 'the pod runs as uid 65534');
    t.is(status.CapEff, '0000000000000000');
    t.is(status.CapPrm, '0000000000000000');
    t.is(status.CapBnd, '0000000000000000');
    t.is(status.CapAmb, '0000000000000000');
    t.is(status.NoNewPrivs, '1');
    await p.log.next('the handoff logged', (l) => l.includes(`handed ${bed.fwd.interface}-q0 (${backend}) to pid ${pod.child.pid} uid ${NOBODY}`));

    const during = links();
    const tap = `fl-${bed.fwd.interface}`.slice(0, 15);
    t.true(during.includes(`${tap}:`), `the punt TAP:\n${during}`);
    t.is(during.includes('prog/xdp'), backend === 'af_xdp', during);
    if (backend === 'af_packet') {
      t.is(packetSockets().length, 1, `the pod's one AF_PACKET socket: ${packetSockets().join('\n')}`);
    }

    // A replayed token gets nothing, while the pod holds its session.
    const replay = await refusedPod(t, config, env);
    t.is(replay.code, 1, replay.message);
    t.regex(replay.message, /refused: the token of allocation [0-9a-f-]{36} was already used \(by pid \d+ uid 65534 at unix time \d+\): a token is good for one handoff$/);

    const ping = spawnSync('ip', ['netns', 'exec', bed.gen.netns, 'ping', '-c', '3', '-i', '0.2', '-W', '2', bed.fwd.address], { encoding: 'utf8' });
    t.is(ping.status, 0, `ping answered by the kernel: ${ping.stdout}`);
    const fields = { srcMac: bed.gen.mac, dstMac: bed.fwd.mac, srcIp: bed.gen.address, dstIp: bed.fwd.address, srcPort: 40000, dstPort: FAST_PORT };
    const frames = Array.from({ length: FRAMES }, (_, i) => udpFrame(fields, 60 + i * 10));
    // In bursts of 20: a loaded machine drops the tail of a longer burst before AF_PACKET's ring.
    const back: Buffer[] = [];
    for (let i = 0; i < FRAMES; i += 20) {
      back.push(...(await exchangeFrames(bed.gen.netns, bed.gen.interface, frames.slice(i, i + 20), FAST_PORT, 20, 3000)));
    }
    // TCP to the pod's address, answered by the kernel through the split: the scrape itself.
    const metrics = scrape();
    t.is(back.length, FRAMES, `every UDP frame reflected; the pod's counters:\n${metrics.split('\n').filter((l) => /^fastlane_(rx|tx|dropped|socket|xdp)/.test(l) && !l.endsWith(' 0')).join('\n')}`);
    back.sort((a, b) => a.length - b.length);
    back.forEach((got, i) => {
      const sent = frames[i]!;
      t.deepEqual([got.subarray(0, 6), got.subarray(6, 12), got.subarray(12)], [sent.subarray(6, 12), sent.subarray(0, 6), sent.subarray(12)]);
    });
    const queue = { port: bed.fwd.interface, queue: '0' };
    t.is(metric(metrics, 'fastlane_rx_packets_total', queue), FRAMES, 'only the UDP frames took the fast path');
    t.is(metric(metrics, 'fastlane_tx_packets_total', queue), FRAMES);
    t.is(metric(metrics, 'fastlane_slow_path_packets_total', { ...queue, direction: 'to_kernel' }), 0);
    if (backend === 'af_xdp') {
      t.is(metric(metrics, 'fastlane_xdp_actions_total', { action: 'redirect' }), FRAMES, 'the split\'s own counter, read through the handed map');
    }

    pod.child.kill('SIGTERM');
    t.is(await exited(pod.child), 0, pod.lines.all.join('\n'));
    await p.log.next('the session ended', (l) => l.includes(`session of pid ${pod.child.pid} uid ${NOBODY} ended: its programs are detached`));
    const after = links();
    t.false(after.includes('prog/xdp'), `an XDP program was left:\n${after}`);
    t.false(after.includes(tap), `the TAP device was left:\n${after}`);
    if (backend === 'af_packet') {
      t.deepEqual(packetSockets(), [], 'an AF_PACKET socket was left');
    }
    t.is(pluginSockets(p.plugin.pid!), socketsBefore, 'the plugin kept a socket of the pod\'s');
    t.deepEqual(pluginHandoffFds(p.plugin.pid!), before, 'the plugin kept no memfd, map, program or link of the pod\'s');
  });
}

test.serial('a running pod keeps its data path across a restart of the plugin, its token stays used, and its programs go with it', async (t) => {
  const p = await devicePlugin(t, RESOURCE, [bed.fwd.interface]);
  const { envs, hostDir } = await p.allocate([`${bed.fwd.interface}-q0`]);
  const env = { ...envs, FASTLANE_DEVICE_PLUGIN_SOCKET: path.join(hostDir, 'handoff.sock') };
  const config = podConfig(p.dir, 'af_xdp', 'device_plugin', true);
  const pod = startPod(t, config, env);
  const running = await pod.lines.next('the pod running', (l) => l.startsWith('fastlane: '));
  t.true(running.startsWith('fastlane: running'), running);
  const firstLog = p.log;
  await p.restart();
  t.true(firstLog.all.some((l) => l.includes(`server stopped; pid ${pod.child.pid} uid ${NOBODY} keeps its programs attached while it holds them`)), firstLog.all.join('\n'));
  t.true(links().includes('prog/xdp'), 'the XDP program outlived the plugin');
  const fields = { srcMac: bed.gen.mac, dstMac: bed.fwd.mac, srcIp: bed.gen.address, dstIp: bed.fwd.address, srcPort: 40000, dstPort: FAST_PORT };
  const frames = Array.from({ length: FRAMES }, (_, i) => udpFrame(fields, 60 + i * 10));
  const back = await exchangeFrames(bed.gen.netns, bed.gen.interface, frames, FAST_PORT, FRAMES, 5000);
  t.is(back.length, FRAMES, 'the pod still forwards after the plugin restarted');
  const replay = await refusedPod(t, config, env);
  t.regex(replay.message, /refused: the token of allocation [0-9a-f-]{36} was already used/);
  pod.child.kill('SIGTERM');
  t.is(await exited(pod.child), 0, pod.lines.all.join('\n'));
  const after = links();
  t.false(after.includes('prog/xdp'), `the pod held the program's last link:\n${after}`);
  t.false(after.includes(`fl-${bed.fwd.interface}`.slice(0, 15)), after);
});

test.serial('allocating the pod\'s device anew ends its allocation: its programs and TAP device go while it runs', async (t) => {
  const p = await devicePlugin(t, RESOURCE, [bed.fwd.interface]);
  const { envs, hostDir } = await p.allocate([`${bed.fwd.interface}-q0`]);
  const env = { ...envs, FASTLANE_DEVICE_PLUGIN_SOCKET: path.join(hostDir, 'handoff.sock') };
  const pod = startPod(t, podConfig(p.dir, 'af_xdp', 'device_plugin', true), env);
  const running = await pod.lines.next('the pod running', (l) => l.startsWith('fastlane: '));
  t.true(running.startsWith('fastlane: running'), running);
  const tap = `fl-${bed.fwd.interface}`.slice(0, 15);
  t.true(links().includes(`${tap}:`));
  // The kubelet gives the device to another container.
  const next = await p.allocate([`${bed.fwd.interface}-q0`]);
  t.not(next.envs.FASTLANE_ALLOCATION, envs.FASTLANE_ALLOCATION);
  await p.log.next('the old session ended', (l) =>
    l.includes(`allocation ${envs.FASTLANE_ALLOCATION}: session of pid ${pod.child.pid} uid ${NOBODY} ended with the allocation: its programs are detached`));
  const after = links();
  t.false(after.includes('prog/xdp'), after);
  t.false(after.includes(tap), after);
  t.false(fs.existsSync(hostDir), 'the old allocation\'s directory went');
  t.is(pod.child.exitCode, null, 'the pod runs on, with nothing to run on');
});

test.serial('without the device plugin the same pod fails naming the missing capability', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fastlane-dph-'));
  fs.chmodSync(dir, 0o755);
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const xdp = await refusedPod(t, podConfig(dir, 'af_xdp', 'standalone', false), {});
  t.is(xdp.code, 1, xdp.message);
  t.regex(xdp.message, /^fastlane: cannot start: \[ERR_FASTLANE_START\] AF_XDP sockets for core \d+: socket\(AF_XDP\) .*Operation not permitted.*\(needs CAP_NET_RAW\)$/);
  const packet = await refusedPod(t, podConfig(dir, 'af_packet', 'standalone', false), {});
  t.regex(packet.message, /\[ERR_FASTLANE_START\] .*af_packet\.suppress_kernel needs CAP_BPF and CAP_NET_ADMIN/);
  const tap = await refusedPod(t, podConfig(dir, 'af_xdp', 'standalone', true), {});
  t.regex(tap.message, /\[ERR_FASTLANE_START\] slow-path TAP device of port 0: .*TUNSETIFF.*needs CAP_NET_ADMIN/);
  // device_plugin mode with no plugin there says so.
  const absent = await refusedPod(t, podConfig(dir, 'af_xdp', 'device_plugin', false), {
    FASTLANE_DEVICE_PLUGIN_SOCKET: path.join(dir, 'handoff.sock'),
    FASTLANE_TOKEN: 'x',
  });
  t.regex(absent.message, /\[ERR_FASTLANE_DEVICE_PLUGIN\] cannot reach the device plugin at .*handoff\.sock: connect\(AF_UNIX\): No such file or directory/);
  const unset = await refusedPod(t, podConfig(dir, 'af_xdp', 'device_plugin', false), {});
  t.regex(unset.message, /\[ERR_FASTLANE_DEVICE_PLUGIN\] deployment\.mode device_plugin: neither \/deployment\/socket nor the environment's FASTLANE_DEVICE_PLUGIN_SOCKET is set/);
});
