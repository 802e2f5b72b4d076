// Fastlane in real containers, as deploy/ runs it on Kubernetes: the image scripts/container-image
// builds; `fastlane device-plugin` in a privileged container with the DaemonSet's flags (host
// network — a namespace made here stands for the node's — host PID namespace, the kubelet's and
// its state directory at the same paths), registered with the kubelet stand-in
// (tests/kubelet-standin, on the official k8s.io/kubelet package); and macswap as
// deploy/macswap.yaml runs it (its args, its config, its security context: uid 65534, every
// capability dropped, no_new_privs, read-only root, seccomp as it says) in its own network
// namespace, into which the veth end is moved as the host-device CNI would, started as the kubelet
// starts a container: with the mounts and environment Allocate returned. Skipped, saying why,
// only when podman cannot run a container on this machine at all.

import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import * as yaml from 'js-yaml';
import type { IIoK8sApiCoreV1PodSpec as PodSpec } from 'kubernetes-models/v1/PodSpec';

import type { FastlaneConfig } from '../src-ts/config';
import { Testbed } from '../src-ts/testbed';
import { exchangeFrames, udpFrame } from '../src-ts/traffic';
import { ROOT, uniquePrefix } from './helpers';

const STANDIN_SRC = path.join(ROOT, 'tests', 'kubelet-standin');
// Its own binary: ava runs test files in parallel, and device-plugin.test.ts builds one too.
const STANDIN = path.join(ROOT, 'target', 'kubelet-standin-container');
const FRAMES = 8;
/**
 * podman as this machine allows: no systemd (cgroupfs), runc, and limits within root's own (root
 * here lacks CAP_SYS_RESOURCE, so podman's default of raising RLIMIT_NOFILE and RLIMIT_NPROC to
 * its maximum fails in runc with EPERM).
 */
const PODMAN = ['--cgroup-manager=cgroupfs', '--runtime', 'runc'];
const LIMITS = ['--ulimit', 'nofile=4096:4096', '--ulimit', 'nproc=4096:4096'];

const prefix = uniquePrefix('ct');
const ip = (...args: string[]): void => void execFileSync('ip', args, { stdio: 'pipe' });

function podman(args: string[], input?: string): string {
  const r = spawnSync('podman', [...PODMAN, ...args], { encoding: 'utf8', input, timeout: 120_000 });
  if (r.status !== 0) {
    throw new Error(`podman ${args.join(' ')}: exit ${r.status}: ${r.stderr.trim()}`);
  }
  return r.stdout.trim();
}

/** The data of a ConfigMap in deploy/FILE. */
function configMap(file: string, name: string): Record<string, string> {
  for (const doc of yaml.loadAll(fs.readFileSync(path.join(ROOT, 'deploy', file), 'utf8'))) {
    const o = doc as { kind: string; metadata: { name: string }; data: Record<string, string> };
    if (o.kind === 'ConfigMap' && o.metadata.name === name) {
      return o.data;
    }
  }
  throw new Error(`deploy/${file} has no ConfigMap ${name}`);
}

/** The pod spec of a workload in deploy/FILE. */
function podSpec(file: string, kind: string, name: string): PodSpec {
  for (const doc of yaml.loadAll(fs.readFileSync(path.join(ROOT, 'deploy', file), 'utf8'))) {
    const o = doc as { kind: string; metadata: { name: string }; spec: { template: { spec: PodSpec } } };
    if (o.kind === kind && o.metadata.name === name) {
      return o.spec.template.spec;
    }
  }
  throw new Error(`deploy/${file} has no ${kind} ${name}`);
}

/**
 * podman flags for a container of a pod spec: its security context and host namespaces as the
 * kubelet would apply them (only what the manifests use; anything else is refused, so the flags
 * cannot silently drop a field). The node's network namespace is `nodeNetns`, made by the test,
 * so that nothing here touches the machine's own; mounts and the pod's network are the caller's.
 */
