// 10,000 sessions established over PFCP, modified, and deleted with final usage reports whose
// volumes are the user plane's counts (a sample of the responses decoded by scapy as well): over
// the in-memory test double, and over the shared-memory UpfSessions with the counts written into
// its URR counters where the fast path counts.
import test, { type ExecutionContext } from 'ava';

import { SharedRegion } from 'fastlane-dataplane';

import { IeType as T, type PfcpMessage, encodeMessage, getGroups, getValue } from '../src/pfcp/index';
import { CodecSmf, associationSetupMessage, causeOf, establishmentMessage, modificationMessage, startNode } from './pfcp-node-helpers';
import { runScapy } from './scapy';
import { scapyIe } from './smf';
import { ShmUpfSessions } from '../src/sessions/index';
import type { UpfSessions } from '../src/sessions/types';
import { type Count, shmTraffic } from './shm-traffic';
import { UpfSessionsTestDouble } from './upf-sessions-double';

const N = 10_000;

/** Runs `make(i)` for i < n with at most `window` requests outstanding. */
async function pipelined(n: number, window: number, make: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: window }, async () => {
      while (next < n) await make(next++);
    }),
  );
}

async function scenario(t: ExecutionContext, sessions: UpfSessions, counter: () => Count): Promise<void> {
  const { node, to } = await startNode(sessions, { timers: { heartbeatIntervalMs: 60_000, t1Ms: 2000, n1: 3 } /* responses cached 9 s */ });
  const smf = await new CodecSmf(to).bind();
  try {
    t.is(causeOf(await smf.request(associationSetupMessage())), 1);
    const seids: bigint[] = new Array<bigint>(N);
    const teids = new Set<number>();
    await pipelined(N, 64, async (i) => {
      const r = await smf.request(establishmentMessage(BigInt(i + 1)), 1000);
      if (causeOf(r) !== 1) throw new Error(`establishment ${i}: cause ${causeOf(r)}`);
      seids[i] = getValue(r.ies, T.FSeid)?.seid as bigint;
      for (const c of getGroups(r.ies, T.CreatedPdr)) {
        const f = getValue(c, T.FTeid);
        if (f) teids.add(f.teid as number);
      }
    });
    t.is(sessions.size, N);
    t.is(teids.size, N, 'every session its own TEID');
    t.is((await node.metrics.sessions.get()).values[0]?.value, N);
    t.is((await node.metrics.pdrs.get()).values[0]?.value, 2 * N);

    await pipelined(N, 64, async (i) => {
      const r = await smf.request(modificationMessage(seids[i] as bigint, 0x20000 + i), 1000);
      if (causeOf(r) !== 1) throw new Error(`modification ${i}: cause ${causeOf(r)}`);
    });
    t.is((await node.metrics.pdrs.get()).values[0]?.value, 3 * N);
    t.is(sessions.get(seids[N - 1] as bigint)?.fars.find((f) => f.farId === 2)?.forwardingParameters?.outerHeaderCreation?.teid, 0x20000 + N - 1);

    // What the user plane counted for each session, in both URRs.
    const count = counter();
    for (let i = 0; i < N; i++) {
      const seid = seids[i] as bigint;
      count(seid, 1, 'uplink', i + 1, 100 * (i + 1));
      count(seid, 1, 'downlink', 2, 1500 * 2);
      count(seid, 2, 'downlink', 1, 40 + i);
    }

    const sample: PfcpMessage[] = [];
    await pipelined(N, 64, async (i) => {
      const r = await smf.request({ type: 54, seid: seids[i] as bigint, ies: [] }, 1000);
      if (causeOf(r) !== 1) throw new Error(`deletion ${i}: cause ${causeOf(r)}`);
      const reports = new Map(getGroups(r.ies, T.UsageReportSessionDeletionResponse).map((g) => [getValue(g, T.UrrId)?.ruleId, getValue(g, T.VolumeMeasurement)]));
      const v1 = reports.get(1);
      const v2 = reports.get(2);
      if (v1?.uplink !== BigInt(100 * (i + 1)) || v1.downlink !== 3000n || v1.uplinkPackets !== BigInt(i + 1) || v2?.downlink !== BigInt(40 + i) || v2.uplink !== 0n) {
        throw new Error(`session ${i}: final usage ${JSON.stringify([...reports], (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`);
      }
      if (i % 500 === 0) sample.push(r);
    });
    t.is(sessions.size, 0);
    t.is((await node.metrics.sessions.get()).values[0]?.value, 0);
    t.is((await node.metrics.pdrs.get()).values[0]?.value, 0);

    // scapy reads the same volumes out of the sampled responses.
    const decoded = runScapy([], sample.map((m) => Buffer.from(encodeMessage(m)).toString('hex'))).decoded;
    decoded.forEach((d, k) => {
      const i = k * 500;
      const urr1 = d.ies.find((x) => x.ietype === T.UsageReportSessionDeletionResponse && scapyIe(x.ies, T.UrrId)?.fields['id'] === 1);
      t.is(scapyIe(urr1?.ies ?? [], T.VolumeMeasurement)?.fields['uplink'], 100 * (i + 1));
      t.is(scapyIe(urr1?.ies ?? [], T.VolumeMeasurement)?.fields['total'], 100 * (i + 1) + 3000);
    });
    t.is(decoded.length, N / 500);
  } finally {
    smf.close();
    await node.close();
  }
}

test('10K sessions over the test double: establish, modify, count, delete with final usage reports', async (t) => {
  t.timeout(120_000);
  const sessions = new UpfSessionsTestDouble();
  await scenario(t, sessions, () => sessions.count.bind(sessions));
});

test('10K sessions over the shared-memory UpfSessions: the same, counts in its URR counters', async (t) => {
  t.timeout(180_000);
  const name = `fastlane-pfcp-scale-${process.pid}`;
  const sessions = ShmUpfSessions.create(name, { sessions: N, pdrs: 3 * N, fars: 2 * N, qers: 16, urrs: 2 * N });
  try {
    await scenario(t, sessions, () => shmTraffic(sessions.region));
  } finally {
    sessions.close();
    SharedRegion.unlink(name);
  }
});
