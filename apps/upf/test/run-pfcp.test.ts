// Needs root: `fastlane upf run` from a config with `upf.pfcp`, once per backend (the config
// differing only in its `backend` line), with scapy as the SMF (pfcp_smf.py builds every request
// and decodes every response) and scapy at the gNB and the DN (gtpu_agent.py): a session
// established with CHOOSE F-TEID and CHV4 carries GTP-U both ways by the rules installed, a
// modification moves the downlink to a new gNB TEID, and the deletion's final usage report
// carries exactly the packets and bytes sent.

import test, { type ExecutionContext } from 'ava';
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

import type { UpfConfig } from '../src/config';
import { IeType as T } from '../src/pfcp/index';
import { Agent, type Captured, layer } from './agent';
import { CHV4, SMF_NODE, SMF_RTS } from './pfcp-node-helpers';
import type { ScapyIe } from './scapy';
import { type Received, ScapySmf, scapyIe } from './smf';
import { UE_POOL_V4, UE_POOL_V6, UpfTestbed } from './testbed';

const ROOT = path.join(__dirname, '..', '..', '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const BACKENDS = ['af_xdp', 'af_packet', 'dpdk'] as const;
type Backend = (typeof BACKENDS)[number];
/** The core the data plane runs on: the last one, as the framework's own suite does. */
const CORE = Math.max(0, (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^processor/gm)?.length ?? 1) - 1);
const GNB_TEID = 0x101;
const NEW_GNB_TEID = 0x202;
/** Every inner packet: IPv4 (20) + UDP (8) + 36 bytes of payload. */
const INNER_BYTES = 64;

function configFor(bed: UpfTestbed, backend: Backend, region: string, port: number): UpfConfig {
  return {
    name: `upf-${region}`,
    backend,
    netns: bed.upfNetns,
    threads: { model: 'run_to_completion', batch_size: 64 },
    af_xdp: { attach_mode: 'native', umem_frames: 4096 },
    af_packet: { block_count: 16 },
    dpdk: {
      devices: {
        [bed.n3.iface]: `net_af_packet0,iface=${bed.n3.iface}`,
        [bed.n6.iface]: `net_af_packet1,iface=${bed.n6.iface}`,
      },
      huge_pages: false,
      memory_mb: 256,
      mbufs: 8192,
      file_prefix: `upf-pfcp-${process.pid}`,
    },
    upf: {
      node_id: 'upf.pfcp.test',
      n3: { interface: bed.n3.iface, queues: [{ id: 0, core: CORE }], addresses: [`${bed.n3.ipv4}/24`, `${bed.n3.ipv6}/64`] },
      n6: { interface: bed.n6.iface, queues: [{ id: 0, core: CORE }], addresses: [`${bed.n6.ipv4}/24`, `${bed.n6.ipv6}/64`] },
      ue_pools: [UE_POOL_V4, UE_POOL_V6],
      capacity: { sessions: 16, pdrs: 64, fars: 64, qers: 16, urrs: 16, next_hops: 16 },
      region,
      // N4 on loopback, in this process's namespace.
      pfcp: { address: '127.0.0.1', port },
    },
  };
}

const field = (x: ScapyIe | undefined, name: string): unknown => x?.fields[name];
const causeOf = (r: Received): unknown => field(scapyIe(r.msg.ies, T.Cause), 'cause');

/**
 * scapy's Volume Measurement decodes the volumes; the packet counts (TS 29.244 clause 8.2.40,
 * flags TONOP/ULNOP/DLNOP) it leaves in `spare` (those flags) and `extra_data` (the counts).
 */
function packetsOf(volume: ScapyIe | undefined): { total: bigint; uplink: bigint; downlink: bigint } | undefined {
  if (field(volume, 'spare') !== 7) return undefined;
  const extra = Buffer.from(String(field(volume, 'extra_data') ?? ''), 'hex');
  if (extra.length !== 24) return undefined;
  return { total: extra.readBigUInt64BE(0), uplink: extra.readBigUInt64BE(8), downlink: extra.readBigUInt64BE(16) };
}