function securityFlags(spec: PodSpec, containerName: string, nodeNetns: string): string[] {
  const c = spec.containers.find((x) => x.name === containerName);
  if (c === undefined) {
    throw new Error(`no container ${containerName}`);
  }
  const sc = { ...spec.securityContext, ...c.securityContext };
  const flags: string[] = [];
  const known = new Set(['runAsNonRoot', 'runAsUser', 'runAsGroup', 'allowPrivilegeEscalation', 'privileged', 'readOnlyRootFilesystem', 'capabilities', 'seccompProfile']);
  for (const key of Object.keys(sc)) {
    if (!known.has(key)) {
      throw new Error(`${containerName}: securityContext.${key} has no podman flag here`);
    }
  }
  if (sc.privileged === true) {
    flags.push('--privileged');
  }
  if (sc.runAsUser !== undefined) {
    flags.push('--user', `${sc.runAsUser}:${sc.runAsGroup ?? sc.runAsUser}`);
  }
  if (sc.allowPrivilegeEscalation === false) {
    flags.push('--security-opt', 'no-new-privileges');
  }
  if (sc.readOnlyRootFilesystem === true) {
    flags.push('--read-only');
  }
  for (const cap of sc.capabilities?.drop ?? []) {
    flags.push(`--cap-drop=${cap}`);
  }
  for (const cap of sc.capabilities?.add ?? []) {
    flags.push(`--cap-add=${cap}`);
  }
  // RuntimeDefault is podman's default profile.
  if (sc.seccompProfile?.type === 'Unconfined') {
    flags.push('--security-opt', 'seccomp=unconfined');
  } else if (sc.seccompProfile !== undefined && sc.seccompProfile.type !== 'RuntimeDefault') {
    throw new Error(`${containerName}: seccompProfile ${sc.seccompProfile.type} has no podman flag here`);
  }
  if (spec.hostNetwork === true) {
    flags.push('--network', `ns:/run/netns/${nodeNetns}`);
  }
  if (spec.hostPID === true) {
    flags.push('--pid', 'host');
  }
  return flags;
}

/**
 * Why podman cannot run a container on this machine, or undefined when it can: a container of
 * nothing but /usr/bin/true and its libraries (no image, no Fastlane) with the flags used below.
 */
function containerRuntimeUnavailable(): string | undefined {
  for (const tool of ['podman', 'runc']) {
    if (spawnSync(tool, ['--version']).status !== 0) {
      throw new Error(`${tool} is missing: scripts/bootstrap installs it`);
    }
  }
  const rootfs = fs.mkdtempSync(path.join(os.tmpdir(), 'fastlane-ct-probe-'));
  try {
    fs.chmodSync(rootfs, 0o755); // nobody must be able to enter it
    const libs = execFileSync('ldd', ['/usr/bin/true'], { encoding: 'utf8' }).match(/\/\S+/g) ?? [];
    for (const file of ['/usr/bin/true', ...libs]) {
      fs.mkdirSync(path.join(rootfs, path.dirname(file)), { recursive: true });
      fs.copyFileSync(file, path.join(rootfs, file));
    }
    const r = spawnSync('podman', [...PODMAN, 'run', '--rm', ...LIMITS, '--cap-drop=ALL', '--user', '65534:65534',
      '--security-opt', 'no-new-privileges', '--network', 'none', '--rootfs', rootfs, '/usr/bin/true'], { encoding: 'utf8', timeout: 60_000 });
    return r.status === 0 ? undefined : `podman cannot run a container here (exit ${r.status}): ${r.stderr.trim()}`;
  } finally {
    fs.rmSync(rootfs, { recursive: true, force: true });
  }
}

const skipReason = containerRuntimeUnavailable();
const containerTest = skipReason === undefined ? test.serial : test.skip;
let image = '';

