// UpfSessions over shared memory: the contract of types.ts (create / modify / delete / get /
// entries / usage / events, errors with codes and rules, all or nothing), capacities, and a
// restarted writer that finds every session.
import test from 'ava';

import { ShmUpfSessions } from '../src/sessions/index';
import { UpfSessionError, type SessionRules } from '../src/sessions/types';
import { basicSession, regionName, teidOf, unlink } from './sessions-helpers';

const SMALL = { sessions: 8, pdrs: 16, fars: 16, qers: 8, urrs: 8, next_hops: 4, event_channels: 2, event_capacity: 16 };

function withSessions(tag: string, caps: Partial<typeof SMALL>, run: (s: ShmUpfSessions, name: string) => void): void {
  const name = regionName(tag);
  const sessions = ShmUpfSessions.create(name, caps);
  try {
    run(sessions, name);
  } finally {
    sessions.close();
    unlink(name);
  }
}

function code(fn: () => unknown): { code: string; rule?: { kind: string; id: number } | undefined; message: string } {
  try {
    fn();
  } catch (e) {
    if (e instanceof UpfSessionError) return { code: e.code, rule: e.rule, message: e.message };
    throw e;
  }
  throw new Error('did not throw');
}

test('create, get and entries give the rules back in normal form; size counts sessions', (t) => {
  withSessions('roundtrip', SMALL, (s) => {
    const rules: SessionRules = {
      ...basicSession(1),
      bar: { barId: 3, suggestedBufferingPackets: 10 },
    };
    rules.pdrs.push({
      pdrId: 3,
      precedence: 10,
      pdi: {
        sourceInterface: 'core',
        ueIpAddress: { ipv4: '10.45.0.1', ipv6Prefix: '2001:db8:1::/64' },
        sdfFilters: [
          { protocol: 6, ue: { ports: { from: 1000, to: 2000 } }, remote: { prefix: '198.51.100.0/24', ports: { from: 443, to: 443 } }, filterId: 7 },
          { remote: { prefix: '2001:db8:ff::1' } },
        ],
        networkInstance: 'internet',
      },
      farId: 2,
    });
    rules.fars.push({
      farId: 3,
      applyAction: { buffer: true, notifyCp: true },
      forwardingParameters: { destinationInterface: 'access', networkInstance: 'access.net', outerHeaderCreation: { teid: 9, ipv6: '2001:db8::9', port: 2153 } },
      barId: 3,
    });
    rules.urrs!.push({
      urrId: 2,
      measurementMethod: { volume: true, duration: true },
      reportingTriggers: { volumeQuota: true, periodic: true },
      volumeQuota: { uplink: 5n, downlink: 6n },
      measurementPeriodSeconds: 60,
      timeThresholdSeconds: 0,
    });
    s.create(1n, rules);
    t.is(s.size, 1);
    t.deepEqual(s.get(1n), rules);
    t.deepEqual([...s.entries()], [[1n, rules]]);
    t.is(s.get(2n), undefined);
  });
});