async function until(what: string, ok: () => boolean, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

function tagged(frames: Captured[], tag: string): Captured[] {
  return frames.filter((f) => Buffer.from(String(layer(f, 'Raw')?.fields.load ?? ''), 'hex').toString('latin1').startsWith(tag));
}

async function startRun(file: string): Promise<{ proc: ChildProcessByStdio<null, Readable, Readable>; out: () => string; err: () => string }> {
  const proc = spawn('node', [CLI, 'upf', 'run', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "running" line: ${out} ${err}`)), 30000);
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ctrl-C stops')) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.on('exit', () => reject(new Error(`exited early: ${out} ${err}`)));
  });
  return { proc, out: () => out, err: () => err };
}

async function suite(t: ExecutionContext, backend: Backend): Promise<void> {
  const bed = UpfTestbed.up(`up${backend.slice(3, 5)}${process.pid % 10000}`, { af_xdp: 54, af_packet: 55, dpdk: 56 }[backend]);
  t.teardown(() => bed.down());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'upf-pfcp-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const region = `upf-pfcp-${backend}-${process.pid}`;
  const port = 20000 + ((process.pid + { af_xdp: 11, af_packet: 12, dpdk: 13 }[backend]) % 20000);
  const file = path.join(dir, 'upf.json');
  fs.writeFileSync(file, JSON.stringify(configFor(bed, backend, region, port)));
  const run = await startRun(file);
  t.teardown(() => run.proc.kill('SIGKILL'));

  const smf = await ScapySmf.start();
  t.teardown(() => smf.close());
  const to = { address: '127.0.0.1', port };
  const setup = await smf.request(
    to,
    `PFCP(S=0, seq=1)/PFCPAssociationSetupRequest(IE_list=[${SMF_NODE}, IE_RecoveryTimeStamp(timestamp=${SMF_RTS}), IE_CPFunctionFeatures(LOAD=0)])`,
  );
  t.is(causeOf(setup), 1);
  // Uplink: CHOOSE F-TEID, to the core; downlink: CHV4, forwarded to the gNB's TEID; one URR.
  const established = await smf.request(
    to,
    `PFCP(S=1, seid=0, seq=2)/PFCPSessionEstablishmentRequest(IE_list=[
      ${SMF_NODE}, IE_FSEID(v4=1, seid=0x77, ipv4='127.0.0.1'),
      IE_CreatePDR(IE_list=[IE_PDR_Id(id=1), IE_Precedence(precedence=100),
        IE_PDI(IE_list=[IE_SourceInterface(interface=0), IE_FTEID(V4=1, CH=1, CHID=1, choose_id=1), IE_NetworkInstance(instance='internet')]),
        IE_OuterHeaderRemoval(header=0), IE_FAR_Id(id=1), IE_URR_Id(id=1)]),
      IE_CreatePDR(IE_list=[IE_PDR_Id(id=2), IE_Precedence(precedence=100),
        IE_PDI(IE_list=[IE_SourceInterface(interface=1), IE_NetworkInstance(instance='internet'), IE_UE_IP_Address(spare=${CHV4}, SD=1)]),
        IE_FAR_Id(id=2), IE_URR_Id(id=1)]),
      IE_CreateFAR(IE_list=[IE_FAR_Id(id=1), IE_ApplyAction(FORW=1),
        IE_ForwardingParameters(IE_list=[IE_DestinationInterface(interface=1), IE_NetworkInstance(instance='internet')])]),
      IE_CreateFAR(IE_list=[IE_FAR_Id(id=2), IE_ApplyAction(FORW=1),
        IE_ForwardingParameters(IE_list=[IE_DestinationInterface(interface=0), IE_OuterHeaderCreation(GTPUUDPIPV4=1, TEID=${GNB_TEID}, ipv4='${bed.gnb.ipv4}')])]),
      IE_CreateURR(IE_list=[IE_URR_Id(id=1), IE_MeasurementMethod(VOLUM=1), IE_ReportingTriggers()])])`.replace(/\n\s*/g, ' '),
  );
  t.is(causeOf(established), 1, JSON.stringify(established.msg.ies.map((x) => [x.ietype, x.fields])));
  const seid = String(field(scapyIe(established.msg.ies, T.FSeid), 'seid'));
  const fTeid = scapyIe(established.msg.ies, T.FTeid, true);
  const teid = Number(field(fTeid, 'TEID'));
  t.is(field(fTeid, 'ipv4'), bed.n3.ipv4, 'the F-TEID is on the N3 address');
  const ue = String(field(scapyIe(established.msg.ies, T.UeIpAddress, true), 'ipv4'));
  t.true(ue.startsWith('10.45.'), `the UE address ${ue} is from the pool`);

  const gnb = new Agent(bed.gnb.netns, bed.gnb.iface);
  const dn = new Agent(bed.dn.netns, bed.dn.iface);
  t.teardown(() => {
    gnb.close();
    dn.close();
  });
  const body = (tag: string, n: number): string => `Raw(load=b'${`${tag}-${n}-`.padEnd(36, '.')}')`;
  const uplink = (n: number): string =>
    `Ether(dst='${bed.n3.mac}',src='${bed.gnb.mac}')/IP(src='${bed.gnb.ipv4}',dst='${bed.n3.ipv4}')/UDP(sport=2152,dport=2152)/` +
    `GTP_U_Header(teid=${teid},E=1,next_ex=0x85)/GTPPDUSessionContainer(type=1,QFI=9)/` +
    `IP(src='${ue}',dst='${bed.remote.ipv4}')/UDP(sport=4000,dport=6000)/${body('ul', n)}`;
  const downlink = (tag: string, n: number): string =>
    `Ether(dst='${bed.n6.mac}',src='${bed.dn.mac}')/IP(src='${bed.dn.ipv4}',dst='${ue}')/UDP(sport=6000,dport=4000)/${body(tag, n)}`;

  // The next hops the control process writes come from the kernel: the N6 gateway and the gNB
  // (wanted since the FAR sends there) resolved first, so that every packet below takes the fast path.
  await until('the gateway and gNB next hops', () => bed.neighbourMac(bed.upfNetns, bed.dn.ipv4) === bed.dn.mac && bed.neighbourMac(bed.upfNetns, bed.gnb.ipv4) === bed.gnb.mac);

  // Uplink: decapsulated at the DN.
  const ulSent = [0, 1, 2, 3, 4].map(uplink);
  const up = tagged(await dn.capture(() => gnb.send(ulSent)), 'ul-');
  t.is(up.length, ulSent.length);
  for (const f of up) {
    t.deepEqual(f.layers.map((l) => l.name).slice(0, 3), ['Ether', 'IP', 'UDP'], 'no GTP-U left');
    t.like(layer(f, 'Ether')?.fields, { dst: bed.dn.mac, src: bed.n6.mac });
    t.like(layer(f, 'IP')?.fields, { src: ue, dst: bed.remote.ipv4 });
  }
  const ulPackets = ulSent.length;

  // Downlink: encapsulated at the gNB with the TEID the SMF gave, then the new one after the modification.
  const checkDown = (frames: Captured[], gnbTeid: number, what: string): void => {
    for (const f of frames) {
      t.like(layer(f, 'Ether')?.fields, { dst: bed.gnb.mac, src: bed.n3.mac }, what);
      t.like(layer(f, 'IP')?.fields, { src: bed.n3.ipv4, dst: bed.gnb.ipv4 }, what);
      t.like(layer(f, 'UDP')?.fields, { dport: 2152 }, what);
      t.like(layer(f, 'GTP_U_Header')?.fields, { teid: gnbTeid }, what);
      t.like(layer(f, 'IP', 1)?.fields, { src: bed.dn.ipv4, dst: ue }, what);
    }
  };
  const down = tagged(await gnb.capture(() => dn.send([0, 1, 2, 3].map((n) => downlink('dl', n)))), 'dl-');
  t.is(down.length, 4);
  checkDown(down, GNB_TEID, 'downlink');

  const modified = await smf.request(
    to,
    `PFCP(S=1, seid=${seid}, seq=3)/PFCPSessionModificationRequest(IE_list=[IE_UpdateFAR(IE_list=[IE_FAR_Id(id=2), IE_ApplyAction(FORW=1),
      IE_UpdateForwardingParameters(IE_list=[IE_DestinationInterface(interface=0), IE_OuterHeaderCreation(GTPUUDPIPV4=1, TEID=${NEW_GNB_TEID}, ipv4='${bed.gnb.ipv4}')])])])`.replace(/\n\s*/g, ' '),
  );
  t.is(causeOf(modified), 1);
  const moved = tagged(await gnb.capture(() => dn.send([0, 1, 2].map((n) => downlink('mv', n)))), 'mv-');
  t.is(moved.length, 3);
  checkDown(moved, NEW_GNB_TEID, 'downlink after the modification');
  const dlPackets = 4 + 3;

  // The final usage report: exactly what was sent, per direction, the inner packets' bytes.
  const deleted = await smf.request(to, `PFCP(S=1, seid=${seid}, seq=4)/PFCPSessionDeletionRequest()`);
  t.is(causeOf(deleted), 1);
  const report = scapyIe(deleted.msg.ies, T.UsageReportSessionDeletionResponse);
  t.is(field(scapyIe(report?.ies ?? [], T.UsageReportTrigger), 'TERMR'), 1);
  const volume = scapyIe(report?.ies ?? [], T.VolumeMeasurement);
  t.is(Number(field(volume, 'uplink')), ulPackets * INNER_BYTES);
  t.is(Number(field(volume, 'downlink')), dlPackets * INNER_BYTES);
  t.deepEqual(packetsOf(volume), { total: BigInt(ulPackets + dlPackets), uplink: BigInt(ulPackets), downlink: BigInt(dlPackets) });
  // Deleted: the fast path no longer forwards the session's uplink.
  t.is(tagged(await dn.capture(() => gnb.send([uplink(9)])), 'ul-').length, 0, 'nothing forwarded after the deletion');

  const exited = new Promise<number | null>((resolve) => run.proc.on('exit', (code) => resolve(code)));
  run.proc.kill('SIGTERM');
  t.is(await exited, 0, run.err());
  t.regex(run.out(), /fastlane upf: stopped/);
  t.false(fs.existsSync(`/dev/shm/${region}`), 'the region is removed');
  t.false(fs.existsSync(`/dev/shm/${region}-pfcp`), "the PFCP node's state region is removed");
}

for (const backend of BACKENDS) {
  test.serial(`fastlane upf run on ${backend}: a scapy SMF's session carries GTP-U, is modified, and is deleted with the counts sent`, (t) => {
    t.timeout(120_000);
    return suite(t, backend);
  });
}
