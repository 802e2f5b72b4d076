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

import { CONSTANTS } from '../generated/layout';

// A plain copy: the generated module's exports may be getters (as a transpiler makes them).
const C = { ...CONSTANTS };
import {
  compileSession,
  noResources,
  QUOTA_BITS,
  ruleError,
  teidKey,
  ueIpv4Key,
  ueIpv6Key,
  type CompiledSession,
  type CompiledUrr,
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
  type ChainHead,
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
const U64_MAX = (1n << 64n) - 1n;
const ZERO_QER = new BigUint64Array(C.QER_STATE_WORDS);
const ZERO_URR = new BigUint64Array(C.URR_STATE_WORDS);

interface Live {
  seid: bigint;
  slot: number;
  generation: number;
  /** The ids of the published generation's rules, ascending (their records are in the region). */
  pdrs: number[];
  fars: number[];
  qers: Map<number, number>;
  urrs: Map<number, UrrLimits>;
  /** The first PDR of each key's chain in this generation. */
  heads: Map<string, { key: MatchKeyValue; first: number }>;
}

type Counts = { pdrs: number; fars: number; qers: number; urrs: number };

function countsOfLive(l: Live): Counts {
  return { pdrs: l.pdrs.length, fars: l.fars.length, qers: l.qers.size, urrs: l.urrs.size };
}

/** Each key's PDRs in precedence order (ties by id): the chain heads and every PDR's next. */
function chains(compiled: CompiledSession): { heads: Map<string, number>; next: Map<number, [number, number]> } {
  const heads = new Map<string, number>();
  const next = new Map<number, [number, number]>();
  for (const p of compiled.pdrs) next.set(p.rule.pdrId, [NONE, NONE]);
  for (const key of compiled.keys.values()) {
    const members = compiled.pdrs.filter((p) => p.keys.some((k) => k.id === key.id));
    if (members.length > 1) {
      members.sort((a, b) => a.rule.precedence - b.rule.precedence || a.rule.pdrId - b.rule.pdrId);
    }
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

/**
 * Free cells of a cell array: those never used since the region was made (known zero) first,
 * then those given back, oldest first (zeroed when taken again: the longest grace for a
 * fast-path thread still counting into a cell of a session just deleted).
 */
class CellPool {
  readonly #fresh: number[];
  #freed: number[] = [];
  #head = 0;

  constructor(fresh: number[], freed: number[]) {
    this.#fresh = fresh;
    this.#freed = freed;
  }

  get size(): number {
    return this.#fresh.length + this.#freed.length - this.#head;
  }

  /** A cell, and whether it must be zeroed before use. */
  take(): [number, boolean] {
    const fresh = this.#fresh.pop();
    if (fresh !== undefined) return [fresh, false];
    const cell = this.#freed[this.#head++]!;
    if (this.#head > 1024 && this.#head * 2 > this.#freed.length) {
      this.#freed = this.#freed.slice(this.#head);
      this.#head = 0;
    }
    return [cell, true];
  }

  give(cell: number): void {
    this.#freed.push(cell);
  }
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
  /** The generation each slot's cell holds (published or, when free, last used). */
  readonly #generations: Uint32Array;
  #freeSlots: number[] = [];
  #qerCells!: CellPool;
  #urrCells!: CellPool;
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

  /**
   * Over a region the caller opened with `upfLayout(capacities)`; closing leaves it open when
   * `ownsRegion` is false. Takes every table's writer lock on its first write: a second writer
   * (in any process) is refused with ERR_FASTLANE_SHM_LOCKED.
   */
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
    this.#generations = new Uint32Array(capacities.sessions);
    this.#restore();
  }

  /** Takes every published session from the region and removes what belongs to no published generation. */
  #restore(): void {
    const fresh = this.region.created;
    const committed = new Map<number, bigint>();
    if (!fresh) {
      for (let slot = 0; slot < this.capacities.sessions; slot++) {
        const word = this.#sessionState.load(slot)[C.SESSION_COMMITTED]!;
        this.#generations[slot] = Number(word & GEN_MASK);
        if ((word & LIVE) !== 0n) committed.set(slot, word);
      }
    }
    type Found = { header: ReturnType<typeof readSessionRecord>; pdrs: Buffer[]; fars: Buffer[]; qers: Buffer[]; urrs: Buffer[] };
    const found = new Map<string, Found>();
    const stale: [SharedTable, Buffer][] = [];
    for (const [key, value] of this.#sessions.entries()) {
      const k = readRuleKey(key);
      if (committed.get(k.slot) === (LIVE | BigInt(k.generation))) {
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
      const qerRecords = qers.map(readQerRecord).sort((a, b) => a.qer.qerId - b.qer.qerId);
      const urrRecords = urrs.map(readUrrRecord).sort((a, b) => a.urr.urrId - b.urr.urrId);
      const rules: SessionRules = {
        pdrs: pdrs.map(readPdrRecord).sort((a, b) => a.pdrId - b.pdrId),
        fars: fars.map(readFarRecord).sort((a, b) => a.farId - b.farId),
        qers: qerRecords.map((q) => q.qer),
        urrs: urrRecords.map((u) => u.urr),
      };
      const live: Live = {
        seid: header.seid,
        slot: header.slot,
        generation: header.generation,
        pdrs: rules.pdrs.map((p) => p.pdrId),
        fars: rules.fars.map((f) => f.farId),
        qers: new Map(qerRecords.map((q) => [q.qer.qerId, q.cell])),
        urrs: new Map(urrRecords.map((u) => [u.urr.urrId, u.limits])),
        heads: new Map(),
      };
      const compiled = compileSession(rules);
      for (const [id, first] of chains(compiled).heads) {
        live.heads.set(id, { key: compiled.keys.get(id)!, first });
        this.#owners.set(id, live.seid);
      }
      for (const cell of live.qers.values()) usedQer.add(cell);
      for (const u of live.urrs.values()) usedUrr.add(u.cell);
      this.#add(countsOfLive(live), 1);
      this.#live.set(live.seid, live);
    }
    for (const [key, value] of this.#index.entries()) {
      const owner = this.#owners.get(keyIdOf(key));
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
    // In a region made here every cell is still zero; in one taken over, free cells may hold
    // what a deleted session left.
    const qerFree = free(this.#qerState.capacity, usedQer);
    const urrFree = free(this.#urrState.capacity, usedUrr);
    this.#qerCells = fresh ? new CellPool(qerFree, []) : new CellPool([], qerFree.reverse());
    this.#urrCells = fresh ? new CellPool(urrFree, []) : new CellPool([], urrFree.reverse());
  }

  #add(c: Counts, sign: 1 | -1): void {
    this.#counts.pdrs += sign * c.pdrs;
    this.#counts.fars += sign * c.fars;
    this.#counts.qers += sign * c.qers;
    this.#counts.urrs += sign * c.urrs;
  }

  /** A record of the published generation of `live`, read back from the region. */
  #record(table: SharedTable, live: Live, id: number): Buffer {
    const value = table.get(ruleKey(live.slot, live.generation, id));
    if (value === undefined) {
      throw new Error(`session ${live.seid}: rule ${id} of generation ${live.generation} is missing from the region`);
    }
    return value;
  }

  #decode(live: Live): SessionRules {
    const rules: SessionRules = {
      pdrs: live.pdrs.map((id) => readPdrRecord(this.#record(this.#pdrs, live, id))),
      fars: live.fars.map((id) => readFarRecord(this.#record(this.#fars, live, id))),
    };
    if (live.qers.size > 0) rules.qers = [...live.qers.keys()].map((id) => readQerRecord(this.#record(this.#qers, live, id)).qer);
    if (live.urrs.size > 0) rules.urrs = [...live.urrs.keys()].map((id) => readUrrRecord(this.#record(this.#urrs, live, id)).urr);
    const bar = readSessionRecord(this.#record(this.#sessions, live, 0)).bar;
    if (bar !== undefined) {
      rules.bar = bar.suggested === undefined ? { barId: bar.barId } : { barId: bar.barId, suggestedBufferingPackets: bar.suggested };
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
    const current = this.#decode(live);
    const { rules, endMarkers } = applyModification(current, change);
    const compiled = compileSession(rules);
    const markers: { farId: number; path: OuterBytes }[] = [];
    for (const farId of endMarkers) {
      const before = compileSession({ pdrs: [], fars: current.fars.filter((f) => f.farId === farId) }).fars[0]!;
      const after = compiled.fars.find((f) => f.rule.farId === farId);
      if (before.outer !== undefined && !outerEqual(before.outer, after?.outer)) {
        markers.push({ farId, path: before.outer });
      }
    }
    this.#publish(seid, live, compiled, markers, current);
  }

  /** Checks capacities and keys, then writes the next generation, flips, and cleans up. */
  #publish(
    seid: bigint,
    old: Live | undefined,
    compiled: CompiledSession,
    endMarkers: { farId: number; path: OuterBytes }[],
    current?: SessionRules,
  ): void {
    const caps = this.capacities;
    const oldCounts = old === undefined ? { pdrs: 0, fars: 0, qers: 0, urrs: 0 } : countsOfLive(old);
    const newCounts = { pdrs: compiled.pdrs.length, fars: compiled.fars.length, qers: compiled.qers.length, urrs: compiled.urrs.length };
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
    for (const id of compiled.keys.keys()) {
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
    let newQers = 0;
    for (const q of compiled.qers) if (old?.qers.get(q.rule.qerId) === undefined) newQers++;
    let newUrrs = 0;
    for (const u of compiled.urrs) if (old?.urrs.get(u.rule.urrId) === undefined) newUrrs++;
    if (newQers > this.#qerCells.size) throw noResources('no QER state left');
    if (newUrrs > this.#urrCells.size) throw noResources('no URR state left');

    // Everything is known to fit: from here on only writes.
    const slot = old?.slot ?? this.#freeSlots[this.#freeSlots.length - 1]!;
    const generation = (this.#generations[slot]! + 1) >>> 0 || 1;
    const key = (id: number): Buffer => ruleKey(slot, generation, id);
    const written: [SharedTable, number][] = [];
    const taken: [CellPool, number][] = [];
    try {
      const qerCells = new Map<number, number>();
      for (const q of compiled.qers) {
        let cell = old?.qers.get(q.rule.qerId);
        if (cell === undefined) {
          const [c, dirty] = this.#qerCells.take();
          taken.push([this.#qerCells, c]);
          if (dirty) this.#qerState.store(c, ZERO_QER);
          cell = c;
        }
        qerCells.set(q.rule.qerId, cell);
      }
      const urrLimits = new Map<number, UrrLimits>();
      for (const u of compiled.urrs) {
        const kept = old?.urrs.get(u.rule.urrId);
        let cell = kept?.cell;
        if (cell === undefined) {
          const [c, dirty] = this.#urrCells.take();
          taken.push([this.#urrCells, c]);
          if (dirty) this.#urrState.store(c, ZERO_URR);
          cell = c;
        }
        urrLimits.set(u.rule.urrId, this.#limits(u, cell, kept, current, generation));
      }
      const { heads, next } = chains(compiled);
      this.#sessions.set(
        key(0),
        sessionRecord({
          seid,
          slot,
          generation,
          counts: [newCounts.pdrs, newCounts.fars, newCounts.qers, newCounts.urrs],
          bar: compiled.bar,
        }),
      );
      written.push([this.#sessions, 0]);
      const farsById = new Map(compiled.fars.map((f) => [f.rule.farId, f]));
      const qersById = new Map(compiled.qers.map((q) => [q.rule.qerId, q]));
      for (const p of compiled.pdrs) {
        const record = pdrRecord(p, {
          seid,
          far: farsById.get(p.rule.farId)!,
          qers: (p.rule.qerIds ?? []).map((id) => ({ qer: qersById.get(id)!, cell: qerCells.get(id)! })),
          urrs: (p.rule.urrIds ?? []).map((id) => urrLimits.get(id)!),
          next: next.get(p.rule.pdrId)!,
        });
        this.#pdrs.set(key(p.rule.pdrId), record);
        written.push([this.#pdrs, p.rule.pdrId]);
      }
      for (const f of compiled.fars) {
        this.#fars.set(key(f.rule.farId), farRecord(f));
        written.push([this.#fars, f.rule.farId]);
      }
      for (const q of compiled.qers) {
        this.#qers.set(key(q.rule.qerId), qerRecord(q, qerCells.get(q.rule.qerId)!));
        written.push([this.#qers, q.rule.qerId]);
      }
      for (const u of compiled.urrs) {
        this.#urrs.set(key(u.rule.urrId), urrRecord(u, urrLimits.get(u.rule.urrId)!));
        written.push([this.#urrs, u.rule.urrId]);
      }

      // The index: this generation's heads in its half, the published generation's in the other.
      const half = generation & 1;
      const liveHeads = new Map<string, { key: MatchKeyValue; first: number }>();
      const index = (id: string, k: MatchKeyValue): void => {
        const first = heads.get(id) ?? NONE;
        const current = old?.heads.get(id);
        const pair: [ChainHead, ChainHead] = [
          { generation: 0, first: NONE },
          { generation: 0, first: NONE },
        ];
        pair[half] = { generation, first };
        if (current !== undefined) pair[1 - half] = { generation: old!.generation, first: current.first };
        this.#index.set(matchKey(k), matchRecord(seid, slot, pair));
        if (first !== NONE) liveHeads.set(id, { key: k, first });
      };
      for (const [id, k] of compiled.keys) index(id, k);
      for (const [id, h] of old?.heads ?? []) if (!compiled.keys.has(id)) index(id, h.key);

      // The flip: one release store publishes the whole change.
      this.#sessionState.storeWord(slot, C.SESSION_COMMITTED, LIVE | BigInt(generation));
      this.#generations[slot] = generation;

      // Bookkeeping, then what no generation uses any more.
      written.length = 0;
      taken.length = 0;
      if (old === undefined) this.#freeSlots.pop();
      this.#add(oldCounts, -1);
      this.#add(newCounts, 1);
      for (const id of compiled.keys.keys()) this.#owners.set(id, seid);
      const ids = <T extends { rule: object }>(list: T[], id: (t: T) => number): number[] => list.map(id).sort((a, b) => a - b);
      this.#live.set(seid, {
        seid,
        slot,
        generation,
        pdrs: ids(compiled.pdrs, (p) => p.rule.pdrId),
        fars: ids(compiled.fars, (f) => f.rule.farId),
        qers: new Map([...qerCells].sort((a, b) => a[0] - b[0])),
        urrs: new Map([...urrLimits].sort((a, b) => a[0] - b[0])),
        heads: liveHeads,
      });
      if (old !== undefined) {
        this.#removeGeneration(old);
        for (const [id, h] of old.heads) {
          if (!compiled.keys.has(id)) {
            this.#index.delete(matchKey(h.key));
            this.#owners.delete(id);
          }
        }
        for (const [id, cell] of old.qers) if (!qerCells.has(id)) this.#qerCells.give(cell);
        for (const [id, u] of old.urrs) if (!urrLimits.has(id)) this.#urrCells.give(u.cell);
      }
      for (const m of endMarkers) {
        this.#endMarkers.send(endMarkerRecord(seid, m.farId, m.path));
      }
    } catch (e) {
      // A write failed before the flip: the published generation is untouched; take back what
      // was written of the next one.
      for (const [table, id] of written) {
        try {
          table.delete(key(id));
        } catch {
          // The next writer's restore removes it.
        }
      }
      for (const [pool, cell] of taken) pool.give(cell);
      throw e;
    }
  }

  /** A URR's limits: a changed one counts from the volume measured now, in a new epoch (its event comes once more); an unchanged one stays. */
  #limits(u: CompiledUrr, cell: number, kept: UrrLimits | undefined, current: SessionRules | undefined, generation: number): UrrLimits {
    const before = kept === undefined ? undefined : current?.urrs?.find((r) => r.urrId === u.rule.urrId);
    const sameThreshold = before !== undefined && sameVolumes(before.volumeThreshold, u.rule.volumeThreshold);
    const sameQuota = before !== undefined && sameVolumes(before.volumeQuota, u.rule.volumeQuota);
    let thresholdAt = kept?.thresholdAt;
    let quotaAt = kept?.quotaAt;
    if (!sameThreshold || !sameQuota) {
      const words = kept === undefined ? ZERO_URR : this.#urrState.load(cell);
      const up = words[C.URR_UPLINK_BYTES]!;
      const down = words[C.URR_DOWNLINK_BYTES]!;
      const measured = [up + down, up, down];
      const at = (limit: [bigint, bigint, bigint]): [bigint, bigint, bigint] =>
        limit.map((v, i) => (measured[i]! + v > U64_MAX ? U64_MAX : measured[i]! + v)) as [bigint, bigint, bigint];
      if (!sameThreshold) thresholdAt = at(u.threshold);
      if (!sameQuota) quotaAt = at(u.quota);
    }
    return {
      urrId: u.rule.urrId,
      cell,
      flags: u.limitFlags,
      thresholdEpoch: sameThreshold ? kept!.thresholdEpoch : generation,
      quotaEpoch: sameQuota ? kept!.quotaEpoch : generation,
      thresholdAt: thresholdAt!,
      quotaAt: quotaAt!,
    };
  }

  #removeGeneration(live: Live): void {
    const key = (id: number): Buffer => ruleKey(live.slot, live.generation, id);
    this.#sessions.delete(key(0));
    for (const id of live.pdrs) this.#pdrs.delete(key(id));
    for (const id of live.fars) this.#fars.delete(key(id));
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
    for (const cell of live.qers.values()) this.#qerCells.give(cell);
    for (const u of live.urrs.values()) this.#urrCells.give(u.cell);
    this.#freeSlots.push(live.slot);
    this.#add(countsOfLive(live), -1);
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
    return [...live.urrs.values()].map((limits) => {
      const w = this.#urrState.load(limits.cell);
      const up = w[C.URR_UPLINK_BYTES]!;
      const down = w[C.URR_DOWNLINK_BYTES]!;
      const volumes = [up + down, up, down];
      return {
        urrId: limits.urrId,
        uplink: { packets: w[C.URR_UPLINK_PACKETS]!, bytes: up },
        downlink: { packets: w[C.URR_DOWNLINK_PACKETS]!, bytes: down },
        quotaExhausted: QUOTA_BITS.some((bit, i) => (limits.flags & bit) !== 0 && volumes[i]! >= limits.quotaAt[i]!),
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
            out.push(
              (e.flags & C.EVENT_HAS_QFI) !== 0
                ? { type: 'downlink-data', seid: e.seid, pdrId: e.id, qfi: e.qfi }
                : { type: 'downlink-data', seid: e.seid, pdrId: e.id },
            );
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

/** The id (as `MatchKeyValue.id`) of a MatchKey record. */
function keyIdOf(key: Buffer): string {
  const kind = key.readUInt8(0);
  if (kind === C.MATCH_TEID) return teidKey(key.readUInt32LE(4)).id;
  if (kind === C.MATCH_UE_IPV4) return ueIpv4Key(key.subarray(8, 12)).id;
  return ueIpv6Key(key.subarray(8, 24)).id;
}

/** The session after `change`: removals, then creations, then updates, each checked. */
function applyModification(current: SessionRules, change: SessionModification): { rules: SessionRules; endMarkers: number[] } {
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
