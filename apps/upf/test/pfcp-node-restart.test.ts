// SIGKILL of the PFCP node's process in the middle of a modification storm, then a restart on the
// same state: every session (in the UPF's shared-memory region, ShmUpfSessions) is in its old or
// its new form, the association, F-TEIDs, UE addresses and what was already reported are
// recovered, and the Recovery Time Stamp says the state was kept. A restart on a fresh state
// region says it was not, and removes the sessions whose SMF it no longer knows.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import test from 'ava';

import { SharedRegion } from 'fastlane-dataplane';

import { IeType as T, MessageType as M, getGroups, getValue, group, ie } from '../src/pfcp/index';
import { ShmUpfSessions, upfLayout, capacities } from '../src/sessions/index';
import type { SessionRules } from '../src/sessions/types';
import { CHILD_CAPACITIES } from './pfcp-node-child';
import { CodecSmf, associationSetupMessage, causeOf, establishmentMessage, modificationMessage } from './pfcp-node-helpers';
import { shmTraffic } from './shm-traffic';

const SESSIONS = 300;

interface Child {
  proc: ChildProcess;
  port: number;
  recoveryTimeStamp: number;
  stateKept: boolean;
}

/** What a killed node left in the UPF's region: every session's rules (read by a new writer). */
function sessionsLeft(upf: string): Map<bigint, SessionRules> {
  const s = ShmUpfSessions.open(upf, CHILD_CAPACITIES);
  try {
    return new Map(s.entries());
  } finally {
    s.close();
  }
}

function unlink(name: string): void {
  try {
    SharedRegion.unlink(name);
  } catch {
    // already gone
  }
}

async function startChild(state: string, upf: string): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'pfcp-node-child.ts'), JSON.stringify({ state, upf, port: 0 })], {
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
  const state = `fastlane-pfcp-restart-state-${process.pid}`;
  const upf = `fastlane-pfcp-restart-upf-${process.pid}`;
  let child = await startChild(state, upf);
  // The test counts traffic into the URRs where the fast path would (same region, other process).
  const upfRegion = SharedRegion.open(upf, upfLayout(capacities(CHILD_CAPACITIES)));
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
    // Traffic on the first sessions, reported (Query URR) before the kill.
    let count = shmTraffic(upfRegion);
    for (const seid of seids.slice(0, 10)) count(seid, 1, 'uplink', 5, 5000);
    for (const seid of seids.slice(0, 10)) {
      const q = await smf.request({ type: M.SessionModificationRequest, seid, ies: [group(T.QueryUrr, [ie(T.UrrId, { ruleId: 1 })])] });
      t.is(getValue(getGroups(q.ies, T.UsageReportSessionModificationResponse)[0] ?? [], T.VolumeMeasurement)?.uplink, 5000n);
    }

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

    const left = sessionsLeft(upf);
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

    child = await startChild(state, upf);
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
    // More traffic after the restart: the final report has only what came since the last report
    // (the reported counts survived), and both URRs of every (now) modified session.
    count = shmTraffic(upfRegion);
    for (const seid of seids.slice(0, 10)) count(seid, 1, 'downlink', 2, 700);
    for (const [i, seid] of seids.slice(0, 50).entries()) {
      const d = await smf.request({ type: M.SessionDeletionRequest, seid, ies: [] });
      t.is(causeOf(d), 1);
      const reports = getGroups(d.ies, T.UsageReportSessionDeletionResponse);
      t.is(reports.length, 2);
      t.is(d.seid, BigInt(i + 1), 'the SMF’s SEID came back too');
      const urr1 = reports.find((r) => getValue(r, T.UrrId)?.ruleId === 1) ?? [];
      const volume = getValue(urr1, T.VolumeMeasurement);
      t.deepEqual([volume?.uplink, volume?.downlink], i < 10 ? [0n, 700n] : [0n, 0n]);
      t.is(getValue(urr1, T.UrSeqn)?.sequence, i < 10 ? 2 : 1, 'UR-SEQN carried on');
    }
    smf.close();
    await kill(child);

    // A fresh state region: nothing kept, a new Recovery Time Stamp, the orphaned sessions removed.
    const before = child.recoveryTimeStamp;
    SharedRegion.unlink(state);
    await new Promise((r) => setTimeout(r, 1100));
    child = await startChild(state, upf);
    t.false(child.stateKept);
    t.true(child.recoveryTimeStamp > before);
    await kill(child);
    t.is(sessionsLeft(upf).size, 0, 'sessions whose SMF is unknown are removed at recovery');
  } finally {
    smf.close();
    if (child.proc.exitCode === null && child.proc.signalCode === null) await kill(child);
    upfRegion.close();
    unlink(state);
    unlink(upf);
  }
});
