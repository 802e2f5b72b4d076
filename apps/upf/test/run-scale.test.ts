// Needs root: 10,000 sessions established over PFCP with `fastlane upf run` (af_xdp), GTP-U
// through a sample of them both ways (built and decoded by scapy at the gNB and the DN), every
// session modified (its downlink FAR from BUFF to FORW to a gNB TEID of its own) and deleted,
// with final usage reports whose counts equal what was sent: the sample's the packets and bytes
// the fast path carried, the others' zero.

import test from 'ava';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import type { UpfConfig } from '../src/config';
import { IeType as T, MessageType as M, OuterHeader, type PfcpMessage, getGroups, getValue, group, ie } from '../src/pfcp/index';
import { Agent, type Captured, layer } from './agent';
import { CodecSmf, associationSetupMessage, causeOf, establishmentMessage } from './pfcp-node-helpers';
import { UE_POOL_V4, UE_POOL_V6, UpfTestbed } from './testbed';

const ROOT = path.join(__dirname, '..', '..', '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const N = 10_000;
/** The sessions traffic goes through: every 625th. Sample session k sends k + 1 uplink packets. */
const SAMPLE = Array.from({ length: 16 }, (_, k) => k * 625);
const DOWNLINK_PACKETS = 2;
/** Every inner packet: IPv4 (20) + UDP (8) + 36 bytes of payload. */
const INNER_BYTES = 64;
const gnbTeidOf = (i: number): number => 0x20000 + i;

/** Runs `make(i)` for i < n with at most `window` requests outstanding. */
async function pipelined(n: number, window: number, make: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: window }, async () => {
      while (next < n) await make(next++);
    }),
  );
}

function configFor(bed: UpfTestbed, region: string, port: number): UpfConfig {
  const example = JSON.parse(fs.readFileSync(path.join(ROOT, 'apps', 'upf', 'config', 'upf-af_xdp.json'), 'utf8')) as UpfConfig;
  return {
    ...example,
    name: `upf-${region}`,
    netns: bed.upfNetns,
    upf: {
      ...example.upf,
      n3: { ...example.upf.n3, interface: bed.n3.iface, addresses: [`${bed.n3.ipv4}/24`, `${bed.n3.ipv6}/64`] },
      n6: { ...example.upf.n6, interface: bed.n6.iface, addresses: [`${bed.n6.ipv4}/24`, `${bed.n6.ipv6}/64`] },
      ue_pools: [UE_POOL_V4, UE_POOL_V6],
      capacity: { sessions: 10_240, pdrs: 20_480, fars: 20_480, qers: 16, urrs: 10_240, next_hops: 16 },
      region,
      pfcp: { address: '127.0.0.1', port },
    },
  };
}

