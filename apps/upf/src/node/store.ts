// What the PFCP node keeps beside UpfSessions so that a restarted process carries on where the
// killed one stopped (TS 29.244 clause 6.2.1: the Recovery Time Stamp says whether it did):
// its own Recovery Time Stamp, the associations, each session's SMF F-SEID and association, and
// each URR's report sequence and the counts last reported. One record per table entry, each
// written whole (a shared-memory table record is never seen torn), in a SharedRegion of the
// caller's (the fastlane-dataplane SharedRegion API) or, without one, in memory for this process.
import { createHash } from 'node:crypto';

import type { NodeId } from '../pfcp/index';

/** The part of fastlane-dataplane's SharedTable the store uses. */
export interface StateTable {
  get(key: Buffer): Buffer | undefined;
  set(key: Buffer, value: Buffer): unknown;
  delete(key: Buffer): boolean;
  entries(): IterableIterator<[Buffer, Buffer]>;
  readonly size: number;
}

/** The part of fastlane-dataplane's SharedRegion the store uses. */
export interface StateRegion {
  /** True when the region is new (nothing was kept). */
  readonly created: boolean;
  table(name: string): StateTable;
}

const TABLES = {
  meta: { name: 'pfcp-meta', keySize: 4, valueSize: 16 },
  associations: { name: 'pfcp-associations', keySize: 32, valueSize: 512 },
  sessions: { name: 'pfcp-sessions', keySize: 8, valueSize: 128 },
  urrs: { name: 'pfcp-urrs', keySize: 12, valueSize: 64 },
} as const;

/** The SharedRegion layout to create (or reuse) for the node's state. */
export function pfcpStateLayout(maxSessions: number, maxAssociations = 64, maxUrrsPerSession = 4): {
  tables: { name: string; keySize: number; valueSize: number; capacity: number }[];
} {
  return {
    tables: [
      { ...TABLES.meta, capacity: 4 },
      { ...TABLES.associations, capacity: maxAssociations },
      { ...TABLES.sessions, capacity: maxSessions },
      { ...TABLES.urrs, capacity: maxSessions * maxUrrsPerSession },
    ],
  };
}

class MemoryTable implements StateTable {
  readonly #map = new Map<string, [Buffer, Buffer]>();
  get(key: Buffer): Buffer | undefined {
    return this.#map.get(key.toString('hex'))?.[1];
  }
  set(key: Buffer, value: Buffer): void {
    this.#map.set(key.toString('hex'), [Buffer.from(key), Buffer.from(value)]);
  }
  delete(key: Buffer): boolean {
    return this.#map.delete(key.toString('hex'));
  }
  *entries(): IterableIterator<[Buffer, Buffer]> {
    yield* this.#map.values();
  }
  get size(): number {
    return this.#map.size;
  }
}

/** State for this process only: a restart starts afresh (and says so with a new timestamp). */
export function memoryStateRegion(): StateRegion {
  const tables = new Map<string, MemoryTable>();
  return {
    created: true,
    table(name) {
      let t = tables.get(name);
      if (!t) tables.set(name, (t = new MemoryTable()));
      return t;
    },
  };
}

export interface AssociationRecord {
  nodeId: NodeId;
  /** Where the SMF's messages come from and the UPF's requests go. */
  address: string;
  port: number;
  /** The SMF's Recovery Time Stamp (NTP seconds) when the association was set up. */
  peerRecoveryTimeStamp: number;
  /** CP Function Features octets (flag names). */
  cpFeatures: string[];
  setupAtMs: number;
}

export interface SessionRecord {
  seid: bigint;
  /** The SMF's F-SEID: the SEID our messages about the session carry, and its address. */
  cpSeid: bigint;
  cpIpv4?: string;
  cpIpv6?: string;
  /** nodeIdKey() of the association the session belongs to. */
  association: string;
  ddnDelayMs: number;
}

export interface UrrRecord {
  seid: bigint;
  urrId: number;
  /** UR-SEQN of the next report. */
  nextSequence: number;
  /** Start of the current measurement (ms since the epoch). */
  measurementStartMs: number;
  /** Counts at the last report: the next one reports what came since. */
  reported: { ulBytes: bigint; dlBytes: bigint; ulPackets: bigint; dlPackets: bigint };
  quotaFarId?: number;
  /** START trigger: traffic has been seen and reported. */
  started: boolean;
}

export function nodeIdKey(id: NodeId): string {
  return `${id.kind}:${id.value.toLowerCase()}`;
}

const assocKeys = new Map<string, Buffer>();
/** The association's table key (a hash of its Node ID, so any FQDN fits); remembered, since every
 * session record carries it. */
function assocKey(key: string): Buffer {
  let k = assocKeys.get(key);
  if (k === undefined) {
    k = createHash('sha256').update(key).digest();
    if (assocKeys.size > 1024) assocKeys.clear();
    assocKeys.set(key, k);
  }
  return k;
}

function seidKey(seid: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(seid);
  return b;
}

function urrKey(seid: bigint, urrId: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeBigUInt64BE(seid);
  b.writeUInt32BE(urrId, 8);
  return b;
}

/** Length-prefixed UTF-8 fields after fixed ones: enough for the few text fields kept. */
function putText(b: Buffer, at: number, s: string): number {
  const n = b.write(s, at + 2, 'utf8');
  b.writeUInt16BE(n, at);
  return at + 2 + n;
}
function getText(b: Buffer, at: number): [string, number] {
  const n = b.readUInt16BE(at);
  return [b.toString('utf8', at + 2, at + 2 + n), at + 2 + n];
}

