// Needs root: `fastlane upf run` as an unprivileged pod in device_plugin mode, once per backend.
// The real `fastlane device-plugin` (driven by the Go kubelet stand-in, __test__/device-plugin-pod.ts)
// offers queue 0 of the UPF's N3 and N6 veth ends, which live in the UPF namespace of the
// three-namespace bed (testbed.ts); Allocate gives both to one container. The UPF runs there as
// uid 65534 with no capability in any set and no_new_privs, taking its AF_XDP / AF_PACKET sockets
// and punt TAPs from the plugin and creating its rules' region in /dev/shm itself. The test (root)
// opens that region and installs a session through UpfSessions; scapy checks the uplink arrives
// decapsulated at the DN and the downlink encapsulated at the gNB side; the kernel answers ping to
// the N3 address through the split. The pod's exit leaves no XDP program, TAP or region behind.
//
// The namespace's sysctls (ip_forward, IPv6 forwarding, rp_filter=0) are what the pod spec's
// `securityContext.sysctls` (or the CNI) sets: a pod cannot set them itself. testbed.ts sets them.

import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { buildStandin, devicePlugin, exited, NOBODY, procStatus, startPod } from '../../../__test__/device-plugin-pod';
import { CLI } from '../../../__test__/helpers';
import { regionCapacities } from '../src/app';
import type { UpfConfig } from '../src/config';
import { ShmUpfSessions } from '../src/sessions';
import type { SessionRules } from '../src/sessions/types';
import { Agent, layer, type Captured } from './agent';
import { UE_POOL_V4, UpfTestbed } from './testbed';

const RESOURCE = 'fastlane.io/upf';
const CORE = Math.max(0, (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^processor/gm)?.length ?? 1) - 1);
const UE = '10.45.0.10';
const UL_TEID = 0x1001;
const DL_TEID = 0x101;
const QFI = 9;

test.before(() => {
  if (!fs.existsSync(CLI)) {
    throw new Error(`${CLI} is missing: run npm run build:ts`);
  }
  buildStandin();
});

function upfConfig(bed: UpfTestbed, backend: 'af_xdp' | 'af_packet', region: string): UpfConfig {
  return {
    name: `upf-pod-${backend}`,
    backend,
    deployment: { mode: 'device_plugin' },
    threads: { model: 'run_to_completion', batch_size: 64 },
    af_xdp: { attach_mode: 'native', umem_frames: 4096 },
    af_packet: { block_count: 16 },
    upf: {
      node_id: 'upf.pod.test',
      n3: { interface: bed.n3.iface, queues: [{ id: 0, core: CORE }], addresses: [`${bed.n3.ipv4}/24`] },
      n6: { interface: bed.n6.iface, queues: [{ id: 0, core: CORE }], addresses: [`${bed.n6.ipv4}/24`] },
      ue_pools: [UE_POOL_V4],
      capacity: { sessions: 16, pdrs: 64, fars: 64, qers: 16, urrs: 16, next_hops: 16 },
      region,
    },
  };
}

/** One IPv4 session: uplink to the core, downlink to the gNB with DL_TEID. */
function sessionRules(bed: UpfTestbed): SessionRules {
  return {
    pdrs: [
      {
        pdrId: 1,
        precedence: 100,
        pdi: { sourceInterface: 'access', localFTeid: { teid: UL_TEID, ipv4: bed.n3.ipv4 }, qfi: QFI },
        outerHeaderRemoval: 'gtpu-udp-ipv4',
        farId: 1,
      },
      { pdrId: 2, precedence: 100, pdi: { sourceInterface: 'core', ueIpAddress: { ipv4: UE } }, farId: 2, qerIds: [1] },
    ],
    fars: [
      { farId: 1, applyAction: { forward: true }, forwardingParameters: { destinationInterface: 'core' } },
      {
        farId: 2,
        applyAction: { forward: true },
        forwardingParameters: { destinationInterface: 'access', outerHeaderCreation: { teid: DL_TEID, ipv4: bed.gnb.ipv4 } },
      },
    ],
    qers: [{ qerId: 1, qfi: QFI, gateStatus: { uplink: 'open', downlink: 'open' } }],
    urrs: [],
  };
}

const tagged = (frames: Captured[], tag: string): Captured[] =>
  frames.filter((f) => Buffer.from(String(layer(f, 'Raw')?.fields.load ?? ''), 'hex').toString('latin1').startsWith(tag));