/** The downlink FAR (BUFF in establishmentMessage) forwards to the gNB with the session's own TEID. */
function forwardDownlink(seid: bigint, teid: number, gnb: string): Omit<PfcpMessage, 'sequence'> {
  return {
    type: M.SessionModificationRequest,
    seid,
    ies: [
      group(T.UpdateFar, [
        ie(T.FarId, { ruleId: 2 }),
        ie(T.ApplyAction, { flags: ['FORW'] }),
        group(T.UpdateForwardingParameters, [ie(T.DestinationInterface, { interface: 0 }), ie(T.OuterHeaderCreation, { description: OuterHeader.GtpuUdpIpv4, teid, ipv4: gnb })]),
      ]),
    ],
  };
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

test.serial('10K sessions over PFCP with fastlane upf run: traffic through a sample, modified, deleted with the counts sent', async (t) => {
  t.timeout(240_000);
  const bed = UpfTestbed.up(`us${process.pid % 10000}`, 57);
  t.teardown(() => bed.down());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'upf-scale-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const region = `upf-scale-${process.pid}`;
  const port = 20000 + ((process.pid + 21) % 20000);
  const file = path.join(dir, 'upf.json');
  fs.writeFileSync(file, JSON.stringify(configFor(bed, region, port)));
  const proc = spawn('node', [CLI, 'upf', 'run', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => proc.kill('SIGKILL'));
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

  const smf = await new CodecSmf({ address: '127.0.0.1', port }).bind();
  t.teardown(() => smf.close());
  t.is(causeOf(await smf.request(associationSetupMessage())), 1);
  const seids = new Array<bigint>(N);
  const teids = new Array<number>(N);
  const ues = new Array<string>(N);
  let started = Date.now();
  await pipelined(N, 64, async (i) => {
    const r = await smf.request(establishmentMessage(BigInt(i + 1)), 2000);
    if (causeOf(r) !== 1) throw new Error(`establishment ${i}: cause ${causeOf(r)}`);
    seids[i] = getValue(r.ies, T.FSeid)?.seid as bigint;
    for (const c of getGroups(r.ies, T.CreatedPdr)) {
      teids[i] = (getValue(c, T.FTeid)?.teid as number | undefined) ?? teids[i]!;
      ues[i] = (getValue(c, T.UeIpAddress)?.ipv4 as string | undefined) ?? ues[i]!;
    }
  });
  t.log(`${N} establishments in ${Date.now() - started} ms`);
  t.is(new Set(teids).size, N, 'every session its own F-TEID');
  t.is(new Set(ues).size, N, 'every session its own UE address');

  const gnb = new Agent(bed.gnb.netns, bed.gnb.iface);
  const dn = new Agent(bed.dn.netns, bed.dn.iface);
  t.teardown(() => {
    gnb.close();
    dn.close();
  });
  const body = (tag: string): string => `Raw(load=b'${tag.padEnd(36, '.')}')`;
  const uplink = (i: number, n: number): string =>
    `Ether(dst='${bed.n3.mac}',src='${bed.gnb.mac}')/IP(src='${bed.gnb.ipv4}',dst='${bed.n3.ipv4}')/UDP(sport=2152,dport=2152)/` +
    `GTP_U_Header(teid=${teids[i]},E=1,next_ex=0x85)/GTPPDUSessionContainer(type=1,QFI=9)/` +
    `IP(src='${ues[i]}',dst='${bed.remote.ipv4}')/UDP(sport=4000,dport=6000)/${body(`ul-${i}-${n}-`)}`;
  const downlink = (i: number, n: number): string =>
    `Ether(dst='${bed.n6.mac}',src='${bed.dn.mac}')/IP(src='${bed.dn.ipv4}',dst='${ues[i]}')/UDP(sport=6000,dport=4000)/${body(`dl-${i}-${n}-`)}`;

  // The next hops the control process writes come from the kernel: the N6 gateway (and, once
  // the FARs send there, the gNB) resolved first, so that every packet takes the fast path.
  await until('the gateway next hop', () => bed.neighbourMac(bed.upfNetns, bed.dn.ipv4) === bed.dn.mac);
  const sent = new Map<number, { ul: number; dl: number }>(SAMPLE.map((i) => [i, { ul: 0, dl: 0 }]));
  const frames = SAMPLE.flatMap((i, k) => Array.from({ length: k + 1 }, (_, n) => uplink(i, n)));
  const up = await dn.capture(() => gnb.send(frames));
  for (const [k, i] of SAMPLE.entries()) {
    const mine = tagged(up, `ul-${i}-`);
    t.is(mine.length, k + 1, `uplink of session ${i}`);
    for (const f of mine) t.like(layer(f, 'IP')?.fields, { src: ues[i], dst: bed.remote.ipv4 });
    sent.get(i)!.ul += k + 1;
  }

  started = Date.now();
  await pipelined(N, 64, async (i) => {
    const r = await smf.request(forwardDownlink(seids[i]!, gnbTeidOf(i), bed.gnb.ipv4), 2000);
    if (causeOf(r) !== 1) throw new Error(`modification ${i}: cause ${causeOf(r)}`);
  });
  t.log(`${N} modifications in ${Date.now() - started} ms`);
  await until('the gNB next hop', () => bed.neighbourMac(bed.upfNetns, bed.gnb.ipv4) === bed.gnb.mac);
  const down = await gnb.capture(() => dn.send(SAMPLE.flatMap((i) => Array.from({ length: DOWNLINK_PACKETS }, (_, n) => downlink(i, n)))));
  for (const i of SAMPLE) {
    const mine = tagged(down, `dl-${i}-`);
    t.is(mine.length, DOWNLINK_PACKETS, `downlink of session ${i}`);
    for (const f of mine) {
      t.like(layer(f, 'GTP_U_Header')?.fields, { teid: gnbTeidOf(i) }, `session ${i}'s gNB TEID`);
      t.like(layer(f, 'IP')?.fields, { src: bed.n3.ipv4, dst: bed.gnb.ipv4 });
    }
    sent.get(i)!.dl += DOWNLINK_PACKETS;
  }

  started = Date.now();
  const wrong: string[] = [];
  await pipelined(N, 64, async (i) => {
    const r = await smf.request({ type: M.SessionDeletionRequest, seid: seids[i]!, ies: [] }, 2000);
    if (causeOf(r) !== 1) throw new Error(`deletion ${i}: cause ${causeOf(r)}`);
    const v = getValue(getGroups(r.ies, T.UsageReportSessionDeletionResponse).find((g) => getValue(g, T.UrrId)?.ruleId === 1) ?? [], T.VolumeMeasurement);
    const s = sent.get(i) ?? { ul: 0, dl: 0 };
    const want = [s.ul, s.dl, s.ul * INNER_BYTES, s.dl * INNER_BYTES].map(BigInt);
    const got = [v?.uplinkPackets, v?.downlinkPackets, v?.uplink, v?.downlink];
    if (got.some((x, j) => x !== want[j])) wrong.push(`session ${i}: ${got.join('/')} for ${want.join('/')}`);
  });
  t.log(`${N} deletions in ${Date.now() - started} ms`);
  t.deepEqual(wrong, [], 'final usage (uplink/downlink packets, uplink/downlink bytes) is what was sent');

  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  proc.kill('SIGTERM');
  t.is(await exited, 0, err);
  t.false(fs.existsSync(`/dev/shm/${region}`), 'the region is removed');
});
