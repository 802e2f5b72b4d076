// Needs root: `fastlane upf run` (af_xdp) runs the PFCP node in a control process of its own.
// SIGKILL of that process (twice in a row) during a modification storm while GTP-U flows: the DN keeps receiving
// (forwarding never stops), the restarted control process finds every session in its old or its
// new form, the association and allocations kept, the same Recovery Time Stamp, and the final
// usage report counts exactly the packets the gNB sent, across the kill.

import test from 'ava';
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

import type { UpfConfig } from '../src/config';
import { fetchSessions } from '../src/node/index';
import { IeType as T, MessageType as M, getGroups, getValue } from '../src/pfcp/index';
import { controlSocketOf } from '../src/wiring';
import { Agent, type Captured, layer } from './agent';
import { CodecSmf, associationSetupMessage, causeOf, establishmentMessage, modificationMessage } from './pfcp-node-helpers';
import { UE_POOL_V4, UE_POOL_V6, UpfTestbed } from './testbed';

const ROOT = path.join(__dirname, '..', '..', '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const SESSIONS = 200;
/** The generator's steady rate: one uplink packet every GAP_US. */
const GAP_US = 2000;
const PACKETS = 3000;
/**
 * The longest silence at the DN allowed. The control side is down for at least the supervisor's
 * first two back-offs (200 + 400 ms: the test kills it twice in a row) plus starting Node and the
 * PFCP node twice, and the test checks it was down longer than this bound: had forwarding
 * stopped with the control process, the DN would have seen a gap at least that long. The
 * bound's slack over the 2 ms rate is for a Python generator on a loaded two-core machine.
 */
const MAX_GAP_MS = 500;

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
      capacity: { sessions: 512, pdrs: 2048, fars: 1024, qers: 16, urrs: 1024, next_hops: 16 },
      region,
      // N4 on loopback, in this process's namespace.
      pfcp: { address: '127.0.0.1', port },
    },
  };
}

/** `fastlane upf run` with its stdout read line by line. */
class Run {
  readonly lines: string[] = [];
  readonly #waiters: Array<() => void> = [];
  err = '';

  constructor(readonly proc: ChildProcessByStdio<null, Readable, Readable>) {
    proc.stderr.on('data', (d: Buffer) => (this.err += d.toString()));
    createInterface({ input: proc.stdout }).on('line', (line) => {
      this.lines.push(line);
      this.#waiters.splice(0).forEach((w) => w());
    });
  }