async function until(what: string, ok: () => boolean, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function suite(t: ExecutionContext, backend: 'af_xdp' | 'af_packet'): Promise<void> {
  const bed = UpfTestbed.up(`up${backend.slice(3, 5)}${process.pid % 10000}`, { af_xdp: 46, af_packet: 47 }[backend]);
  t.teardown(() => bed.down());
  const p = await devicePlugin(t, RESOURCE, [bed.n3.iface, bed.n6.iface]);
  const { envs, hostDir } = await p.allocate([`${bed.n3.iface}-q0`, `${bed.n6.iface}-q0`]);
  const region = `upf-pod-${backend}-${process.pid}`;
  const config = upfConfig(bed, backend, region);
  const configFile = path.join(p.dir, `upf-${backend}.json`);
  fs.writeFileSync(configFile, JSON.stringify(config), { mode: 0o644 });
  // A pod killed mid-test leaves its region; a real pod's /dev/shm is its own and goes with it.
  // (Teardowns run newest first: this one after the pod's.)
  t.teardown(() => fs.rmSync(`/dev/shm/${region}`, { force: true }));

  const pod = startPod(t, bed.upfNetns, [process.execPath, CLI, 'upf', 'run', configFile], {
    ...envs,
    FASTLANE_DEVICE_PLUGIN_SOCKET: path.join(hostDir, 'handoff.sock'),
  });
  // Its first line of its own past the control process's start: running, or why not.
  const running = await pod.lines.next(
    'the UPF running',
    (l) => l.startsWith('fastlane upf: ') && !/^fastlane upf: control process \d+ up$/.test(l),
    30_000,
  );
  t.true(running.startsWith('fastlane upf: running'), `${pod.lines.all.join('\n')}\n${p.log.all.join('\n')}`);
  const status = procStatus(pod.child.pid!);
  t.is(status.Uid!.split(/\s+/)[0], String(NOBODY), 'the UPF runs as uid 65534');
  for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) {
    t.is(status[set], '0000000000000000', set);
  }
  t.is(status.NoNewPrivs, '1');
  await p.log.next('the handoff of both ports', (l) =>
    l.includes(`handed ${bed.n3.iface}-q0,${bed.n6.iface}-q0 (${backend}) to pid ${pod.child.pid} uid ${NOBODY}`));
  t.true(fs.existsSync(`/dev/shm/${region}`), 'the UPF made its region');
  const links = (): string => bed.exec(bed.upfNetns, 'ip', '-d', '-o', 'link');
  const taps = [bed.n3.iface, bed.n6.iface].map((i) => `fl-${i}`.slice(0, 15));
  const during = links();
  for (const tap of taps) {
    t.true(during.includes(`${tap}:`), `the punt TAP ${tap}:\n${during}`);
  }
  t.is((during.match(/prog\/xdp/g) ?? []).length, backend === 'af_xdp' ? 2 : 0, during);

  // The kernel answers ping to the N3 address through the split (and learns the gNB's MAC).
  t.regex(bed.exec(bed.gnb.netns, 'ping', '-c', '2', '-i', '0.2', '-W', '2', bed.n3.ipv4), / 0% packet loss/, 'ping N3');
  // The N6 gateway is resolved without CAP_NET_ADMIN (neighbours.ts: by an empty UDP datagram).
  await until('the N6 gateway resolved', () => bed.neighbourMac(bed.upfNetns, bed.dn.ipv4) === bed.dn.mac);

  const sessions = ShmUpfSessions.open(region, regionCapacities(config));
  t.teardown(() => sessions.close());
  sessions.create(1n, sessionRules(bed));

  const gnb = new Agent(bed.gnb.netns, bed.gnb.iface);
  const dn = new Agent(bed.dn.netns, bed.dn.iface);
  t.teardown(() => {
    gnb.close();
    dn.close();
  });
  const up = await dn.capture(() =>
    gnb.send([0, 1, 2].map((i) =>
      `Ether(dst='${bed.n3.mac}',src='${bed.gnb.mac}')/IP(src='${bed.gnb.ipv4}',dst='${bed.n3.ipv4}')/UDP(sport=2152,dport=2152)/` +
      `GTP_U_Header(teid=${UL_TEID},E=1,next_ex=0x85)/GTPPDUSessionContainer(type=1,QFI=${QFI})/` +
      `IP(src='${UE}',dst='${bed.remote.ipv4}')/UDP(sport=4000,dport=6000)/Raw(load=b'ul-${i}')`)));
  const ul = tagged(up, 'ul-');
  t.is(ul.length, 3, `uplink decapsulated at the DN; the UPF said:\n${pod.lines.all.join('\n')}`);
  for (const f of ul) {
    t.deepEqual(f.layers.map((l) => l.name).slice(0, 3), ['Ether', 'IP', 'UDP']);
    t.like(layer(f, 'Ether')?.fields, { dst: bed.dn.mac, src: bed.n6.mac });
    t.like(layer(f, 'IP')?.fields, { src: UE, dst: bed.remote.ipv4 });
  }

  const down = await gnb.capture(() =>
    dn.send([0, 1, 2].map((i) =>
      `Ether(dst='${bed.n6.mac}',src='${bed.dn.mac}')/IP(src='${bed.dn.ipv4}',dst='${UE}')/UDP(sport=5000,dport=4000)/Raw(load=b'dl-${i}')`)));
  const dl = tagged(down, 'dl-');
  t.is(dl.length, 3, 'downlink encapsulated towards the gNB');
  for (const f of dl) {
    t.deepEqual(f.layers.map((l) => l.name).slice(0, 6), ['Ether', 'IP', 'UDP', 'GTP_U_Header', 'GTPPDUSessionContainer', 'IP']);
    t.like(layer(f, 'Ether')?.fields, { dst: bed.gnb.mac, src: bed.n3.mac });
    t.like(layer(f, 'IP')?.fields, { src: bed.n3.ipv4, dst: bed.gnb.ipv4 });
    t.like(layer(f, 'GTP_U_Header')?.fields, { teid: DL_TEID });
    t.like(layer(f, 'GTPPDUSessionContainer')?.fields, { type: 0, QFI });
  }
  sessions.close();

  pod.child.kill('SIGTERM');
  t.is(await exited(pod.child), 0, pod.lines.all.join('\n'));
  await p.log.next('the session ended', (l) => l.includes(`session of pid ${pod.child.pid} uid ${NOBODY} ended: its programs are detached`));
  const after = links();
  t.false(after.includes('prog/xdp'), `an XDP program was left:\n${after}`);
  for (const tap of taps) {
    t.false(after.includes(tap), `the TAP ${tap} was left:\n${after}`);
  }
  t.false(fs.existsSync(`/dev/shm/${region}`), 'the region was left');
}

for (const backend of ['af_xdp', 'af_packet'] as const) {
  test.serial(`the UPF runs in an unprivileged pod on ${backend} with the device plugin's descriptors, and leaves nothing behind`, (t) => {
    t.timeout(120_000);
    return suite(t, backend);
  });
}