test('errors: exists, not found, rules that refer to nothing, keys of another session; nothing is published', (t) => {
  withSessions('errors', SMALL, (s) => {
    s.create(1n, basicSession(1));
    t.is(code(() => s.create(1n, basicSession(2))).code, 'ERR_UPF_SESSION_EXISTS');
    t.is(code(() => s.modify(9n, {})).code, 'ERR_UPF_SESSION_NOT_FOUND');
    t.is(code(() => s.delete(9n)).code, 'ERR_UPF_SESSION_NOT_FOUND');
    t.is(code(() => s.usage(9n)).code, 'ERR_UPF_SESSION_NOT_FOUND');

    const badFar = basicSession(2);
    badFar.pdrs[1]!.farId = 42;
    t.like(code(() => s.create(2n, badFar)), { code: 'ERR_UPF_RULE', rule: { kind: 'pdr', id: 2 } });
    const badQer = basicSession(2);
    badQer.pdrs[0]!.qerIds = [5];
    t.like(code(() => s.create(2n, badQer)), { code: 'ERR_UPF_RULE', rule: { kind: 'pdr', id: 1 } });
    const badAddress = basicSession(2);
    badAddress.pdrs[1]!.pdi.ueIpAddress = { ipv4: '10.1.2.300' };
    t.like(code(() => s.create(2n, badAddress)), { code: 'ERR_UPF_RULE', rule: { kind: 'pdr', id: 2 } });
    const noKey = basicSession(2);
    delete noKey.pdrs[0]!.pdi.localFTeid;
    t.like(code(() => s.create(2n, noKey)), { code: 'ERR_UPF_RULE', rule: { kind: 'pdr', id: 1 } });
    const forwardNowhere = basicSession(2);
    delete forwardNowhere.fars[0]!.forwardingParameters;
    t.like(code(() => s.create(2n, forwardNowhere)), { code: 'ERR_UPF_RULE', rule: { kind: 'far', id: 1 } });
    const twice = basicSession(2);
    twice.fars.push({ ...twice.fars[0]! });
    t.like(code(() => s.create(2n, twice)), { code: 'ERR_UPF_RULE', rule: { kind: 'far', id: 1 } });
    // Session 1's TEID, then its UE address.
    const stolenTeid = basicSession(2);
    stolenTeid.pdrs[0]!.pdi.localFTeid!.teid = teidOf(1);
    t.like(code(() => s.create(2n, stolenTeid)), { code: 'ERR_UPF_RULE', rule: { kind: 'pdr', id: 1 } });
    const stolenUe = basicSession(2);
    stolenUe.pdrs[1]!.pdi.ueIpAddress = basicSession(1).pdrs[1]!.pdi.ueIpAddress!;
    t.like(code(() => s.create(2n, stolenUe)), { code: 'ERR_UPF_RULE', rule: { kind: 'pdr', id: 2 } });
    const tooManySdf = basicSession(2);
    tooManySdf.pdrs[1]!.pdi.sdfFilters = Array.from({ length: 5 }, () => ({ protocol: 17 }));
    t.like(code(() => s.create(2n, tooManySdf)), { code: 'ERR_UPF_NO_RESOURCES', rule: { kind: 'pdr', id: 2 } });
    t.is(s.size, 1);
    t.deepEqual([...s.entries()].map(([seid]) => seid), [1n]);
  });
});

test('a full table is refused before anything is written, and room comes back on delete', (t) => {
  withSessions('capacity', { ...SMALL, sessions: 3, pdrs: 5 }, (s) => {
    s.create(1n, basicSession(1));
    s.create(2n, basicSession(2));
    // 4 PDRs in use of 5: a session of two does not fit.
    t.like(code(() => s.create(3n, basicSession(3))), { code: 'ERR_UPF_NO_RESOURCES' });
    t.is(s.get(3n), undefined);
    // Nor does a modification that adds two.
    const more = basicSession(9);
    t.like(
      code(() =>
        s.modify(1n, {
          createPdrs: [
            { ...more.pdrs[1]!, pdrId: 10, pdi: { sourceInterface: 'core', ueIpAddress: { ipv4: '10.99.0.1' } } },
            { ...more.pdrs[1]!, pdrId: 11, pdi: { sourceInterface: 'core', ueIpAddress: { ipv4: '10.99.0.2' } } },
          ],
        }),
      ),
      { code: 'ERR_UPF_NO_RESOURCES' },
    );
    t.deepEqual(s.get(1n), basicSession(1));
    const usage = s.delete(2n);
    t.deepEqual(usage, [{ urrId: 1, uplink: { packets: 0n, bytes: 0n }, downlink: { packets: 0n, bytes: 0n }, quotaExhausted: false }]);
    s.create(3n, basicSession(3));
    t.is(s.size, 2);
  });
});