  /** The first line from `from` on that matches, waiting up to `ms`. */
  async line(re: RegExp, from = 0, ms = 30_000): Promise<{ match: RegExpMatchArray; index: number }> {
    const deadline = Date.now() + ms;
    for (;;) {
      for (let i = from; i < this.lines.length; i++) {
        const match = this.lines[i]!.match(re);
        if (match !== null) return { match, index: i };
      }
      if (Date.now() > deadline || this.proc.exitCode !== null) throw new Error(`no line ${re}: ${this.lines.join('\n')} ${this.err}`);
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }
}

test.serial('SIGKILL of the control process during a modification storm: forwarding goes on, state is recovered', async (t) => {
  t.timeout(180_000);
  const bed = UpfTestbed.up(`uk${process.pid % 10000}`, 53);
  t.teardown(() => bed.down());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'upf-kill-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const region = `upf-kill-${process.pid}`;
  const file = path.join(dir, 'upf.json');
  const port = 20000 + ((process.pid + 7) % 20000);
  const config = configFor(bed, region, port);
  fs.writeFileSync(file, JSON.stringify(config));

  const run = new Run(spawn('node', [CLI, 'upf', 'run', file], { stdio: ['ignore', 'pipe', 'pipe'] }));
  t.teardown(() => run.proc.kill('SIGKILL'));
  const first = await run.line(/control process (\d+) up, PFCP Recovery Time Stamp (\d+) \(fresh state\)/);
  await run.line(/Ctrl-C stops/);
  const controlPid = Number(first.match[1]);
  const recoveryTimeStamp = Number(first.match[2]);

  let smf = await new CodecSmf({ address: '127.0.0.1', port }).bind();
  t.teardown(() => smf.close());
  t.is(causeOf(await smf.request(associationSetupMessage())), 1);
  const seids: bigint[] = [];
  const teids = new Set<number>();
  const ues = new Set<string>();
  let traffic: { teid: number; ue: string } | undefined;
  for (let i = 0; i < SESSIONS; i++) {
    const r = await smf.request(establishmentMessage(BigInt(i + 1)));
    t.is(causeOf(r), 1);
    seids.push(getValue(r.ies, T.FSeid)?.seid as bigint);
    let teid: number | undefined;
    let ue: string | undefined;
    for (const c of getGroups(r.ies, T.CreatedPdr)) {
      teid = (getValue(c, T.FTeid)?.teid as number | undefined) ?? teid;
      ue = (getValue(c, T.UeIpAddress)?.ipv4 as string | undefined) ?? ue;
    }
    teids.add(teid as number);
    ues.add(ue as string);
    if (i === 0) traffic = { teid: teid as number, ue: ue as string };
  }
  t.is(teids.size, SESSIONS);
  t.is(ues.size, SESSIONS);

  // The F-TEID and UE address the UPF chose, in a G-PDU from the gNB; 64 bytes of inner IP.
  const inner = `IP(src='${traffic!.ue}',dst='${bed.remote.ipv4}')/UDP(sport=4000,dport=6000)/Raw(load=b'kill-test'.ljust(36, b'.'))`;
  const frame =
    `Ether(dst='${bed.n3.mac}',src='${bed.gnb.mac}')/IP(src='${bed.gnb.ipv4}',dst='${bed.n3.ipv4}')/UDP(sport=2152,dport=2152)/` +
    `GTP_U_Header(teid=${traffic!.teid},E=1,next_ex=0x85)/GTPPDUSessionContainer(type=1,QFI=9)/${inner}`;
  const gnb = new Agent(bed.gnb.netns, bed.gnb.iface);
  const dn = new Agent(bed.dn.netns, bed.dn.iface);
  t.teardown(() => {
    gnb.close();
    dn.close();
  });
  // The gateway's next hop, which the control process writes, from the kernel: resolved first.
  const deadline = Date.now() + 8000;
  while (bed.neighbourMac(bed.upfNetns, bed.dn.ipv4) !== bed.dn.mac && Date.now() < deadline) await sleep(25);
  const warm = await dn.capture(() => gnb.send([frame]), 500);
  t.is(warm.filter(isOurs).length, 1, 'an uplink packet reaches the DN before the kill');

  await dn.start();
  const sending = gnb.send([frame], GAP_US, PACKETS);
  await sleep(1000);
  // The storm: every modification at once; the kill lands once a quarter has been answered.
  let answered = 0;
  const storm = seids.map((seid, i) =>
    smf.request(modificationMessage(seid, 0x10000 + i), 10_000, 0).then(
      () => answered++,
      () => undefined,
    ),
  );
  while (answered < SESSIONS / 4) await sleep(1);
  process.kill(controlPid, 'SIGKILL');
  const killedAt = Date.now();
  smf.close();
  void Promise.allSettled(storm);
  // The restarted one is killed as soon as it is up, and the next one waits twice as long: the
  // control side is down for at least the two back-offs, 600 ms, whatever the machine's speed.
  const up = /control process (\d+) up, PFCP Recovery Time Stamp (\d+) \((state kept|fresh state)\)/;
  const second = await run.line(up, first.index + 1);
  process.kill(Number(second.match[1]), 'SIGKILL');
  const again = await run.line(up, second.index + 1);
  const upAt = Date.now();
  t.regex(run.lines.join('\n'), new RegExp(`control process ${controlPid} killed by SIGKILL; restarting in 200 ms`));
  t.regex(run.lines.join('\n'), new RegExp(`control process ${second.match[1]} killed by SIGKILL; restarting in 400 ms`), 'the back-off doubles');
  t.is(second.match[3], 'state kept');
  await sending;
  const arrived = (await dn.stop(500)).filter(isOurs);

  // Forwarding never stopped: the DN heard the generator all along, during the restart too.
  t.log(`control process down for ${upAt - killedAt} ms; ${arrived.length} of ${PACKETS} packets seen at the DN`);
  t.true(upAt - killedAt > MAX_GAP_MS, 'the restart took longer than the gap bound: a stop would show');
  const times = arrived.map((f) => f.time * 1000).sort((a, b) => a - b);
  let maxGap = 0;
  for (let i = 1; i < times.length; i++) maxGap = Math.max(maxGap, times[i]! - times[i - 1]!);
  t.true(maxGap < MAX_GAP_MS, `longest silence at the DN: ${maxGap.toFixed(0)} ms`);
  t.true(times[0]! < killedAt && times.at(-1)! > upAt, 'traffic spans the kill and the restart');
  t.true(times.filter((x) => x > killedAt && x < upAt).length > ((upAt - killedAt) * 1000) / GAP_US / 4, 'packets arrived while the control process was down');

  // The restarted control process kept the state: same Recovery Time Stamp, sessions old or new.
  t.is(again.match[3], 'state kept');
  t.is(Number(again.match[2]), recoveryTimeStamp);
  const listed = await fetchSessions(controlSocketOf(config));
  t.is(listed.length, SESSIONS);
  const old = new Set<string>();
  for (const s of listed) {
    const far2 = s.rules.fars.find((f) => f.farId === 2);
    const isNew = s.rules.pdrs.length === 3 && far2?.applyAction.forward === true && far2.forwardingParameters?.outerHeaderCreation !== undefined && s.rules.urrs?.length === 2;
    const isOld = s.rules.pdrs.length === 2 && far2?.applyAction.buffer === true && s.rules.urrs?.length === 1;
    t.true(isNew || isOld, `session ${s.seid} is half-applied: ${JSON.stringify(s.rules)}`);
    if (isOld) old.add(s.seid);
  }
  t.log(`${SESSIONS - old.size} of ${SESSIONS} sessions modified when the kill landed`);
  t.true(SESSIONS - old.size >= SESSIONS / 4);

  smf = await new CodecSmf({ address: '127.0.0.1', port }).bind();
  const hb = await smf.request({ type: M.HeartbeatRequest, ies: [] });
  t.is(getValue(hb.ies, T.RecoveryTimeStamp)?.ntpSeconds, recoveryTimeStamp, 'the advertised Recovery Time Stamp is the old one');
  // The association survived (no cause 72): the rest of the storm goes through.
  for (const [i, seid] of seids.entries()) {
    if (old.has(String(seid))) t.is(causeOf(await smf.request(modificationMessage(seid, 0x10000 + i))), 1);
  }
  // New sessions get F-TEIDs and UE addresses no recovered session holds.
  for (let i = 0; i < 10; i++) {
    const r = await smf.request(establishmentMessage(BigInt(10_000 + i)));
    t.is(causeOf(r), 1);
    for (const c of getGroups(r.ies, T.CreatedPdr)) {
      const f = getValue(c, T.FTeid)?.teid as number | undefined;
      const ue = getValue(c, T.UeIpAddress)?.ipv4 as string | undefined;
      if (f !== undefined) t.false(teids.has(f), `TEID ${f} handed out twice`);
      if (ue !== undefined) t.false(ues.has(ue), `UE address ${ue} handed out twice`);
    }
  }
  // The final report counts every packet the gNB sent (the warm-up one too), across the kill.
  const d = await smf.request({ type: M.SessionDeletionRequest, seid: seids[0]!, ies: [] });
  t.is(causeOf(d), 1);
  const urr1 = getGroups(d.ies, T.UsageReportSessionDeletionResponse).find((r) => getValue(r, T.UrrId)?.ruleId === 1) ?? [];
  const volume = getValue(urr1, T.VolumeMeasurement);
  t.is(volume?.uplinkPackets, BigInt(PACKETS + 1));
  t.is(volume?.uplink, BigInt((PACKETS + 1) * 64));
  smf.close();

  const exited = new Promise<number | null>((resolve) => run.proc.on('exit', (code) => resolve(code)));
  run.proc.kill('SIGTERM');
  t.is(await exited, 0, run.err);
  t.false(fs.existsSync(`/dev/shm/${region}`), 'the region is removed');
  t.false(fs.existsSync(`/dev/shm/${region}-pfcp`), "the PFCP node's state region is removed");
  t.throws(() => process.kill(Number(again.match[1]), 0), undefined, 'the control process is gone');
});

function isOurs(f: Captured): boolean {
  return Buffer.from(String(layer(f, 'Raw')?.fields.load ?? ''), 'hex').toString('latin1').startsWith('kill-test');
}
