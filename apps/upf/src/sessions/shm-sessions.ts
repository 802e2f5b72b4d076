// UpfSessions over the shared-memory tables of fastlane-upf-rules: the one writer of the rules,
// publishing each change of a session all at once (the protocol is in the crate's docs,
// apps/upf/rules/src/lib.rs): the session's next generation is written under new keys, the
// index gets that generation's chain heads beside the current ones, one release store of the
// generation in the session's cell publishes it, and the last generation is removed. Everything
// is checked (rules, references, capacities, keys of other sessions) before the first write.
//
// A restarted writer (a new process) rebuilds everything from the region: the published
// generation of each session names its records; whatever a writer killed mid-change left of
// another generation is removed. Records hold every field `get` returns, which gives the rules
// in normal form: ordered by id, addresses in canonical text, host prefixes as bare addresses,
// false flags, empty lists and empty objects left out.

import type { SharedCells, SharedChannel, SharedRegion, SharedTable } from 'fastlane-dataplane';
import { endianness } from 'node:os';

import { CONSTANTS as C } from '../generated/layout';
import {
  compileSession,
  noResources,
  ruleError,
  type CompiledSession,
  type MatchKeyValue,
  type OuterBytes,
  type RuleKind,
} from './compile';
import {
  endMarkerRecord,
  farRecord,
  matchKey,
  matchRecord,
  pdrRecord,
  qerRecord,
  readEventRecord,
  readFarRecord,
  readMatchRecord,
  readPdrRecord,
  readQerRecord,
  readRuleKey,
  readSessionRecord,
  readUrrRecord,
  ruleKey,
  sessionRecord,
  urrRecord,
  type UrrLimits,
} from './records';
import { capacities as checkCapacities, createUpfRegion, openUpfRegion, type UpfCapacities } from './region';
import {
  UpfSessionError,
  type CreateFar,
  type CreatePdr,
  type CreateQer,
  type CreateUrr,
  type SessionModification,
  type SessionRules,
  type UpfEvent,
  type UpfSessions,
  type Usage,
} from './types';

const LIVE = C.SESSION_LIVE;
const NONE = C.NONE;
const GEN_MASK = 0xffff_ffffn;
const ZERO_QER = new BigUint64Array(C.QER_STATE_WORDS);
const ZERO_URR = new BigUint64Array(C.URR_STATE_WORDS);

interface Live {
  seid: bigint;
  slot: number;
  generation: number;
  bar: CompiledSession['bar'];
  /** The records of the published generation, by rule id (what `get` decodes). */
  pdrs: Map<number, Buffer>;
  fars: Map<number, Buffer>;
  qers: Map<number, { record: Buffer; cell: number }>;
  urrs: Map<number, { record: Buffer; limits: UrrLimits }>;
  /** The first PDR of each key's chain in this generation. */
  heads: Map<string, { key: MatchKeyValue; first: number }>;
}

type Counts = { pdrs: number; fars: number; qers: number; urrs: number };

function countsOf(s: { pdrs: { size: number } | unknown[]; fars: unknown; qers: unknown; urrs: unknown }): Counts {
  const n = (v: unknown): number => (v instanceof Map ? v.size : Array.isArray(v) ? v.length : 0);
  return { pdrs: n(s.pdrs), fars: n(s.fars), qers: n(s.qers), urrs: n(s.urrs) };
}

/** Each key's PDRs in precedence order (ties by id): the chain heads and every PDR's next. */
function chains(compiled: CompiledSession): { heads: Map<string, number>; next: Map<number, [number, number]> } {
  const heads = new Map<string, number>();
  const next = new Map<number, [number, number]>(compiled.pdrs.map((p) => [p.rule.pdrId, [NONE, NONE]]));
  for (const key of compiled.keys.values()) {
    const members = compiled.pdrs
      .filter((p) => p.keys.some((k) => k.id === key.id))
      .sort((a, b) => a.rule.precedence - b.rule.precedence || a.rule.pdrId - b.rule.pdrId);
    const chain = key.kind === C.MATCH_UE_IPV6 ? 1 : 0;
    for (let i = 0; i + 1 < members.length; i++) {
      next.get(members[i]!.rule.pdrId)![chain] = members[i + 1]!.rule.pdrId;
    }
    heads.set(key.id, members[0]?.rule.pdrId ?? NONE);
  }
  return { heads, next };
}