test.before(() => {
  if (skipReason !== undefined) {
    console.log(`container tests skipped: ${skipReason}`);
    return;
  }
  image = execFileSync(path.join(ROOT, 'scripts', 'container-image'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  execFileSync('go', ['build', '-mod=readonly', '-o', STANDIN, '.'], { cwd: STANDIN_SRC, stdio: 'pipe' });
});

/** A process's JSON lines; next() waits for the first after the last one matched. */
class JsonLines {
  readonly lines: any[] = [];
  readonly log: string[] = [];
  #cursor = 0;
  constructor(child: ChildProcess) {
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      this.log.push(line);
      try {
        this.lines.push(JSON.parse(line));
      } catch {
        // a plain log line
      }
    });
    child.stderr!.on('data', (d: Buffer) => this.log.push(d.toString()));
  }

  async next(what: string, match: (line: any) => boolean, ms = 20_000): Promise<any> {
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
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

async function waitForLine(log: string[], pattern: RegExp, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!log.some((l) => pattern.test(l))) {
    if (Date.now() > deadline) {
      throw new Error(`no ${what} within ${ms} ms; output so far:\n${log.join('')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Container {
  name: string;
  log: string[];
  /** Settles when the container exits, with its exit code. */
  exited: Promise<number | null>;
  /** `wait`, failing with the container's output if it exits first. */
  whileRunning<T>(wait: Promise<T>): Promise<T>;
}

/** Runs a container attached (its output collected) and removes it when the test ends. */
function runContainer(t: ExecutionContext, name: string, args: string[]): Container {
  const child = spawn('podman', [...PODMAN, 'run', '--rm', '--name', name, ...LIMITS, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  child.stdout!.on('data', (d: Buffer) => log.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.teardown(() => void spawnSync('podman', [...PODMAN, 'rm', '-f', '-t', '2', name], { stdio: 'ignore' }));
  return {
    name,
    log,
    exited,
    whileRunning: <T>(wait: Promise<T>) =>
      Promise.race([wait, exited.then((code): never => {
        throw new Error(`container ${name} exited (${code}):\n${log.join('')}`);
      })]),
  };
}

function status(pid: number): Record<string, string> {
  return Object.fromEntries(
    fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').filter((l) => l.includes(':')).map((l) => {
      const i = l.indexOf(':');
      return [l.slice(0, i), l.slice(i + 1).trim()];
    }),
  );
}

containerTest('macswap in an unprivileged container gets its AF_XDP port from the containerised device plugin: UDP reflected, ping and TCP answered, stats exact', async (t) => {
  // The test bed: the generator's namespace and the pod's, joined by a veth pair; and a namespace
  // standing for the node's, where the pod's netdev is until the CNI moves it into the pod.
  t.teardown(() => Testbed.down(prefix));
  const bed = Testbed.up({ prefix, subnet: 231 });
  const node = `${prefix}-node`;
  ip('netns', 'add', node);
  t.teardown(() => void spawnSync('ip', ['netns', 'delete', node]));
  const netdev = bed.fwd.interface;
  ip('-n', bed.fwd.netns, 'link', 'set', netdev, 'netns', node);
  ip('-n', node, 'link', 'set', netdev, 'up');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fastlane-ct-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const kubeletDir = path.join(dir, 'device-plugins');
  const stateDir = path.join(dir, 'state');
  const pluginConfigDir = path.join(dir, 'plugin-config');
  const appConfigDir = path.join(dir, 'app-config');
  for (const d of [kubeletDir, stateDir, pluginConfigDir, appConfigDir]) {
    fs.mkdirSync(d);
  }
  // The DaemonSet's plugin, on this test bed's interface, with the kubelet and state directories
  // at the same paths on the host and in its container as the manifest has them.
  const resource = 'fastlane.io/af_xdp';
  const deviceId = `${netdev}-q0`;
  fs.writeFileSync(path.join(pluginConfigDir, 'device-plugin.json'), JSON.stringify({
    resource_name: resource,
    kubelet_dir: kubeletDir,
    state_dir: stateDir,
    health_poll_ms: 100,
    allowed_uids: [65534],
    interfaces: [{ name: netdev, queues: { first: 0, count: 1 } }],
  }));
  const standin = spawn(STANDIN, ['-dir', kubeletDir], { stdio: ['pipe', 'pipe', 'pipe'] });
  const kubelet = new JsonLines(standin);
  t.teardown(async () => {
    standin.stdin!.end();
    await new Promise((resolve) => standin.once('exit', resolve));
  });
  await kubelet.next('stand-in listening', (l) => l.event === 'listening');
  const pluginSpec = podSpec('device-plugin.yaml', 'DaemonSet', 'fastlane-device-plugin');
  const plugin = runContainer(t, `${prefix}-plugin`, [
    ...securityFlags(pluginSpec, 'device-plugin', node),
    '-v', `${pluginConfigDir}:/etc/fastlane:ro`,
    '-v', `${kubeletDir}:${kubeletDir}`,
    '-v', `${stateDir}:${stateDir}`,
    image, 'device-plugin', '--config', '/etc/fastlane/device-plugin.json',
  ]);
  const register = await plugin.whileRunning(kubelet.next('Register', (l) => l.event === 'register', 60_000));
  t.is(register.request.resource_name, resource);
  // The plugin's process: root, in the host's PID namespace and the node's network namespace.
  const pluginPid = Number(podman(['inspect', '--format', '{{.State.Pid}}', plugin.name]));
  t.is(status(pluginPid).Uid, '0\t0\t0\t0');
  t.is(fs.statSync(`/proc/${pluginPid}/ns/pid`).ino, fs.statSync('/proc/self/ns/pid').ino);
  t.is(fs.statSync(`/proc/${pluginPid}/ns/net`).ino, fs.statSync(`/run/netns/${node}`).ino);
  const send = (command: object): void => void standin.stdin!.write(`${JSON.stringify(command)}\n`);

  // The pod: deploy/macswap.yaml's container (its args, its config from the ConfigMap with only
  // the netdev's name changed to the test bed's, its security context), its own network
  // namespace, and what the kubelet adds from Allocate: the mounts and the environment.
  const podSpecOfManifest = podSpec('macswap.yaml', 'Deployment', 'fastlane-macswap');
  const podArgs = podSpecOfManifest.containers[0]!.args!;
  t.deepEqual(podArgs.slice(0, 2), ['run', '/etc/fastlane/macswap.json']);
  const app = JSON.parse(configMap('macswap.yaml', 'fastlane-macswap')['macswap.json']!) as FastlaneConfig;
  t.deepEqual(app.deployment, { mode: 'device_plugin' });
  t.is(app.ports.length, 1);
  app.ports[0]!.interface = netdev;
  fs.writeFileSync(path.join(appConfigDir, 'macswap.json'), JSON.stringify(app));
  const metricsPort = Number(podArgs[podArgs.indexOf('--metrics') + 1]!.split(':').pop());
  const udpPort = app.filter?.udp_ports?.[0];
  if (typeof udpPort !== 'number') {
    throw new Error(`deploy/macswap.yaml's config has no UDP port in its filter: ${JSON.stringify(app.filter)}`);
  }
  let pods = 0;
  /** A pod start as the kubelet does it: Allocate, PreStartContainer, the CNI, the container. */
  const startPod = async (spec: PodSpec): Promise<Container> => {
    // A device the node does not see is Unhealthy, and Allocate refuses it: the netdev is the
    // node's until the pod's sandbox is made (and again once a pod is gone, as CNI DEL does).
    if (spawnSync('ip', ['-n', node, 'link', 'show', 'dev', netdev]).status !== 0) {
      ip('-n', bed.fwd.netns, 'link', 'set', netdev, 'netns', node);
      ip('-n', node, 'link', 'set', netdev, 'up');
    }
    await kubelet.next(`${deviceId} Healthy`, (l) => l.event === 'devices' && l.response.devices.some((d: any) => d.ID === deviceId && d.health === 'Healthy'));
    send({ op: 'allocate', containers: [[deviceId]] });
    const allocated = await kubelet.next('Allocate', (l) => l.event === 'allocate' || l.event === 'error');
    t.is(allocated.event, 'allocate', JSON.stringify(allocated));
    const response = allocated.response.container_responses[0];
    send({ op: 'prestart', devices: [deviceId] });
    t.is((await kubelet.next('PreStartContainer', (l) => l.event === 'prestart' || l.event === 'error')).event, 'prestart');
    // What the host-device CNI does for the pod's network: the netdev into its namespace, same
    // name, with its address, up.
    ip('-n', node, 'link', 'set', netdev, 'netns', bed.fwd.netns);
    ip('-n', bed.fwd.netns, 'addr', 'add', `${bed.fwd.address}/24`, 'dev', netdev);
    ip('-n', bed.fwd.netns, 'link', 'set', netdev, 'up');
    // Gone from the node, the device is listed Unhealthy until it comes back.
    await kubelet.next(`${deviceId} Unhealthy`, (l) => l.event === 'devices' && l.response.devices.some((d: any) => d.ID === deviceId && d.health === 'Unhealthy'));
    const kubeletFlags = [
      ...response.mounts.flatMap((m: any) => ['-v', `${m.host_path}:${m.container_path}${m.read_only ? ':ro' : ''}`]),
      ...response.devices.flatMap((d: any) => ['--device', `${d.host_path}:${d.container_path}:${d.permissions}`]),
      ...Object.entries(response.envs as Record<string, string>).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    ];
    return runContainer(t, `${prefix}-pod${pods++}`, [
      ...securityFlags(spec, 'macswap', node),
      '--network', `ns:/run/netns/${bed.fwd.netns}`,
      '-v', `${appConfigDir}:/etc/fastlane:ro`,
      ...kubeletFlags,
      image, ...podArgs,
    ]);
  };

  // The manifest's pod runs under the runtime's default seccomp profile, which refuses bpf()
  // without CAP_SYS_ADMIN: nothing of the data path may need it.
  t.is(podSpecOfManifest.securityContext?.seccompProfile?.type, 'RuntimeDefault');
  const pod = await startPod(podSpecOfManifest);
  await pod.whileRunning(waitForLine(pod.log, /fastlane: running/, 'macswap running')).catch((e: Error) => {
    throw new Error(`${e.message}\nplugin:\n${plugin.log.join('')}`);
  });

  // The process in the container is what the manifest says: nobody, no capability, no_new_privs,
  // in the pod's network namespace.
  const pid = Number(podman(['inspect', '--format', '{{.State.Pid}}', pod.name]));
  const st = status(pid);
  t.is(st.Uid, '65534\t65534\t65534\t65534');
  t.is(st.Gid, '65534\t65534\t65534\t65534');
  for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) {
    t.is(st[set], '0000000000000000', set);
  }
  t.is(st.NoNewPrivs, '1');
  t.is(st.Seccomp, '2', 'a seccomp filter (RuntimeDefault), as the pod spec says');
  t.is(fs.statSync(`/proc/${pid}/ns/net`).ino, fs.statSync(`/run/netns/${bed.fwd.netns}`).ino);

  const frame = udpFrame(
    { srcMac: bed.gen.mac, dstMac: bed.fwd.mac, srcIp: bed.gen.address, dstIp: bed.fwd.address, srcPort: udpPort, dstPort: udpPort },
    64,
  );
  const back = await exchangeFrames(bed.gen.netns, bed.gen.interface, Array<Buffer>(FRAMES).fill(frame), udpPort, FRAMES, 5000);
  t.is(back.length, FRAMES);
  for (const f of back) {
    t.deepEqual(f.subarray(0, 6), frame.subarray(6, 12), 'destination is the sender');
    t.deepEqual(f.subarray(6, 12), frame.subarray(0, 6), 'source is the pod');
    t.deepEqual(f.subarray(12), frame.subarray(12), 'the rest is untouched');
  }
  const ping = spawnSync('ip', ['netns', 'exec', bed.gen.netns, 'ping', '-c', '3', '-i', '0.2', '-W', '2', bed.fwd.address], { encoding: 'utf8' });
  t.is(ping.status, 0, ping.stdout + ping.stderr);
  t.regex(ping.stdout, / 0% packet loss/);

  // Exact counts from the pod's metrics endpoint, scraped over TCP to its address from the
  // generator's side: TCP too is answered by the pod's kernel through the split.
  const scrape = spawnSync('ip', ['netns', 'exec', bed.gen.netns, process.execPath, '-e',
    `fetch("http://${bed.fwd.address}:${metricsPort}/metrics").then((r) => r.text()).then((s) => process.stdout.write(s))`],
  { encoding: 'utf8', timeout: 30_000 });
  t.is(scrape.status, 0, scrape.stderr);
  const metric = (name: string): number => {
    const lines = scrape.stdout.split('\n').filter((l) => l.startsWith(`${name}{`));
    return lines.reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  };
  t.is(metric('fastlane_rx_packets_total'), FRAMES);
  t.is(metric('fastlane_tx_packets_total'), FRAMES);
  // The split's counters need bpf(), which the profile refuses: absent, not zero.
  t.notRegex(scrape.stdout, /^fastlane_xdp_actions_total\{/m);

  // SIGTERM (what the kubelet sends) stops it cleanly, and its XDP program goes with it.
  podman(['stop', '-t', '10', pod.name]);
  t.is(await pod.exited, 0, pod.log.join(''));
  const link = execFileSync('ip', ['-n', bed.fwd.netns, '-d', 'link', 'show', 'dev', netdev], { encoding: 'utf8' });
  t.notRegex(link, /prog\/xdp/, 'no XDP program is left on the interface');
});
