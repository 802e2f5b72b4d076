// TEST DOUBLE of UpfSessions: an in-memory implementation of the seam, for unit tests of the PFCP
// node without the shared-memory user plane. It checks what the contract says an implementation
// checks (rule references, duplicates, sizes) and applies a modification to a copy that replaces
// the session only when the whole change is valid. Tests drive its usage counters and events.
import {
  type CreatePdr,
  type SessionModification,
  type SessionRules,
  type UpfEvent,
  UpfSessionError,
  type UpfSessions,
  type Usage,
} from '../src/sessions/types';

interface Counts {
  ulPackets: bigint;
  ulBytes: bigint;
  dlPackets: bigint;
  dlBytes: bigint;
  thresholdRaised: boolean;
  quotaRaised: boolean;
}

const clone = <T>(v: T): T => structuredClone(v);

export class UpfSessionsTestDouble implements UpfSessions {
  readonly #sessions = new Map<bigint, SessionRules>();
  readonly #counts = new Map<bigint, Map<number, Counts>>();
  #events: UpfEvent[] = [];
  /** Most sessions before ERR_UPF_NO_RESOURCES. */
  capacity = Infinity;
  /** Calls that changed something, for tests that count applications. */
  mutations = 0;

  create(seid: bigint, rules: SessionRules): void {
    if (this.#sessions.has(seid)) throw new UpfSessionError('ERR_UPF_SESSION_EXISTS', `session ${seid} exists`);
    if (this.#sessions.size >= this.capacity) throw new UpfSessionError('ERR_UPF_NO_RESOURCES', 'session table full');
    check(rules);
    this.#sessions.set(seid, clone(rules));
    this.#counts.set(seid, new Map((rules.urrs ?? []).map((u) => [u.urrId, zero()])));
    this.mutations++;
  }

  modify(seid: bigint, change: SessionModification): void {
    const current = this.#sessions.get(seid);
    if (!current) throw new UpfSessionError('ERR_UPF_SESSION_NOT_FOUND', `no session ${seid}`);
    const next = clone(current);
    const byId = <T>(list: T[] | undefined, id: (x: T) => number, kind: 'pdr' | 'far' | 'qer' | 'urr', remove: number[] | undefined): T[] => {
      const out = [...(list ?? [])];
      for (const r of remove ?? []) {
        const i = out.findIndex((x) => id(x) === r);
        if (i < 0) throw new UpfSessionError('ERR_UPF_RULE', `${kind} ${r} to remove does not exist`, { kind, id: r });
        out.splice(i, 1);
      }
      return out;
    };
    next.pdrs = byId(next.pdrs, (p) => p.pdrId, 'pdr', change.removePdrs);
    next.fars = byId(next.fars, (f) => f.farId, 'far', change.removeFars);
    next.qers = byId(next.qers, (q) => q.qerId, 'qer', change.removeQers);
    next.urrs = byId(next.urrs, (u) => u.urrId, 'urr', change.removeUrrs);
    const add = <T>(list: T[], items: T[] | undefined, id: (x: T) => number, kind: 'pdr' | 'far' | 'qer' | 'urr'): void => {
      for (const it of items ?? []) {
        if (list.some((x) => id(x) === id(it))) throw new UpfSessionError('ERR_UPF_RULE', `${kind} ${id(it)} exists`, { kind, id: id(it) });
        list.push(clone(it));
      }
    };
    add(next.pdrs, change.createPdrs, (p) => p.pdrId, 'pdr');
    add(next.fars, change.createFars, (f) => f.farId, 'far');
    add(next.qers, change.createQers, (q) => q.qerId, 'qer');
    add(next.urrs, change.createUrrs, (u) => u.urrId, 'urr');
    const update = <T, U extends object>(list: T[], items: U[] | undefined, id: (x: T | U) => number, kind: 'pdr' | 'far' | 'qer' | 'urr', merge: (a: T, b: U) => T): void => {
      for (const it of items ?? []) {
        const i = list.findIndex((x) => id(x) === id(it));
        if (i < 0) throw new UpfSessionError('ERR_UPF_RULE', `${kind} ${id(it)} to update does not exist`, { kind, id: id(it) });
        list[i] = merge(list[i] as T, it);
      }
    };
    update(next.pdrs, change.updatePdrs, (p) => p.pdrId, 'pdr', (a, b) => ({ ...a, ...clone(b) }) as CreatePdr);
    update(next.fars, change.updateFars, (f) => f.farId, 'far', (a, b) => {
      const { updateForwardingParameters: fp, ...rest } = clone(b);
      const out = { ...a, ...rest };
      if (fp) {
        const { sendEndMarker: _sndem, ...params } = fp;
        out.forwardingParameters = { ...(a.forwardingParameters ?? { destinationInterface: 'access' }), ...params };
      }
      return out;
    });
    update(next.qers, change.updateQers, (q) => q.qerId, 'qer', (a, b) => ({ ...a, ...clone(b) }));
    update(next.urrs, change.updateUrrs, (u) => u.urrId, 'urr', (a, b) => ({ ...a, ...clone(b) }));
    if (next.qers.length === 0) delete next.qers;
    if (next.urrs.length === 0) delete next.urrs;
    check(next);
    this.#sessions.set(seid, next);
    const counts = this.#counts.get(seid) as Map<number, Counts>;
    for (const r of change.removeUrrs ?? []) counts.delete(r);
    for (const u of change.createUrrs ?? []) counts.set(u.urrId, zero());
    for (const u of change.updateUrrs ?? []) {
      const c = counts.get(u.urrId);
      if (c && u.volumeThreshold) c.thresholdRaised = false;
      if (c && u.volumeQuota) c.quotaRaised = false;
    }
    this.mutations++;
  }

  delete(seid: bigint): Usage[] {
    const usage = this.usage(seid);
    this.#sessions.delete(seid);
    this.#counts.delete(seid);
    this.mutations++;
    return usage;
  }

  get(seid: bigint): SessionRules | undefined {
    const s = this.#sessions.get(seid);
    return s && clone(s);
  }

  *entries(): IterableIterator<[bigint, SessionRules]> {
    for (const [seid, rules] of this.#sessions) yield [seid, clone(rules)];
  }

  get size(): number {
    return this.#sessions.size;
  }

  usage(seid: bigint): Usage[] {
    const counts = this.#counts.get(seid);
    if (!counts) throw new UpfSessionError('ERR_UPF_SESSION_NOT_FOUND', `no session ${seid}`);
    const rules = this.#sessions.get(seid) as SessionRules;
    return [...counts].map(([urrId, c]) => ({
      urrId,
      uplink: { packets: c.ulPackets, bytes: c.ulBytes },
      downlink: { packets: c.dlPackets, bytes: c.dlBytes },
      quotaExhausted: exhausted(rules, urrId, c),
    }));
  }

  events(max = Infinity): UpfEvent[] {
    const out = this.#events.slice(0, max);
    this.#events = this.#events.slice(out.length);
    return out;
  }

  // ---- what a test does in place of traffic ----

  /** Counts traffic into a URR, raising threshold and quota events as the user plane would. */
  count(seid: bigint, urrId: number, direction: 'uplink' | 'downlink', packets: number, bytes: number): void {
    const c = this.#counts.get(seid)?.get(urrId);
    if (!c) throw new Error(`test double: no URR ${urrId} in session ${seid}`);
    if (direction === 'uplink') {
      c.ulPackets += BigInt(packets);
      c.ulBytes += BigInt(bytes);
    } else {
      c.dlPackets += BigInt(packets);
      c.dlBytes += BigInt(bytes);
    }
    const urr = this.#sessions.get(seid)?.urrs?.find((u) => u.urrId === urrId);
    if (!urr) return;
    if (urr.reportingTriggers.volumeThreshold && urr.volumeThreshold && !c.thresholdRaised && over(urr.volumeThreshold, c)) {
      c.thresholdRaised = true;
      this.#events.push({ type: 'volume-threshold', seid, urrId });
    }
    if (urr.volumeQuota && !c.quotaRaised && over(urr.volumeQuota, c)) {
      c.quotaRaised = true;
      this.#events.push({ type: 'volume-quota', seid, urrId });
    }
  }

  raise(event: UpfEvent): void {
    this.#events.push(event);
  }
}

function zero(): Counts {
  return { ulPackets: 0n, ulBytes: 0n, dlPackets: 0n, dlBytes: 0n, thresholdRaised: false, quotaRaised: false };
}

function over(l: { total?: bigint; uplink?: bigint; downlink?: bigint }, c: Counts): boolean {
  return (
    (l.total !== undefined && c.ulBytes + c.dlBytes >= l.total) ||
    (l.uplink !== undefined && c.ulBytes >= l.uplink) ||
    (l.downlink !== undefined && c.dlBytes >= l.downlink)
  );
}

function exhausted(rules: SessionRules, urrId: number, c: Counts): boolean {
  const q = rules.urrs?.find((u) => u.urrId === urrId)?.volumeQuota;
  return q !== undefined && over(q, c);
}

/** The references the contract says an implementation refuses (ERR_UPF_RULE naming the rule). */
function check(rules: SessionRules): void {
  const ids = <T>(list: T[] | undefined, id: (x: T) => number, kind: 'pdr' | 'far' | 'qer' | 'urr'): Set<number> => {
    const s = new Set<number>();
    for (const x of list ?? []) {
      if (s.has(id(x))) throw new UpfSessionError('ERR_UPF_RULE', `${kind} ${id(x)} twice`, { kind, id: id(x) });
      s.add(id(x));
    }
    return s;
  };
  ids(rules.pdrs, (p) => p.pdrId, 'pdr');
  const fars = ids(rules.fars, (f) => f.farId, 'far');
  const qers = ids(rules.qers, (q) => q.qerId, 'qer');
  const urrs = ids(rules.urrs, (u) => u.urrId, 'urr');
  for (const p of rules.pdrs) {
    if (!fars.has(p.farId)) throw new UpfSessionError('ERR_UPF_RULE', `PDR ${p.pdrId} refers to FAR ${p.farId}, which does not exist`, { kind: 'pdr', id: p.pdrId });
    for (const q of p.qerIds ?? []) if (!qers.has(q)) throw new UpfSessionError('ERR_UPF_RULE', `PDR ${p.pdrId} refers to QER ${q}`, { kind: 'pdr', id: p.pdrId });
    for (const u of p.urrIds ?? []) if (!urrs.has(u)) throw new UpfSessionError('ERR_UPF_RULE', `PDR ${p.pdrId} refers to URR ${u}`, { kind: 'pdr', id: p.pdrId });
  }
  for (const f of rules.fars) {
    if (f.barId !== undefined && rules.bar?.barId !== f.barId) throw new UpfSessionError('ERR_UPF_RULE', `FAR ${f.farId} refers to BAR ${f.barId}`, { kind: 'far', id: f.farId });
  }
}