function defined<T extends object>(base: T, update: Partial<T>): T {
  const out = { ...base };
  for (const [k, v] of Object.entries(update)) {
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}

function sameVolumes(a: CreateUrr['volumeThreshold'], b: CreateUrr['volumeThreshold']): boolean {
  return a?.total === b?.total && a?.uplink === b?.uplink && a?.downlink === b?.downlink;
}

function outerEqual(a: OuterBytes | undefined, b: OuterBytes | undefined): boolean {
  const hex = (u: Uint8Array | undefined): string => (u === undefined ? '' : Buffer.from(u).toString('hex'));
  return (
    a?.flags === b?.flags && a?.teid === b?.teid && a?.port === b?.port && hex(a?.ipv4) === hex(b?.ipv4) && hex(a?.ipv6) === hex(b?.ipv6)
  );
}

export interface ShmUpfSessionsOptions {
  /** Attach to an existing region of the same layout rather than failing (create only). */
  reuse?: boolean;
}

export class ShmUpfSessions implements UpfSessions {
  readonly region: SharedRegion;
  readonly capacities: UpfCapacities;
  readonly #sessions: SharedTable;
  readonly #index: SharedTable;
  readonly #pdrs: SharedTable;
  readonly #fars: SharedTable;
  readonly #qers: SharedTable;
  readonly #urrs: SharedTable;
  readonly #sessionState: SharedCells;
  readonly #qerState: SharedCells;
  readonly #urrState: SharedCells;
  readonly #events: SharedChannel[];
  readonly #endMarkers: SharedChannel;
  readonly #live = new Map<bigint, Live>();
  readonly #owners = new Map<string, bigint>();
  #freeSlots: number[] = [];
  #freeQerCells: number[] = [];
  #freeUrrCells: number[] = [];
  #counts: Counts = { pdrs: 0, fars: 0, qers: 0, urrs: 0 };
  #nextChannel = 0;
  readonly #ownsRegion: boolean;

  /** Creates region `name` for `capacities` (or with `reuse` attaches to it) and writes its rules. */
  static create(name: string, capacities: Partial<UpfCapacities> = {}, options: ShmUpfSessionsOptions = {}): ShmUpfSessions {
    const caps = checkCapacities(capacities);
    return new ShmUpfSessions(createUpfRegion(name, caps, options.reuse ?? false), caps, true);
  }

  /** Attaches to region `name` (made for the same capacities) and takes over its sessions. */
  static open(name: string, capacities: Partial<UpfCapacities> = {}): ShmUpfSessions {
    const caps = checkCapacities(capacities);
    return new ShmUpfSessions(openUpfRegion(name, caps), caps, true);
  }

  /** Over a region the caller opened with `upfLayout(capacities)`; closing leaves it open. */
  constructor(region: SharedRegion, capacities: UpfCapacities, ownsRegion = false) {
    if (endianness() !== 'LE') {
      throw new Error('the UPF rules are written little-endian, as the fast path reads them on this machine; this one is big-endian');
    }
    this.region = region;
    this.capacities = capacities;
    this.#ownsRegion = ownsRegion;
    this.#sessions = region.table('sessions');
    this.#index = region.table('pdr_index');
    this.#pdrs = region.table('pdrs');
    this.#fars = region.table('fars');
    this.#qers = region.table('qers');
    this.#urrs = region.table('urrs');
    this.#sessionState = region.cells('session_state');
    this.#qerState = region.cells('qer_state');
    this.#urrState = region.cells('urr_state');
    this.#events = Array.from({ length: capacities.event_channels }, (_, n) => region.channel(`events.${n}`));
    this.#endMarkers = region.channel('end_markers');
    this.#restore();
  }

  #committed(slot: number): bigint {
    return this.#sessionState.load(slot)[C.SESSION_COMMITTED]!;
  }

  /** Takes every published session from the region and removes what belongs to no published generation. */
  #restore(): void {
    type Found = { header: ReturnType<typeof readSessionRecord>; pdrs: Buffer[]; fars: Buffer[]; qers: Buffer[]; urrs: Buffer[] };
    const found = new Map<string, Found>();
    const stale: [SharedTable, Buffer][] = [];
    for (const [key, value] of this.#sessions.entries()) {
      const k = readRuleKey(key);
      if (k.slot < this.capacities.sessions && this.#committed(k.slot) === (LIVE | BigInt(k.generation))) {
        found.set(`${k.slot}:${k.generation}`, { header: readSessionRecord(value), pdrs: [], fars: [], qers: [], urrs: [] });
      } else {
        stale.push([this.#sessions, key]);
      }
    }
    for (const [table, field] of [
      [this.#pdrs, 'pdrs'],
      [this.#fars, 'fars'],
      [this.#qers, 'qers'],
      [this.#urrs, 'urrs'],
    ] as const) {
      for (const [key, value] of table.entries()) {
        const k = readRuleKey(key);
        const session = found.get(`${k.slot}:${k.generation}`);
        if (session === undefined) {
          stale.push([table, key]);
        } else {
          session[field].push(value);
        }
      }
    }
    for (const [table, key] of stale) {
      table.delete(key);
    }
    const usedQer = new Set<number>();
    const usedUrr = new Set<number>();
    for (const { header, pdrs, fars, qers, urrs } of found.values()) {
      const counts = [pdrs.length, fars.length, qers.length, urrs.length];
      if (counts.some((n, i) => n !== header.counts[i])) {
        throw new Error(
          `session ${header.seid}: the region holds ${counts.join('/')} PDRs/FARs/QERs/URRs, its session record says ${header.counts.join('/')}`,
        );
      }
      const byId = <T>(list: T[], id: (t: T) => number): Map<number, T> =>
        new Map(list.map((t) => [id(t), t] as [number, T]).sort((a, b) => a[0] - b[0]));
      const live: Live = {
        seid: header.seid,
        slot: header.slot,
        generation: header.generation,
        bar: header.bar,
        pdrs: byId(pdrs, (b) => readPdrRecord(b).pdrId),
        fars: byId(fars, (b) => readFarRecord(b).farId),
        qers: new Map(
          [...byId(qers, (b) => readQerRecord(b).qer.qerId)].map(([id, record]) => [id, { record, cell: readQerRecord(record).cell }]),
        ),
        urrs: new Map(
          [...byId(urrs, (b) => readUrrRecord(b).urr.urrId)].map(([id, record]) => [id, { record, limits: readUrrRecord(record).limits }]),
        ),
        heads: new Map(),
      };
      const compiled = compileSession(this.#decode(live));
      const { heads } = chains(compiled);
      for (const [id, first] of heads) {
        live.heads.set(id, { key: compiled.keys.get(id)!, first });
        this.#owners.set(id, live.seid);
      }
      for (const q of live.qers.values()) usedQer.add(q.cell);
      for (const u of live.urrs.values()) usedUrr.add(u.limits.cell);
      this.#add(countsOf(live), 1);
      this.#live.set(live.seid, live);
    }
    for (const [key, value] of this.#index.entries()) {
      const owner = this.#owners.get(this.#keyId(key));
      if (owner === undefined || owner !== readMatchRecord(value).seid) {
        this.#index.delete(key);
      }
    }
    const usedSlots = new Set([...this.#live.values()].map((l) => l.slot));
    const free = (n: number, used: Set<number>): number[] => {
      const out: number[] = [];
      for (let i = n - 1; i >= 0; i--) if (!used.has(i)) out.push(i);
      return out;
    };
    this.#freeSlots = free(this.capacities.sessions, usedSlots);
    this.#freeQerCells = free(this.#qerState.capacity, usedQer);
    this.#freeUrrCells = free(this.#urrState.capacity, usedUrr);
  }

  /** The id (as `MatchKeyValue.id`) of a MatchKey record. */
  #keyId(key: Buffer): string {
    const kind = key.readUInt8(0);
    if (kind === C.MATCH_TEID) return `t${key.readUInt32LE(4).toString(16)}`;
    if (kind === C.MATCH_UE_IPV4) return `4${key.toString('hex', 8, 12)}`;
    return `6${key.toString('hex', 8, 16)}`;
  }

  #add(c: Counts, sign: 1 | -1): void {
    this.#counts.pdrs += sign * c.pdrs;
    this.#counts.fars += sign * c.fars;
    this.#counts.qers += sign * c.qers;
    this.#counts.urrs += sign * c.urrs;
  }

  #decode(live: Live): SessionRules {
    const rules: SessionRules = {
      pdrs: [...live.pdrs.values()].map(readPdrRecord),
      fars: [...live.fars.values()].map(readFarRecord),
    };
    if (live.qers.size > 0) rules.qers = [...live.qers.values()].map((q) => readQerRecord(q.record).qer);
    if (live.urrs.size > 0) rules.urrs = [...live.urrs.values()].map((u) => readUrrRecord(u.record).urr);
    if (live.bar !== undefined) {
      rules.bar = live.bar.suggested === undefined ? { barId: live.bar.barId } : { barId: live.bar.barId, suggestedBufferingPackets: live.bar.suggested };
    }
    return rules;
  }

  get size(): number {
    return this.#live.size;
  }

  get(seid: bigint): SessionRules | undefined {
    const live = this.#live.get(seid);
    return live === undefined ? undefined : this.#decode(live);
  }

  /** Every session, in order of SEID. */
  *entries(): IterableIterator<[bigint, SessionRules]> {
    const all = [...this.#live].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const [seid, live] of all) {
      yield [seid, this.#decode(live)];
    }
  }

  create(seid: bigint, rules: SessionRules): void {
    if (typeof seid !== 'bigint' || seid < 0n || seid >= 1n << 64n) {
      throw new RangeError(`seid ${String(seid)} is not a bigint from 0 to 2^64 - 1`);
    }
    if (this.#live.has(seid)) {
      throw new UpfSessionError('ERR_UPF_SESSION_EXISTS', `session ${seid} exists`);
    }
    this.#publish(seid, undefined, compileSession(rules), []);
  }

  modify(seid: bigint, change: SessionModification): void {
    const live = this.#live.get(seid);
    if (live === undefined) {
      throw new UpfSessionError('ERR_UPF_SESSION_NOT_FOUND', `no session ${seid}`);
    }
    const { rules, endMarkers } = this.#apply(this.#decode(live), change);
    const compiled = compileSession(rules);
    const markers: { farId: number; path: OuterBytes }[] = [];
    for (const farId of endMarkers) {
      const before = compileSession({ pdrs: [], fars: [readFarRecord(live.fars.get(farId)!)] }).fars[0]!;
      const after = compiled.fars.find((f) => f.rule.farId === farId);
      if (before.outer !== undefined && !outerEqual(before.outer, after?.outer)) {
        markers.push({ farId, path: before.outer });
      }
    }
    this.#publish(seid, live, compiled, markers);
  }

  /** The session after `change`: removals, then creations, then updates, each checked. */
  #apply(current: SessionRules, change: SessionModification): { rules: SessionRules; endMarkers: number[] } {
    const endMarkers: number[] = [];
    const apply = <T, U extends object>(
      kind: RuleKind,
      list: T[],
      id: (t: T) => number,
      removes: number[] | undefined,
      creates: T[] | undefined,
      updates: U[] | undefined,
      updateId: (u: U) => number,
      merge: (old: T, update: U) => T,
    ): T[] => {
      const byId = new Map(list.map((t) => [id(t), t]));
      for (const r of removes ?? []) {
        if (!byId.delete(r)) throw ruleError(kind, r, 'cannot be removed: it does not exist');
      }
      for (const c of creates ?? []) {
        if (byId.has(id(c))) throw ruleError(kind, id(c), 'cannot be created: it exists');
        byId.set(id(c), c);
      }
      for (const u of updates ?? []) {
        const old = byId.get(updateId(u));
        if (old === undefined) throw ruleError(kind, updateId(u), 'cannot be updated: it does not exist');
        byId.set(updateId(u), merge(old, u));
      }
      return [...byId.values()];
    };
    const pdrs = apply<CreatePdr, NonNullable<SessionModification['updatePdrs']>[number]>(
      'pdr', current.pdrs, (p) => p.pdrId, change.removePdrs, change.createPdrs, change.updatePdrs, (u) => u.pdrId,
      (old, u) => defined(old, u as Partial<CreatePdr>),
    );
    const fars = apply<CreateFar, NonNullable<SessionModification['updateFars']>[number]>(
      'far', current.fars, (f) => f.farId, change.removeFars, change.createFars, change.updateFars, (u) => u.farId,
      (old, u) => {
        const far: CreateFar = { ...old };
        if (u.applyAction !== undefined) far.applyAction = u.applyAction;
        if (u.barId !== undefined) far.barId = u.barId;
        if (u.updateForwardingParameters !== undefined) {
          const { sendEndMarker, ...fp } = u.updateForwardingParameters;
          const merged = defined(old.forwardingParameters ?? ({} as NonNullable<CreateFar['forwardingParameters']>), fp);
          if (merged.destinationInterface === undefined) {
            throw ruleError('far', u.farId, 'updateForwardingParameters needs destinationInterface: the FAR had no forwarding parameters');
          }
          far.forwardingParameters = merged;
          if (sendEndMarker === true) endMarkers.push(u.farId);
        }
        return far;
      },
    );
    const qers = apply<CreateQer, NonNullable<SessionModification['updateQers']>[number]>(
      'qer', current.qers ?? [], (q) => q.qerId, change.removeQers, change.createQers, change.updateQers, (u) => u.qerId,
      (old, u) => defined(old, u as Partial<CreateQer>),
    );
    const urrs = apply<CreateUrr, NonNullable<SessionModification['updateUrrs']>[number]>(
      'urr', current.urrs ?? [], (q) => q.urrId, change.removeUrrs, change.createUrrs, change.updateUrrs, (u) => u.urrId,
      (old, u) => defined(old, u as Partial<CreateUrr>),
    );
    const rules: SessionRules = { pdrs, fars, qers, urrs };
    if (current.bar !== undefined) rules.bar = current.bar;
    return { rules, endMarkers };
  }

  /** Checks capacities and keys, then writes the next generation, flips, and cleans up. */
  #publish(seid: bigint, old: Live | undefined, compiled: CompiledSession, endMarkers: { farId: number; path: OuterBytes }[]): void {
    const caps = this.capacities;
    const oldCounts = old === undefined ? { pdrs: 0, fars: 0, qers: 0, urrs: 0 } : countsOf(old);
    const newCounts = countsOf(compiled);
    for (const [what, table] of [
      ['pdrs', 'PDR'],
      ['fars', 'FAR'],
      ['qers', 'QER'],
      ['urrs', 'URR'],
    ] as const) {
      if (this.#counts[what] - oldCounts[what] + newCounts[what] > caps[what]) {
        throw noResources(`the ${table} table is full (${caps[what]} ${table}s)`);
      }
    }
    if (old === undefined && this.#freeSlots.length === 0) {
      throw noResources(`the session table is full (${caps.sessions} sessions)`);
    }
    let newKeys = 0;
    for (const [id] of compiled.keys) {
      const owner = this.#owners.get(id);
      if (owner !== undefined && owner !== seid) {
        const pdr = compiled.pdrs.find((p) => p.keys.some((k) => k.id === id))!;
        throw ruleError('pdr', pdr.rule.pdrId, `its ${pdr.localFteid !== undefined ? 'F-TEID' : 'UE address'} belongs to session ${owner}`);
      }
      if (owner === undefined) newKeys++;
    }
    if (this.#owners.size + newKeys > caps.pdrs * 2) {
      throw noResources('the PDR index is full');
    }
    const newQers = compiled.qers.filter((q) => old?.qers.get(q.rule.qerId) === undefined);
    const newUrrs = compiled.urrs.filter((u) => old?.urrs.get(u.rule.urrId) === undefined);
    if (newQers.length > this.#freeQerCells.length) throw noResources('no QER state left');
    if (newUrrs.length > this.#freeUrrCells.length) throw noResources('no URR state left');

    // Everything is known to fit: from here on only writes.
    const slot = old?.slot ?? this.#freeSlots[this.#freeSlots.length - 1]!;
    const previous = old?.generation ?? Number(this.#committed(slot) & GEN_MASK);
    const generation = (previous + 1) >>> 0 || 1;
    const qerCells = this.#freeQerCells.slice(this.#freeQerCells.length - newQers.length);
    const urrCells = this.#freeUrrCells.slice(this.#freeUrrCells.length - newUrrs.length);
    const qers = new Map<number, { record: Buffer; cell: number }>();
    const urrs = new Map<number, { record: Buffer; limits: UrrLimits }>();
    const written: [SharedTable, Buffer][] = [];
    const write = (table: SharedTable, key: Buffer, value: Buffer): void => {
      table.set(key, value);
      written.push([table, key]);
    };
    try {
      for (const q of compiled.qers) {
        let cell = old?.qers.get(q.rule.qerId)?.cell;
        if (cell === undefined) {
          cell = qerCells.pop()!;
          this.#qerState.store(cell, ZERO_QER);
        }
        qers.set(q.rule.qerId, { record: qerRecord(q, cell), cell });
      }
      for (const u of compiled.urrs) {
        const kept = old?.urrs.get(u.rule.urrId)?.limits;
        let cell = kept?.cell;
        if (cell === undefined) {
          cell = urrCells.pop()!;
          this.#urrState.store(cell, ZERO_URR);
        }
        // A changed limit counts from the volume measured now, in a new epoch (its event comes
        // once more); an unchanged one stays as it was.
        const before = kept === undefined ? undefined : readUrrRecord(old!.urrs.get(u.rule.urrId)!.record).urr;
        const words = kept === undefined ? ZERO_URR : this.#urrState.load(cell);
        const up = words[C.URR_UPLINK_BYTES]!;
        const down = words[C.URR_DOWNLINK_BYTES]!;
        const measured = [up + down, up, down];
        const max = (1n << 64n) - 1n;
        const at = (limit: [bigint, bigint, bigint]): [bigint, bigint, bigint] =>
          limit.map((v, i) => (measured[i]! + v > max ? max : measured[i]! + v)) as [bigint, bigint, bigint];
        const sameThreshold = before !== undefined && sameVolumes(before.volumeThreshold, u.rule.volumeThreshold);
        const sameQuota = before !== undefined && sameVolumes(before.volumeQuota, u.rule.volumeQuota);
        const limits: UrrLimits = {
          urrId: u.rule.urrId,
          cell,
          flags: u.limitFlags,
          thresholdEpoch: sameThreshold ? kept!.thresholdEpoch : generation,
          quotaEpoch: sameQuota ? kept!.quotaEpoch : generation,
          thresholdAt: sameThreshold ? kept!.thresholdAt : at(u.threshold),
          quotaAt: sameQuota ? kept!.quotaAt : at(u.quota),
        };
        urrs.set(u.rule.urrId, { record: urrRecord(u, limits), limits });
      }
      const { heads, next } = chains(compiled);
      const farsById = new Map(compiled.fars.map((f) => [f.rule.farId, f]));
      const qersById = new Map(compiled.qers.map((q) => [q.rule.qerId, q]));
      const key = (id: number): Buffer => ruleKey(slot, generation, id);
      write(this.#sessions, key(0), sessionRecord({
        seid,
        slot,
        generation,
        counts: [newCounts.pdrs, newCounts.fars, newCounts.qers, newCounts.urrs],
        bar: compiled.bar,
      }));
      const pdrs = new Map<number, Buffer>();
      for (const p of [...compiled.pdrs].sort((a, b) => a.rule.pdrId - b.rule.pdrId)) {
        const record = pdrRecord(p, {
          seid,
          far: farsById.get(p.rule.farId)!,
          qers: (p.rule.qerIds ?? []).map((id) => ({ qer: qersById.get(id)!, cell: qers.get(id)!.cell })),
          urrs: (p.rule.urrIds ?? []).map((id) => urrs.get(id)!.limits),
          next: next.get(p.rule.pdrId)!,
        });
        write(this.#pdrs, key(p.rule.pdrId), record);
        pdrs.set(p.rule.pdrId, record);
      }
      const fars = new Map<number, Buffer>();
      for (const f of [...compiled.fars].sort((a, b) => a.rule.farId - b.rule.farId)) {
        const record = farRecord(f);
        write(this.#fars, key(f.rule.farId), record);
        fars.set(f.rule.farId, record);
      }
      const sortedQers = new Map([...qers].sort((a, b) => a[0] - b[0]));
      for (const [id, q] of sortedQers) write(this.#qers, key(id), q.record);
      const sortedUrrs = new Map([...urrs].sort((a, b) => a[0] - b[0]));
      for (const [id, u] of sortedUrrs) write(this.#urrs, key(id), u.record);

      // The index: this generation's heads in its half, the published generation's in the other.
      const half = generation & 1;
      const liveHeads = new Map<string, { key: MatchKeyValue; first: number }>();
      const allKeys = new Map<string, MatchKeyValue>(compiled.keys);
      for (const [id, h] of old?.heads ?? []) if (!allKeys.has(id)) allKeys.set(id, h.key);
      for (const [id, k] of allKeys) {
        const first = heads.get(id) ?? NONE;
        const current = old?.heads.get(id);
        const pair: [{ generation: number; first: number }, { generation: number; first: number }] = [
          { generation: 0, first: NONE },
          { generation: 0, first: NONE },
        ];
        pair[half] = { generation, first };
        if (current !== undefined) pair[1 - half] = { generation: old!.generation, first: current.first };
        this.#index.set(matchKey(k), matchRecord(seid, slot, pair));
        if (heads.has(id)) liveHeads.set(id, { key: k, first });
      }

      // The flip: one release store publishes the whole change.
      this.#sessionState.storeWord(slot, C.SESSION_COMMITTED, LIVE | BigInt(generation));

      // Bookkeeping, then what no generation uses any more.
      if (old === undefined) {
        this.#freeSlots.pop();
      }
      this.#freeQerCells.length -= newQers.length;
      this.#freeUrrCells.length -= newUrrs.length;
      this.#add(oldCounts, -1);
      this.#add(newCounts, 1);
      for (const id of compiled.keys.keys()) this.#owners.set(id, seid);
      this.#live.set(seid, {
        seid,
        slot,
        generation,
        bar: compiled.bar,
        pdrs,
        fars,
        qers: sortedQers,
        urrs: sortedUrrs,
        heads: liveHeads,
      });
      written.length = 0;
      if (old !== undefined) {
        this.#removeGeneration(old);
        for (const [id, h] of old.heads) {
          if (!compiled.keys.has(id)) {
            this.#index.delete(matchKey(h.key));
            this.#owners.delete(id);
          }
        }
        for (const [id, q] of old.qers) if (!qers.has(id)) this.#freeQerCells.push(q.cell);
        for (const [id, u] of old.urrs) if (!urrs.has(id)) this.#freeUrrCells.push(u.limits.cell);
      }
      for (const m of endMarkers) {
        this.#endMarkers.send(endMarkerRecord(seid, m.farId, m.path));
      }
    } catch (e) {
      // A write failed before the flip: the published generation is untouched; take back what
      // was written of the next one.
      for (const [table, key] of written) {
        try {
          table.delete(key);
        } catch {
          // The next writer's restore removes it.
        }
      }
      throw e;
    }
  }

  #removeGeneration(live: Live): void {
    const key = (id: number): Buffer => ruleKey(live.slot, live.generation, id);
    this.#sessions.delete(key(0));
    for (const id of live.pdrs.keys()) this.#pdrs.delete(key(id));
    for (const id of live.fars.keys()) this.#fars.delete(key(id));
    for (const id of live.qers.keys()) this.#qers.delete(key(id));
    for (const id of live.urrs.keys()) this.#urrs.delete(key(id));
  }

  delete(seid: bigint): Usage[] {
    const live = this.#live.get(seid);
    if (live === undefined) {
      throw new UpfSessionError('ERR_UPF_SESSION_NOT_FOUND', `no session ${seid}`);
    }
    // Gone for every packet at once; then its records.
    this.#sessionState.storeWord(live.slot, C.SESSION_COMMITTED, BigInt(live.generation));
    const usage = this.#usage(live);
    this.#live.delete(seid);
    this.#removeGeneration(live);
    for (const [id, h] of live.heads) {
      this.#index.delete(matchKey(h.key));
      this.#owners.delete(id);
    }
    for (const q of live.qers.values()) this.#freeQerCells.push(q.cell);
    for (const u of live.urrs.values()) this.#freeUrrCells.push(u.limits.cell);
    this.#freeSlots.push(live.slot);
    this.#add(countsOf(live), -1);
    return usage;
  }

  usage(seid: bigint): Usage[] {
    const live = this.#live.get(seid);
    if (live === undefined) {
      throw new UpfSessionError('ERR_UPF_SESSION_NOT_FOUND', `no session ${seid}`);
    }
    return this.#usage(live);
  }

  #usage(live: Live): Usage[] {
    return [...live.urrs.values()].map(({ limits }) => {
      const w = this.#urrState.load(limits.cell);
      const up = w[C.URR_UPLINK_BYTES]!;
      const down = w[C.URR_DOWNLINK_BYTES]!;
      const volumes = [up + down, up, down];
      const quotaBits = [C.LIMIT_QUOTA_TOTAL, C.LIMIT_QUOTA_UPLINK, C.LIMIT_QUOTA_DOWNLINK];
      return {
        urrId: limits.urrId,
        uplink: { packets: w[C.URR_UPLINK_PACKETS]!, bytes: up },
        downlink: { packets: w[C.URR_DOWNLINK_PACKETS]!, bytes: down },
        quotaExhausted: quotaBits.some((bit, i) => (limits.flags & bit) !== 0 && volumes[i]! >= limits.quotaAt[i]!),
      };
    });
  }

  events(max = 64): UpfEvent[] {
    const out: UpfEvent[] = [];
    const n = this.#events.length;
    for (let tried = 0; tried < n && out.length < max; tried++) {
      const channel = this.#events[(this.#nextChannel + tried) % n]!;
      for (const message of channel.receive(max - out.length)) {
        const e = readEventRecord(message);
        switch (e.kind) {
          case C.EVENT_DOWNLINK_DATA:
            out.push((e.flags & C.EVENT_HAS_QFI) !== 0 ? { type: 'downlink-data', seid: e.seid, pdrId: e.id, qfi: e.qfi } : { type: 'downlink-data', seid: e.seid, pdrId: e.id });
            break;
          case C.EVENT_VOLUME_THRESHOLD:
            out.push({ type: 'volume-threshold', seid: e.seid, urrId: e.id });
            break;
          case C.EVENT_VOLUME_QUOTA:
            out.push({ type: 'volume-quota', seid: e.seid, urrId: e.id });
            break;
          case C.EVENT_ERROR_INDICATION: {
            const { port: _port, ...remote } = e.remote;
            out.push({ type: 'error-indication', remote });
            break;
          }
          default:
            // An event of a newer fast path: skipped.
            break;
        }
      }
    }
    this.#nextChannel = (this.#nextChannel + 1) % Math.max(n, 1);
    return out;
  }

  /** Gives up the writer locks and channel ends; closes the region when it opened it. */
  close(): void {
    for (const t of [this.#sessions, this.#index, this.#pdrs, this.#fars, this.#qers, this.#urrs]) t.close();
    for (const c of [...this.#events, this.#endMarkers]) c.close();
    for (const c of [this.#sessionState, this.#qerState, this.#urrState]) c.close();
    if (this.#ownsRegion) {
      this.region.close();
    }
  }
}