export class NodeStore {
  readonly #meta: StateTable;
  readonly #associations: StateTable;
  readonly #sessions: StateTable;
  readonly #urrs: StateTable;
  /** Whether the region held state from before (the Recovery Time Stamp is then kept). */
  readonly kept: boolean;

  constructor(region: StateRegion) {
    this.#meta = region.table(TABLES.meta.name);
    this.#associations = region.table(TABLES.associations.name);
    this.#sessions = region.table(TABLES.sessions.name);
    this.#urrs = region.table(TABLES.urrs.name);
    this.kept = !region.created && this.recoveryTimeStamp() !== undefined;
  }

  recoveryTimeStamp(): number | undefined {
    const v = this.#meta.get(Buffer.from('rts\0'));
    return v === undefined ? undefined : v.readUInt32BE(0);
  }

  setRecoveryTimeStamp(ntpSeconds: number): void {
    const v = Buffer.alloc(TABLES.meta.valueSize);
    v.writeUInt32BE(ntpSeconds, 0);
    this.#meta.set(Buffer.from('rts\0'), v);
  }

  putAssociation(a: AssociationRecord): void {
    const v = Buffer.alloc(TABLES.associations.valueSize);
    v.writeUInt32BE(a.peerRecoveryTimeStamp, 0);
    v.writeUInt16BE(a.port, 4);
    v.writeDoubleBE(a.setupAtMs, 6);
    let at = putText(v, 14, a.nodeId.kind);
    at = putText(v, at, a.nodeId.value);
    at = putText(v, at, a.address);
    putText(v, at, a.cpFeatures.join(','));
    this.#associations.set(assocKey(nodeIdKey(a.nodeId)), v);
  }

  deleteAssociation(key: string): void {
    this.#associations.delete(assocKey(key));
  }

  *associations(): IterableIterator<AssociationRecord> {
    for (const [, v] of this.#associations.entries()) {
      const [kind, a1] = getText(v, 14);
      const [value, a2] = getText(v, a1);
      const [address, a3] = getText(v, a2);
      const [features] = getText(v, a3);
      yield {
        nodeId: { kind: kind as NodeId['kind'], value },
        address,
        port: v.readUInt16BE(4),
        peerRecoveryTimeStamp: v.readUInt32BE(0),
        cpFeatures: features === '' ? [] : features.split(','),
        setupAtMs: v.readDoubleBE(6),
      };
    }
  }

  putSession(s: SessionRecord): void {
    const v = Buffer.alloc(TABLES.sessions.valueSize);
    v.writeBigUInt64BE(s.cpSeid, 0);
    v.writeUInt32BE(s.ddnDelayMs, 8);
    let at = putText(v, 12, s.cpIpv4 ?? '');
    at = putText(v, at, s.cpIpv6 ?? '');
    // The association key is hashed to fit: the record keeps the hash, the node maps it back.
    assocKey(s.association).copy(v, at);
    this.#sessions.set(seidKey(s.seid), v);
  }

  deleteSession(seid: bigint): void {
    this.#sessions.delete(seidKey(seid));
  }

  /** Every session record; `association` is resolved through the associations' keys. */
  *sessions(associationKeys: readonly string[]): IterableIterator<SessionRecord> {
    const byHash = new Map(associationKeys.map((k) => [assocKey(k).toString('hex'), k]));
    for (const [k, v] of this.#sessions.entries()) {
      const [ipv4, a1] = getText(v, 12);
      const [ipv6, a2] = getText(v, a1);
      const rec: SessionRecord = {
        seid: k.readBigUInt64BE(0),
        cpSeid: v.readBigUInt64BE(0),
        association: byHash.get(v.subarray(a2, a2 + 32).toString('hex')) ?? '',
        ddnDelayMs: v.readUInt32BE(8),
      };
      if (ipv4) rec.cpIpv4 = ipv4;
      if (ipv6) rec.cpIpv6 = ipv6;
      yield rec;
    }
  }

  putUrr(u: UrrRecord): void {
    const v = Buffer.alloc(TABLES.urrs.valueSize);
    v.writeUInt32BE(u.nextSequence, 0);
    v.writeDoubleBE(u.measurementStartMs, 4);
    v.writeBigUInt64BE(u.reported.ulBytes, 12);
    v.writeBigUInt64BE(u.reported.dlBytes, 20);
    v.writeBigUInt64BE(u.reported.ulPackets, 28);
    v.writeBigUInt64BE(u.reported.dlPackets, 36);
    v.writeUInt8((u.quotaFarId !== undefined ? 1 : 0) | (u.started ? 2 : 0), 44);
    v.writeUInt32BE(u.quotaFarId ?? 0, 45);
    this.#urrs.set(urrKey(u.seid, u.urrId), v);
  }

  deleteUrr(seid: bigint, urrId: number): void {
    this.#urrs.delete(urrKey(seid, urrId));
  }

  *urrs(): IterableIterator<UrrRecord> {
    for (const [k, v] of this.#urrs.entries()) {
      const flags = v.readUInt8(44);
      const rec: UrrRecord = {
        seid: k.readBigUInt64BE(0),
        urrId: k.readUInt32BE(8),
        nextSequence: v.readUInt32BE(0),
        measurementStartMs: v.readDoubleBE(4),
        reported: {
          ulBytes: v.readBigUInt64BE(12),
          dlBytes: v.readBigUInt64BE(20),
          ulPackets: v.readBigUInt64BE(28),
          dlPackets: v.readBigUInt64BE(36),
        },
        started: (flags & 2) !== 0,
      };
      if (flags & 1) rec.quotaFarId = v.readUInt32BE(45);
      yield rec;
    }
  }
}
