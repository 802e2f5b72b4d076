// SIGKILL of the PFCP node's process in the middle of a modification storm, then a restart on the
// same state: every session is in its old or its new form, the association, F-TEIDs and UE
// addresses are recovered, and the Recovery Time Stamp says the state was kept. A restart on a
// fresh region says it was not.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import test from 'ava';

import { IeType as T, MessageType as M, getGroups, getValue } from '../src/pfcp/index';
import { SharedRegion } from '../../../src-ts/shm';
import { CodecSmf, associationSetupMessage, causeOf, establishmentMessage, modificationMessage } from './pfcp-node-helpers';
import { readSessionFiles } from './upf-sessions-file-double';

const SESSIONS = 300;

interface Child {
  proc: ChildProcess;
  port: number;
  recoveryTimeStamp: number;
  stateKept: boolean;
}

async function startChild(region: string, sessionsDir: string): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'pfcp-node-child.ts'), JSON.stringify({ region, sessionsDir, port: 0 })], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: proc.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done) throw new Error('the node process exited before it was up');
  return { proc, ...(JSON.parse(first.value) as { port: number; recoveryTimeStamp: number; stateKept: boolean }) };
}

async function kill(c: Child): Promise<void> {
  const exited = new Promise((r) => c.proc.once('exit', r));
  c.proc.kill('SIGKILL');
  await exited;
}

test('SIGKILL during a modification storm: every session old or new, state and allocations kept', async (t) => {
  const region = `fastlane-pfcp-restart-${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), 'pfcp-restart-'));
  let child = await startChild(region, dir);
  let smf = await new CodecSmf({ address: '127.0.0.1', port: child.port }).bind();
  try {
    t.false(child.stateKept);
    t.is(causeOf(await smf.request(associationSetupMessage())), 1);
    const teids = new Set<number>();
    const ues = new Set<string>();
    const seids: bigint[] = [];
    for (let i = 0; i < SESSIONS; i++) {
      const r = await smf.request(establishmentMessage(BigInt(i + 1)));
      t.is(causeOf(r), 1);
      seids.push(getValue(r.ies, T.FSeid)?.seid as bigint);
      for (const c of getGroups(r.ies, T.CreatedPdr)) {
        const f = getValue(c, T.FTeid);
        const ue = getValue(c, T.UeIpAddress);
        if (f) teids.add(f.teid as number);
        if (ue) ues.add(ue.ipv4 as string);
      }
    }
    t.is(teids.size, SESSIONS);
    t.is(ues.size, SESSIONS);

    // The storm: every modification at once; the kill lands once some have been answered.
    let answered = 0;
    const storm = seids.map((seid, i) =>
      smf.request(modificationMessage(seid, 0x10000 + i), 10_000, 0).then(
        () => answered++,
        () => undefined,
      ),
    );
    while (answered < SESSIONS / 4) await new Promise((r) => setTimeout(r, 1));
    await kill(child);
    smf.close();
    void Promise.allSettled(storm);

    const left = readSessionFiles(dir);
    t.is(left.size, SESSIONS);
    let modified = 0;
    for (const [seid, rules] of left) {
      const far2 = rules.fars.find((f) => f.farId === 2);
      const isNew = rules.pdrs.length === 3 && far2?.applyAction.forward === true && far2.forwardingParameters?.outerHeaderCreation !== undefined && rules.urrs?.length === 2;
      const isOld = rules.pdrs.length === 2 && far2?.applyAction.buffer === true && rules.urrs?.length === 1;
      t.true(isNew || isOld, `session ${seid} is half-applied: ${JSON.stringify(rules, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`);
      if (isNew) modified++;
    }
    t.log(`${modified} of ${SESSIONS} sessions modified when the kill landed`);
    t.true(modified >= SESSIONS / 4 && modified <= SESSIONS, `${modified} modified`);

    child = await startChild(region, dir);
    t.true(child.stateKept);
    smf = await new CodecSmf({ address: '127.0.0.1', port: child.port }).bind();
    const hb = await smf.request({ type: M.HeartbeatRequest, ies: [] });
    t.is(getValue(hb.ies, T.RecoveryTimeStamp)?.ntpSeconds, child.recoveryTimeStamp);
    // The association survived: sessions are modified and deleted without setting it up again,
    // the unmodified ones now get their modification.
    for (const [i, seid] of seids.entries()) {
      const before = left.get(seid);
      if (before?.pdrs.length === 2) t.is(causeOf(await smf.request(modificationMessage(seid, 0x10000 + i))), 1);
    }
    // New sessions get F-TEIDs and addresses no recovered session holds.
    for (let i = 0; i < 20; i++) {
      const r = await smf.request(establishmentMessage(BigInt(10_000 + i)));
      t.is(causeOf(r), 1);
      for (const c of getGroups(r.ies, T.CreatedPdr)) {
        const f = getValue(c, T.FTeid);
        const ue = getValue(c, T.UeIpAddress);
        if (f) t.false(teids.has(f.teid as number), `TEID ${f.teid} handed out twice`);
        if (ue) t.false(ues.has(ue.ipv4 as string), `UE address ${ue.ipv4} handed out twice`);
      }
    }
    // Deletion reports both URRs of every (now) modified session: the URR records came back.
    for (const seid of seids.slice(0, 50)) {
      const d = await smf.request({ type: M.SessionDeletionRequest, seid, ies: [] });
      t.is(causeOf(d), 1);
      t.is(getGroups(d.ies, T.UsageReportSessionDeletionResponse).length, 2);
      t.is(d.seid, BigInt(seids.indexOf(seid) + 1), 'the SMF’s SEID came back too');
    }
    smf.close();
    await kill(child);

    // A fresh region: nothing kept, a new Recovery Time Stamp, the orphaned sessions removed.
    SharedRegion.unlink(region);
    await new Promise((r) => setTimeout(r, 1100));
    child = await startChild(region, dir);
    t.false(child.stateKept);
    t.true(child.recoveryTimeStamp > 0);
    await kill(child);
    t.is(readSessionFiles(dir).size, 0, 'sessions whose SMF is unknown are removed at recovery');
  } finally {
    smf.close();
    if (child.proc.exitCode === null && child.proc.signalCode === null) await kill(child);
    try {
      SharedRegion.unlink(region);
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