test('modify applies removals, creations and updates at once, or nothing', (t) => {
  withSessions('modify', SMALL, (s) => {
    s.create(1n, basicSession(1));
    s.modify(1n, {
      updateFars: [{ farId: 2, updateForwardingParameters: { outerHeaderCreation: { teid: 77, ipv4: '192.168.1.3' }, sendEndMarker: true } }],
      updateQers: [{ qerId: 1, gateStatus: { uplink: 'closed', downlink: 'open' } }],
      removeUrrs: [1],
      updatePdrs: [
        { pdrId: 1, urrIds: [] },
        { pdrId: 2, urrIds: [], precedence: 5 },
      ],
    });
    const expected = basicSession(1);
    expected.fars[1]!.forwardingParameters!.outerHeaderCreation = { teid: 77, ipv4: '192.168.1.3' };
    expected.qers![0]!.gateStatus = { uplink: 'closed', downlink: 'open' };
    delete expected.urrs;
    delete expected.pdrs[0]!.urrIds;
    delete expected.pdrs[1]!.urrIds;
    expected.pdrs[1]!.precedence = 5;
    t.deepEqual(s.get(1n), expected);

    // A removed FAR still used by a PDR: the whole modification is refused.
    t.like(code(() => s.modify(1n, { removeFars: [1], updateQers: [{ qerId: 1, qfi: 3 }] })), { code: 'ERR_UPF_RULE', rule: { kind: 'pdr', id: 1 } });
    t.like(code(() => s.modify(1n, { updateFars: [{ farId: 9, applyAction: { drop: true } }] })), { code: 'ERR_UPF_RULE', rule: { kind: 'far', id: 9 } });
    t.like(code(() => s.modify(1n, { createPdrs: [expected.pdrs[0]!] })), { code: 'ERR_UPF_RULE', rule: { kind: 'pdr', id: 1 } });
    t.like(code(() => s.modify(1n, { removeQers: [4] })), { code: 'ERR_UPF_RULE', rule: { kind: 'qer', id: 4 } });
    t.deepEqual(s.get(1n), expected);
  });
});

test('a restarted writer finds every session with its rules, and goes on from there', (t) => {
  const name = regionName('restart');
  const first = ShmUpfSessions.create(name, SMALL);
  try {
    for (let i = 0; i < 5; i++) first.create(BigInt(100 + i), basicSession(i, i));
    first.modify(102n, { updateFars: [{ farId: 2, applyAction: { buffer: true, notifyCp: true } }] });
    first.delete(103n);
    const before = new Map(first.entries());
    first.close();

    const second = ShmUpfSessions.open(name, SMALL);
    try {
      t.is(second.size, 4);
      t.deepEqual(new Map(second.entries()), before);
      second.modify(102n, { updateFars: [{ farId: 2, applyAction: { forward: true } }] });
      second.create(103n, basicSession(3));
      t.is(code(() => second.create(104n, basicSession(4))).code, 'ERR_UPF_SESSION_EXISTS');
      t.deepEqual(second.get(102n), basicSession(2, 2));
    } finally {
      second.close();
    }
  } finally {
    unlink(name);
  }
});

test('10,000 sessions install into the default capacities, and 100,000 are allowed', (t) => {
  const name = regionName('capacity10k');
  const s = ShmUpfSessions.create(name, {});
  try {
    for (let i = 0; i < 10_000; i++) s.create(BigInt(i + 1), basicSession(i));
    t.is(s.size, 10_000);
    t.is(code(() => s.create(20_000n, basicSession(10_000))).code, 'ERR_UPF_NO_RESOURCES');
  } finally {
    s.close();
    unlink(name);
  }
  const big = regionName('capacity100k');
  const caps = { sessions: 100_000, pdrs: 200_000, fars: 200_000, qers: 100_000, urrs: 200_000 };
  const b = ShmUpfSessions.create(big, caps);
  try {
    t.is(b.capacities.sessions, 100_000);
    // The last slots are as usable as the first.
    for (let i = 0; i < 100; i++) b.create(BigInt(i + 1), basicSession(99_900 + i));
    t.is(b.size, 100);
  } finally {
    b.close();
    unlink(big);
  }
});
