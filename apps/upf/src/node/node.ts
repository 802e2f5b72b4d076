// The UPF's PFCP node (TS 29.244) on the kernel stack: N4 over UDP (Node dgram, IPv4 and IPv6),
// associations and heartbeats both ways, sessions mapped onto UpfSessions, session reports with
// T1/N1 retransmission, a response cache for retransmitted requests, and recovery of everything
// after a SIGKILL from UpfSessions.entries() and the node's own shared-memory store.
import { randomInt } from 'node:crypto';
import * as dgram from 'node:dgram';
import { lstatSync, rmSync } from 'node:fs';
import type * as http from 'node:http';
import { isIPv6 } from 'node:net';

import type { Registry } from 'prom-client';

import {
  type Ie,
  IeType as T,
  MessageType as M,
  type NodeId,
  PfcpCause as C,
  PfcpDecodeError,
  type PfcpMessage,
  decodeDatagram,
  encodeMessage,
  getValue,
  group,
  ie,
  messageName,
} from '../pfcp/index';
import {
  type FTeid,
  type SessionRules,
  type Usage,
  type UpfEvent,
  UpfSessionError,
  type UpfSessions,
  type CreateUrr,
  type UpdateUrr,
} from '../sessions/types';
import { AllocationError, TeidAllocator, UeAddressAllocator, type UePoolConfig } from './allocators';
import { RequestError } from './errors';
import { type Logger, jsonLogger } from './log';
import { type PfcpMetrics, createPfcpMetrics } from './metrics';
import { type Choices, type CreatedPdr, type UrrExtras, readEstablishment, readModification } from './rules';
import { type SessionListing, serveSessions } from './sessions-command';
import {
  type AssociationRecord,
  NodeStore,
  type SessionRecord,
  type StateRegion,
  type UrrRecord,
  memoryStateRegion,
  nodeIdKey,
} from './store';

/** What the UPF advertises (clause 8.2.25): only what this node and the user plane carry out. */
export const UP_FUNCTION_FEATURES = ['BUCP', 'DDND', 'FTUP', 'QUOAC', 'UEIP'] as const;

export interface PfcpNodeOptions {
  /** N4 addresses to listen on: IPv4 and/or IPv6 (e.g. ['192.0.2.1', '2001:db8::1']). */
  addresses: string[];
  /** UDP port (default 8805; 0 picks a free one, see PfcpNode.ports). */
  port?: number;
  /** The UPF's Node ID. */
  nodeId: NodeId;
  /** Addresses of the UPF's N3 (and N9) F-TEIDs, chosen for CHOOSE. */
  fTeidAddresses: { ipv4?: string; ipv6?: string };
  /** TEIDs CHOOSE picks from (default 1 to 2^32-1). */
  teidRange?: { first: number; last: number };
  /** UE address pools for CHV4/CHV6. */
  uePools?: UePoolConfig[];
  timers?: {
    /** Between the UPF's Heartbeat Requests to each associated SMF (default 10 s). */
    heartbeatIntervalMs?: number;
    /** T1: before a request of the UPF is sent again (default 3 s). */
    t1Ms?: number;
    /** N1: how many times it is sent again before the peer is given up (default 3). */
    n1?: number;
  };
  /** Sessions of an SMF that restarted (new Recovery Time Stamp) or stopped answering heartbeats. */
  onSmfLost?: 'keep' | 'remove';
  /** SMFs the UPF sets up an association with itself (retried every heartbeat interval). */
  smfPeers?: { address: string; port?: number }[];
  /** Where the node's state survives a restart; without it, a restart starts afresh. */
  state?: StateRegion;
  /** Metrics go here (e.g. the data plane's registry); default a registry of their own. */
  registry?: Registry;
  logger?: Logger;
  /** How long a response is kept for a retransmitted request (default T1 × (N1 + 1) + 1 s). */
  responseCacheMs?: number;
  /** How often UpfSessions.events() is read (default 20 ms). */
  eventPollMs?: number;
  /** How often URRs waiting for their first traffic (START) are looked at (default 1 s). */
  startPollMs?: number;
  /** Largest datagram accepted (default 65535). */
  maxMessageBytes?: number;
  /** A Unix socket where GET /sessions lists the sessions (`fastlane upf sessions`). */
  controlSocket?: string;
}

export interface PfcpNode {
  /** The Recovery Time Stamp advertised (NTP seconds). */
  readonly recoveryTimeStamp: number;
  /** Whether the state of a previous run was found and kept (the timestamp is then the old one). */
  readonly stateKept: boolean;
  readonly metrics: PfcpMetrics;
  /** Bound address and port of each N4 socket. */
  ports(): { address: string; port: number }[];
  /** The associated SMFs. */
  associations(): AssociationRecord[];
  /** Every session with its SMF, rules and usage. */
  listSessions(): SessionListing[];
  /** Sets up an association with an SMF (Association Setup Request from the UPF). */
  associate(address: string, port?: number): Promise<AssociationRecord>;
  /** Association Update Request from the UPF; `releaseRequest` asks the SMF to release (SARR). */
  updateAssociation(nodeIdKeyText: string, options?: { releaseRequest?: boolean; gracefulReleaseSeconds?: number }): Promise<number>;
  /** Association Release Request from the UPF; its sessions are removed. */
  releaseAssociation(nodeIdKeyText: string): Promise<number>;
  close(): Promise<void>;
}

export function startPfcpNode(options: PfcpNodeOptions, sessions: UpfSessions): Promise<PfcpNode> {
  const node = new Node(options, sessions);
  return node.start().then(() => node);
}

const NTP_OFFSET = 2_208_988_800;
const ntpSeconds = (ms: number): number => Math.floor(ms / 1000 + NTP_OFFSET) % 2 ** 32;

const responseTypeOf: Record<number, number> = {
  [M.HeartbeatRequest]: M.HeartbeatResponse,
  [M.AssociationSetupRequest]: M.AssociationSetupResponse,
  [M.AssociationUpdateRequest]: M.AssociationUpdateResponse,
  [M.AssociationReleaseRequest]: M.AssociationReleaseResponse,
  [M.NodeReportRequest]: M.NodeReportResponse,
  [M.SessionEstablishmentRequest]: M.SessionEstablishmentResponse,
  [M.SessionModificationRequest]: M.SessionModificationResponse,
  [M.SessionDeletionRequest]: M.SessionDeletionResponse,
  [M.SessionReportRequest]: M.SessionReportResponse,
};
const responseTypes = new Set(Object.values(responseTypeOf).concat([M.VersionNotSupportedResponse]));
const sessionTypes = new Set<number>([50, 51, 52, 53, 54, 55, 56, 57]);

interface Pending {
  type: number;
  address: string;
  port: number;
  attempts: number;
  timer?: NodeJS.Timeout;
  resolve(m: PfcpMessage): void;
  reject(e: Error): void;
}

interface UrrState extends UrrRecord {
  config: CreateUrr;
  timer?: NodeJS.Timeout | undefined;
}

interface SessionState {
  record: SessionRecord;
  /** What each PDR holds of the allocators. */
  pdrs: Map<number, { teid?: number; ue: string[] }>;
  urrs: Map<number, UrrState>;
}

interface Association extends AssociationRecord {
  key: string;
  heartbeat?: NodeJS.Timeout;
  lost: boolean;
}

class Node implements PfcpNode {
  readonly metrics: PfcpMetrics;
  readonly #o: PfcpNodeOptions;
  readonly #sessions: UpfSessions;
  readonly #log: Logger;
  readonly #store: NodeStore;
  readonly #teids: TeidAllocator;
  readonly #ue: UeAddressAllocator;
  readonly #t1: number;
  readonly #n1: number;
  readonly #hbInterval: number;
  readonly #cacheMs: number;
  readonly #sockets: dgram.Socket[] = [];
  readonly #state = new Map<bigint, SessionState>();
  readonly #assocs = new Map<string, Association>();
  readonly #pending = new Map<number, Pending>();
  readonly #cache = new Map<string, { bytes: Uint8Array; at: number; type: number; responseType: number; cause: number | undefined }>();
  readonly #awaitingStart = new Set<UrrState>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #counters = new Map<string, { inc(): void }>();
  readonly #localAddress = new Map<dgram.Socket, { address: string; family: string }>();
  #control: http.Server | undefined;
  #nextSeid = 1n;
  // Random at start: after a restart, the SMF's response cache must not take a new request of
  // ours for a retransmission of one the killed process sent.
  #nextSequence = randomInt(1, 0xffffff);
  #pdrCount = 0;
  #closed = false;
  recoveryTimeStamp = 0;
  stateKept = false;

  constructor(options: PfcpNodeOptions, sessions: UpfSessions) {
    this.#o = options;
    this.#sessions = sessions;
    this.#log = options.logger ?? jsonLogger();
    this.metrics = createPfcpMetrics(options.registry);
    this.#store = new NodeStore(options.state ?? memoryStateRegion());
    this.#teids = new TeidAllocator(options.teidRange?.first, options.teidRange?.last);
    this.#ue = new UeAddressAllocator(options.uePools ?? []);
    this.#t1 = options.timers?.t1Ms ?? 3000;
    this.#n1 = options.timers?.n1 ?? 3;
    this.#hbInterval = options.timers?.heartbeatIntervalMs ?? 10_000;
    this.#cacheMs = options.responseCacheMs ?? this.#t1 * (this.#n1 + 1) + 1000;
    if (options.addresses.length === 0) throw new RangeError('PFCP node: no N4 address to listen on');
  }

  async start(): Promise<void> {
    this.#recover();
    for (const address of this.#o.addresses) {
      // A deep receive queue absorbs an SMF's bursts (the kernel caps it at net.core.rmem_max).
      const socket = dgram.createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4', ipv6Only: isIPv6(address), recvBufferSize: 4 << 20 });
      socket.on('message', (buf, rinfo) => this.#onDatagram(socket, buf, rinfo));
      socket.on('error', (e) => this.#log.log('error', 'N4 socket error', { address, error: e.message }));
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(this.#o.port ?? 8805, address, () => {
          socket.off('error', reject);
          resolve();
        });
      });
      this.#sockets.push(socket);
    }
    const control = this.#o.controlSocket;
    if (control !== undefined) {
      // A socket left by a killed run is in the way; anything else at that path is not ours.
      if (lstatSync(control, { throwIfNoEntry: false })?.isSocket()) rmSync(control);
      this.#control = await serveSessions(control, () => this.listSessions());
    }
    this.#every(this.#o.eventPollMs ?? 20, () => this.#pollEvents());
    this.#every(this.#o.startPollMs ?? 1000, () => this.#pollStart());
    for (const a of this.#assocs.values()) this.#scheduleHeartbeat(a, 0);
    for (const peer of this.#o.smfPeers ?? []) this.#keepAssociating(peer.address, peer.port ?? 8805);
    this.#log.log('info', 'PFCP node started', {
      n4: this.ports().map((p) => `${p.address}:${p.port}`).join(','),
      recoveryTimeStamp: this.recoveryTimeStamp,
      stateKept: this.stateKept,
      sessions: this.#state.size,
      associations: this.#assocs.size,
    });
  }

  #every(ms: number, f: () => void): void {
    const t = setInterval(() => {
      try {
        f();
      } catch (e) {
        this.#log.log('error', 'periodic task failed', { error: (e as Error).stack ?? String(e) });
      }
    }, ms);
    this.#timers.add(t);
  }

  /** `f` for a timer or a promise's handler: a failure is logged, never left to end the process. */
  #guarded<A extends unknown[]>(what: string, f: (...args: A) => void): (...args: A) => void {
    return (...args) => {
      try {
        f(...args);
      } catch (e) {
        this.#log.log('error', `${what} failed`, { error: (e as Error).stack ?? String(e) });
      }
    };
  }

  // ---- recovery ---------------------------------------------------------------------------

  /** Rebuilds allocators, associations and per-session state from what survived the last run. */
  #recover(): void {
    const store = this.#store;
    this.stateKept = store.kept;
    this.recoveryTimeStamp = store.kept ? (store.recoveryTimeStamp() as number) : ntpSeconds(Date.now());
    if (!store.kept) store.setRecoveryTimeStamp(this.recoveryTimeStamp);
    for (const a of store.associations()) this.#assocs.set(nodeIdKey(a.nodeId), { ...a, key: nodeIdKey(a.nodeId), lost: false });
    const records = new Map<bigint, SessionRecord>();
    for (const r of store.sessions([...this.#assocs.keys()])) records.set(r.seid, r);
    const urrRecords = new Map<string, UrrRecord>();
    for (const u of store.urrs()) urrRecords.set(`${u.seid}/${u.urrId}`, u);

    const orphans: bigint[] = [];
    for (const [seid, rules] of this.#sessions.entries()) {
      const record = records.get(seid);
      if (record === undefined || !this.#assocs.has(record.association)) {
        orphans.push(seid);
        continue;
      }
      records.delete(seid);
      const st: SessionState = { record, pdrs: new Map(), urrs: new Map() };
      for (const pdr of rules.pdrs) {
        const held = { ue: [] as string[] } as { teid?: number; ue: string[] };
        if (pdr.pdi.localFTeid) {
          this.#teids.claim(seid, pdr.pdi.localFTeid.teid);
          held.teid = pdr.pdi.localFTeid.teid;
        }
        for (const a of [pdr.pdi.ueIpAddress?.ipv4, pdr.pdi.ueIpAddress?.ipv6Prefix]) {
          if (a === undefined) continue;
          this.#ue.claim(seid, a);
          held.ue.push(a);
        }
        st.pdrs.set(pdr.pdrId, held);
      }
      this.#pdrCount += st.pdrs.size;
      for (const urr of rules.urrs ?? []) {
        const key = `${seid}/${urr.urrId}`;
        const kept = urrRecords.get(key);
        urrRecords.delete(key);
        this.#addUrr(st, urr, kept, undefined);
      }
      this.#state.set(seid, st);
      if (seid >= this.#nextSeid) this.#nextSeid = seid + 1n;
    }
    for (const seid of orphans) this.#sessions.delete(seid);
    if (orphans.length) {
      this.#log.log('warn', 'sessions without their SMF record removed at recovery', { sessions: orphans.length, seids: orphans.slice(0, 10).join(',') });
    }
    for (const r of records.values()) store.deleteSession(r.seid);
    for (const u of urrRecords.values()) store.deleteUrr(u.seid, u.urrId);
    this.#updateGauges();
  }

  // ---- sockets ----------------------------------------------------------------------------

  ports(): { address: string; port: number }[] {
    return this.#sockets.map((s) => {
      const a = s.address();
      return { address: a.address, port: a.port };
    });
  }

  #socketFor(address: string): dgram.Socket {
    const v6 = isIPv6(address);
    const s = this.#sockets.find((x) => (x.address().family === 'IPv6') === v6);
    if (!s) throw new Error(`no N4 socket of the family of ${address}`);
    return s;
  }

  #send(socket: dgram.Socket, bytes: Uint8Array, address: string, port: number, m: PfcpMessage, cause?: number): void {
    socket.send(bytes, port, address);
    this.#count('tx', m.type, cause);
  }

  /** pfcp_messages_total, its label sets' children kept (a labelled inc hashes its labels). */
  #count(direction: 'rx' | 'tx', type: number, cause: number | undefined): void {
    const key = `${direction}/${type}/${cause ?? ''}`;
    let child = this.#counters.get(key);
    if (child === undefined) {
      child = this.metrics.messages.labels({ direction, type: messageName(type) ?? String(type), cause: cause === undefined ? '' : String(cause) });
      this.#counters.set(key, child);
    }
    child.inc();
  }

  #onDatagram(socket: dgram.Socket, buf: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.#closed) return;
    let messages: PfcpMessage[];
    try {
      messages = decodeDatagram(buf, { maxMessageBytes: this.#o.maxMessageBytes ?? 65535 });
    } catch (e) {
      if (!(e instanceof PfcpDecodeError)) throw e;
      this.#onUndecodable(socket, buf, rinfo, e);
      return;
    }
    for (const m of messages) {
      try {
        this.#onMessage(socket, m, rinfo);
      } catch (e) {
        this.#log.log('error', 'PFCP message handling failed', { peer: rinfo.address, type: m.type, error: (e as Error).stack ?? String(e) });
      }
    }
  }

  /** Clause 7.6: a request whose header can be read is answered with the cause; others dropped. */
  #onUndecodable(socket: dgram.Socket, buf: Buffer, rinfo: dgram.RemoteInfo, e: PfcpDecodeError): void {
    this.metrics.malformed.inc({ reason: e.reason });
    const fields = { peer: `${rinfo.address}:${rinfo.port}`, reason: e.reason, error: e.message };
    if (e.reason === 'unsupported-version') {
      // Version Not Supported Response: the header only, sequence number of the request (7.6.2).
      if (buf.length >= 8) {
        const s = (buf[0] as number) & 1;
        const seqAt = s ? 12 : 4;
        const sequence = buf.length >= seqAt + 3 ? buf.readUIntBE(seqAt, 3) : 0;
        const m: PfcpMessage = { type: M.VersionNotSupportedResponse, sequence, ies: [] };
        this.#send(socket, encodeMessage(m), rinfo.address, rinfo.port, m);
      }
      this.#log.log('warn', 'PFCP version not supported', fields);
      return;
    }
    const header = peekHeader(buf);
    const responseType = header && responseTypeOf[header.type];
    // A Heartbeat Response carries no cause, and Session Report Requests come from the UPF only.
    if (!header || e.causeValue === undefined || responseType === undefined || header.type === M.SessionReportRequest || header.type === M.HeartbeatRequest) {
      this.#log.log('warn', 'undecodable PFCP datagram dropped', fields);
      return;
    }
    const ies: Ie[] = [];
    if (!sessionTypes.has(header.type) || header.type === M.SessionEstablishmentRequest) ies.push(ie(T.NodeId, this.#o.nodeId));
    ies.push(ie(T.Cause, { cause: e.causeValue }));
    if (e.ie) ies.push(ie(T.OffendingIe, { ieType: e.ie.type }));
    const m: PfcpMessage = { type: responseType, sequence: header.sequence, ies };
    if (sessionTypes.has(header.type)) m.seid = this.#state.get(header.seid ?? 0n)?.record.cpSeid ?? 0n;
    this.#send(socket, encodeMessage(m), rinfo.address, rinfo.port, m, e.causeValue);
    this.#log.log('warn', 'undecodable PFCP request rejected', { ...fields, cause: e.causeValue, offendingIe: e.ie?.type });
  }

  #onMessage(socket: dgram.Socket, m: PfcpMessage, rinfo: dgram.RemoteInfo): void {
    const name = messageName(m.type);
    if (name === undefined) {
      // Clause 7.6.? (unknown message): silently discarded.
      this.metrics.malformed.inc({ reason: 'unknown-message-type' });
      this.#log.log('debug', 'unknown PFCP message type dropped', { peer: rinfo.address, type: m.type });
      return;
    }
    const cause = getValue(m.ies, T.Cause)?.cause;
    this.#count('rx', m.type, cause);
    if (sessionTypes.has(m.type) !== (m.seid !== undefined)) {
      this.metrics.malformed.inc({ reason: 'wrong-s-flag' });
      this.#log.log('warn', 'PFCP message with the wrong S flag dropped', { peer: rinfo.address, type: name, s: m.seid !== undefined });
      return;
    }
    if (responseTypes.has(m.type)) {
      this.#onResponse(m, rinfo);
      return;
    }
    const cacheKey = `${rinfo.address}|${rinfo.port}|${m.sequence}`;
    const cached = this.#cache.get(cacheKey);
    if (cached !== undefined && cached.type === m.type) {
      this.metrics.duplicates.inc();
      this.#send(socket, cached.bytes, rinfo.address, rinfo.port, { type: cached.responseType, sequence: m.sequence, ies: [] }, cached.cause);
      return;
    }
    const response = this.#handleRequest(socket, m, rinfo);
    if (response === undefined) return;
    const bytes = encodeMessage(response);
    const responseCause = getValue(response.ies, T.Cause)?.cause;
    this.#send(socket, bytes, rinfo.address, rinfo.port, response, responseCause);
    this.#remember(cacheKey, bytes, m.type, response.type, responseCause);
  }

  #remember(key: string, bytes: Uint8Array, type: number, responseType: number, cause: number | undefined): void {
    const now = Date.now();
    this.#cache.set(key, { bytes, at: now, type, responseType, cause });
    // Insertion order is age order: drop what is too old for any retransmission to reach.
    for (const [k, v] of this.#cache) {
      if (now - v.at <= this.#cacheMs && this.#cache.size <= 200_000) break;
      this.#cache.delete(k);
    }
  }

  #handleRequest(socket: dgram.Socket, m: PfcpMessage, rinfo: dgram.RemoteInfo): PfcpMessage | undefined {
    const responseType = responseTypeOf[m.type] as number;
    const reply = (ies: Ie[], seid?: bigint): PfcpMessage => {
      const r: PfcpMessage = { type: responseType, sequence: m.sequence, ies };
      if (seid !== undefined) r.seid = seid;
      return r;
    };
    const nodeId = ie(T.NodeId, this.#o.nodeId);
    try {
      switch (m.type) {
        case M.HeartbeatRequest:
          this.#onHeartbeatRequest(m, rinfo);
          return reply([ie(T.RecoveryTimeStamp, { ntpSeconds: this.recoveryTimeStamp })]);
        case M.AssociationSetupRequest:
          this.#onAssociationSetup(m, rinfo);
          return reply([
            nodeId,
            ie(T.Cause, { cause: C.RequestAccepted }),
            ie(T.RecoveryTimeStamp, { ntpSeconds: this.recoveryTimeStamp }),
            ie(T.UpFunctionFeatures, { flags: [...UP_FUNCTION_FEATURES], octets: 4 }),
          ]);
        case M.AssociationUpdateRequest:
          this.#onAssociationUpdate(m);
          return reply([nodeId, ie(T.Cause, { cause: C.RequestAccepted })]);
        case M.AssociationReleaseRequest:
          this.#onAssociationRelease(m);
          return reply([nodeId, ie(T.Cause, { cause: C.RequestAccepted })]);
        case M.SessionEstablishmentRequest:
          return reply(...this.#onEstablishment(socket, m));
        case M.SessionModificationRequest:
          return reply(...this.#onModification(m, rinfo));
        case M.SessionDeletionRequest:
          return reply(...this.#onDeletion(m, rinfo));
        default:
          // Node Report and Session Report Requests are sent by the UP function, never to it.
          this.metrics.malformed.inc({ reason: 'unexpected-request' });
          this.#log.log('warn', 'PFCP request a UPF does not take, dropped', { peer: rinfo.address, type: messageName(m.type) });
          return undefined;
      }
    } catch (e) {
      const err = toRequestError(e);
      if (err.causeValue === C.RequestRejected) this.#log.log('error', 'PFCP request failed', { type: messageName(m.type), error: (e as Error).stack ?? String(e) });
      else this.#log.log('info', 'PFCP request rejected', { peer: rinfo.address, type: messageName(m.type), cause: err.causeValue, offendingIe: err.offendingIe, reason: err.message });
      const ies: Ie[] = [];
      if (!sessionTypes.has(m.type) || m.type === M.SessionEstablishmentRequest) ies.push(nodeId);
      ies.push(ie(T.Cause, { cause: err.causeValue }));
      if (err.offendingIe !== undefined) ies.push(ie(T.OffendingIe, { ieType: err.offendingIe }));
      if (err.failedRule !== undefined) ies.push(ie(T.FailedRuleId, err.failedRule));
      if (m.type === M.HeartbeatRequest) return reply([ie(T.RecoveryTimeStamp, { ntpSeconds: this.recoveryTimeStamp })]);
      let seid: bigint | undefined;
      if (m.type === M.SessionEstablishmentRequest) seid = getValue(m.ies, T.FSeid)?.seid ?? 0n;
      else if (sessionTypes.has(m.type)) seid = this.#state.get(m.seid ?? 0n)?.record.cpSeid ?? 0n;
      return reply(ies, seid);
    }
  }

  // ---- associations -----------------------------------------------------------------------

  #onHeartbeatRequest(m: PfcpMessage, rinfo: dgram.RemoteInfo): void {
    const rts = getValue(m.ies, T.RecoveryTimeStamp);
    if (rts === undefined) throw new RequestError(C.MandatoryIeMissing, 'Heartbeat Request without Recovery Time Stamp', T.RecoveryTimeStamp);
    for (const a of this.#assocs.values()) {
      if (a.address === rinfo.address && a.port === rinfo.port) this.#checkPeerRecovery(a, rts.ntpSeconds);
    }
  }

  #checkPeerRecovery(a: Association, ntp: number): void {
    if (a.peerRecoveryTimeStamp === ntp) return;
    this.#smfLost(a, `its Recovery Time Stamp changed from ${a.peerRecoveryTimeStamp} to ${ntp} (restart)`, ntp);
  }

  /** The SMF restarted or stopped answering: its sessions are kept or removed, as configured. */
  #smfLost(a: Association, why: string, newRecoveryTimeStamp?: number): void {
    const mode = this.#o.onSmfLost ?? 'remove';
    const owned = [...this.#state.entries()].filter(([, s]) => s.record.association === a.key).map(([seid]) => seid);
    this.#log.log('warn', 'SMF lost', { smf: a.key, reason: why, sessions: owned.length, action: mode });
    if (mode === 'remove') {
      for (const seid of owned) this.#removeSession(seid);
      this.#dropAssociation(a);
    } else {
      if (newRecoveryTimeStamp !== undefined) {
        a.peerRecoveryTimeStamp = newRecoveryTimeStamp;
        this.#store.putAssociation(a);
      }
      a.lost = newRecoveryTimeStamp === undefined;
    }
  }

  #dropAssociation(a: Association): void {
    if (a.heartbeat) clearTimeout(a.heartbeat);
    this.#assocs.delete(a.key);
    this.#store.deleteAssociation(a.key);
    this.#updateGauges();
  }

  #addAssociation(nodeId: NodeId, address: string, port: number, rts: number, cpFeatures: string[]): Association {
    const key = nodeIdKey(nodeId);
    const old = this.#assocs.get(key);
    if (old?.heartbeat) clearTimeout(old.heartbeat);
    const a: Association = { nodeId, address, port, peerRecoveryTimeStamp: rts, cpFeatures, setupAtMs: Date.now(), key, lost: false };
    this.#assocs.set(key, a);
    this.#store.putAssociation(a);
    this.#scheduleHeartbeat(a, this.#hbInterval);
    this.#updateGauges();
    return a;
  }

  #onAssociationSetup(m: PfcpMessage, rinfo: dgram.RemoteInfo): void {
    const nodeId = getValue(m.ies, T.NodeId);
    if (nodeId === undefined) throw new RequestError(C.MandatoryIeMissing, 'Association Setup Request without Node ID', T.NodeId);
    const rts = getValue(m.ies, T.RecoveryTimeStamp);
    if (rts === undefined) throw new RequestError(C.MandatoryIeMissing, 'Association Setup Request without Recovery Time Stamp', T.RecoveryTimeStamp);
    const old = this.#assocs.get(nodeIdKey(nodeId));
    // Clause 6.2.6.2.2: a new setup from an associated SMF replaces the association; a changed
    // timestamp means the SMF restarted, and its sessions go as configured.
    if (old !== undefined && old.peerRecoveryTimeStamp !== rts.ntpSeconds) this.#smfLost(old, 'it set the association up again with a new Recovery Time Stamp', rts.ntpSeconds);
    const features = getValue(m.ies, T.CpFunctionFeatures)?.flags ?? [];
    this.#addAssociation(nodeId, rinfo.address, rinfo.port, rts.ntpSeconds, features);
    this.#log.log('info', 'PFCP association set up', { smf: nodeIdKey(nodeId), peer: `${rinfo.address}:${rinfo.port}`, initiator: 'smf' });
  }

  #associationOf(m: PfcpMessage, what: string): Association {
    const nodeId = getValue(m.ies, T.NodeId);
    if (nodeId === undefined) throw new RequestError(C.MandatoryIeMissing, `${what} without Node ID`, T.NodeId);
    const a = this.#assocs.get(nodeIdKey(nodeId));
    if (a === undefined) throw new RequestError(C.NoEstablishedPfcpAssociation, `${what}: no association with ${nodeIdKey(nodeId)}`);
    return a;
  }

  #onAssociationUpdate(m: PfcpMessage): void {
    const a = this.#associationOf(m, 'Association Update Request');
    const features = getValue(m.ies, T.CpFunctionFeatures);
    if (features !== undefined) {
      a.cpFeatures = features.flags;
      this.#store.putAssociation(a);
    }
    this.#log.log('info', 'PFCP association updated', { smf: a.key });
  }

  #onAssociationRelease(m: PfcpMessage): void {
    const a = this.#associationOf(m, 'Association Release Request');
    const owned = [...this.#state.entries()].filter(([, s]) => s.record.association === a.key).map(([seid]) => seid);
    for (const seid of owned) this.#removeSession(seid);
    this.#dropAssociation(a);
    this.#log.log('info', 'PFCP association released', { smf: a.key, initiator: 'smf', sessions: owned.length });
  }

  associations(): AssociationRecord[] {
    return [...this.#assocs.values()].map(({ nodeId, address, port, peerRecoveryTimeStamp, cpFeatures, setupAtMs }) => ({
      nodeId,
      address,
      port,
      peerRecoveryTimeStamp,
      cpFeatures,
      setupAtMs,
    }));
  }

  listSessions(): SessionListing[] {
    return [...this.#state.values()].map((st) => ({
      seid: st.record.seid,
      smf: st.record.association,
      cpSeid: st.record.cpSeid,
      rules: this.#sessions.get(st.record.seid) ?? { pdrs: [], fars: [] },
      usage: this.#sessions.usage(st.record.seid),
    }));
  }

  async associate(address: string, port = 8805): Promise<AssociationRecord> {
    const response = await this.#request(address, port, {
      type: M.AssociationSetupRequest,
      sequence: 0,
      ies: [
        ie(T.NodeId, this.#o.nodeId),
        ie(T.RecoveryTimeStamp, { ntpSeconds: this.recoveryTimeStamp }),
        ie(T.UpFunctionFeatures, { flags: [...UP_FUNCTION_FEATURES], octets: 4 }),
      ],
    });
    const cause = getValue(response.ies, T.Cause)?.cause;
    const nodeId = getValue(response.ies, T.NodeId);
    const rts = getValue(response.ies, T.RecoveryTimeStamp);
    if (cause !== C.RequestAccepted || nodeId === undefined || rts === undefined) {
      throw new Error(`Association Setup with ${address}:${port} refused: cause ${cause ?? 'missing'}${nodeId ? '' : ', no Node ID'}${rts ? '' : ', no Recovery Time Stamp'}`);
    }
    const old = this.#assocs.get(nodeIdKey(nodeId));
    if (old !== undefined && old.peerRecoveryTimeStamp !== rts.ntpSeconds) this.#smfLost(old, 'a new Recovery Time Stamp at association setup', rts.ntpSeconds);
    const a = this.#addAssociation(nodeId, address, port, rts.ntpSeconds, getValue(response.ies, T.CpFunctionFeatures)?.flags ?? []);
    this.#log.log('info', 'PFCP association set up', { smf: a.key, peer: `${address}:${port}`, initiator: 'upf' });
    return this.associations().find((x) => nodeIdKey(x.nodeId) === a.key) as AssociationRecord;
  }

  #keepAssociating(address: string, port: number): void {
    const attempt = (): void => {
      if (this.#closed) return;
      if ([...this.#assocs.values()].some((a) => a.address === address && a.port === port && !a.lost)) return;
      this.associate(address, port).catch((e: Error) => this.#log.log('warn', 'PFCP association setup failed', { peer: `${address}:${port}`, error: e.message }));
    };
    attempt();
    this.#every(this.#hbInterval, attempt);
  }

  async updateAssociation(key: string, options: { releaseRequest?: boolean; gracefulReleaseSeconds?: number } = {}): Promise<number> {
    const a = this.#assocs.get(key);
    if (!a) throw new Error(`no PFCP association with ${key}`);
    const ies: Ie[] = [ie(T.NodeId, this.#o.nodeId), ie(T.UpFunctionFeatures, { flags: [...UP_FUNCTION_FEATURES], octets: 4 })];
    if (options.releaseRequest) ies.push(ie(T.PfcpAssociationReleaseRequest, { flags: ['SARR'], octets: 1 }));
    if (options.gracefulReleaseSeconds !== undefined) ies.push(ie(T.GracefulReleasePeriod, { timer: gracefulTimer(options.gracefulReleaseSeconds) }));
    const response = await this.#request(a.address, a.port, { type: M.AssociationUpdateRequest, sequence: 0, ies });
    return getValue(response.ies, T.Cause)?.cause ?? 0;
  }

  async releaseAssociation(key: string): Promise<number> {
    const a = this.#assocs.get(key);
    if (!a) throw new Error(`no PFCP association with ${key}`);
    const response = await this.#request(a.address, a.port, { type: M.AssociationReleaseRequest, sequence: 0, ies: [ie(T.NodeId, this.#o.nodeId)] });
    const cause = getValue(response.ies, T.Cause)?.cause ?? 0;
    if (cause === C.RequestAccepted) {
      const owned = [...this.#state.entries()].filter(([, s]) => s.record.association === a.key).map(([seid]) => seid);
      for (const seid of owned) this.#removeSession(seid);
      this.#dropAssociation(a);
      this.#log.log('info', 'PFCP association released', { smf: a.key, initiator: 'upf', sessions: owned.length });
    }
    return cause;
  }

  #scheduleHeartbeat(a: Association, delayMs: number): void {
    if (a.heartbeat) clearTimeout(a.heartbeat);
    a.heartbeat = setTimeout(this.#guarded('heartbeat', () => {
      if (this.#closed || this.#assocs.get(a.key) !== a) return;
      const sentAt = process.hrtime.bigint();
      this.#request(a.address, a.port, { type: M.HeartbeatRequest, sequence: 0, ies: [ie(T.RecoveryTimeStamp, { ntpSeconds: this.recoveryTimeStamp })] }).then(
        this.#guarded('heartbeat response', (r: PfcpMessage) => {
          this.metrics.heartbeatRtt.observe({ peer: a.key }, Number(process.hrtime.bigint() - sentAt) / 1e9);
          a.lost = false;
          const rts = getValue(r.ies, T.RecoveryTimeStamp);
          if (rts !== undefined) this.#checkPeerRecovery(a, rts.ntpSeconds);
          if (this.#assocs.get(a.key) === a) this.#scheduleHeartbeat(a, this.#hbInterval);
        }),
        this.#guarded('heartbeat timeout', () => {
          if (this.#assocs.get(a.key) !== a) return;
          if (!a.lost) this.#smfLost(a, `${this.#n1 + 1} Heartbeat Requests unanswered`);
          if (this.#assocs.get(a.key) === a) this.#scheduleHeartbeat(a, this.#hbInterval);
        }),
      );
    }), delayMs);
  }

  // ---- requests of the UPF ----------------------------------------------------------------

  /** Sends a request, again every T1 up to N1 times; resolves with the response. */
  #request(address: string, port: number, m: PfcpMessage): Promise<PfcpMessage> {
    const sequence = this.#nextSequence;
    this.#nextSequence = sequence >= 0xffffff ? 1 : sequence + 1;
    const msg = { ...m, sequence };
    let bytes: Uint8Array;
    let socket: dgram.Socket;
    try {
      bytes = encodeMessage(msg);
      socket = this.#socketFor(address);
    } catch (e) {
      return Promise.reject(e as Error);
    }
    return new Promise((resolve, reject) => {
      const p: Pending = { type: m.type, address, port, attempts: 1, resolve, reject };
      const arm = (): void => {
        p.timer = setTimeout(() => {
          if (this.#closed) return;
          const name = messageName(m.type) as string;
          if (p.attempts > this.#n1) {
            this.#pending.delete(sequence);
            this.metrics.timeouts.inc({ type: name });
            reject(new Error(`${name} to ${address}:${port} unanswered after ${p.attempts} attempts`));
            return;
          }
          p.attempts++;
          this.metrics.retransmissions.inc({ type: name });
          socket.send(bytes, port, address);
          arm();
        }, this.#t1);
      };
      this.#pending.set(sequence, p);
      this.#send(socket, bytes, address, port, msg);
      arm();
    });
  }

  #onResponse(m: PfcpMessage, rinfo: dgram.RemoteInfo): void {
    const p = this.#pending.get(m.sequence);
    if (p === undefined || p.address !== rinfo.address || p.port !== rinfo.port) {
      this.metrics.malformed.inc({ reason: 'unmatched-response' });
      this.#log.log('debug', 'PFCP response without a request dropped', { peer: rinfo.address, type: messageName(m.type), sequence: m.sequence });
      return;
    }
    if (m.type === M.VersionNotSupportedResponse || responseTypeOf[p.type] === m.type) {
      clearTimeout(p.timer);
      this.#pending.delete(m.sequence);
      if (m.type === M.VersionNotSupportedResponse) p.reject(new Error(`${rinfo.address} does not support PFCP version 1`));
      else p.resolve(m);
    } else {
      this.metrics.malformed.inc({ reason: 'unmatched-response' });
    }
  }

  // ---- sessions ---------------------------------------------------------------------------

  #choices(seid: bigint, current: SessionState | undefined): Choices & { rollback(): void } {
    const newTeids: number[] = [];
    const newUe: string[] = [];
    const byChooseId = new Map<number, FTeid>();
    const sessionUe = new Map<4 | 6, string>();
    for (const held of current?.pdrs.values() ?? []) {
      for (const a of held.ue) sessionUe.set(a.includes(':') ? 6 : 4, a);
    }
    const n3 = this.#o.fTeidAddresses;
    const wrap = <R>(pdrId: number, f: () => R): R => {
      try {
        return f();
      } catch (e) {
        if (e instanceof AllocationError) {
          throw new RequestError(e.kind === 'exhausted' ? C.NoResourcesAvailable : C.RuleCreationModificationFailure, `PDR ${pdrId}: ${e.message}`, undefined, e.kind === 'conflict' ? { kind: 'pdr', ruleId: pdrId } : undefined);
        }
        throw e;
      }
    };
    return {
      fTeid: (pdrId, want, chooseId) => {
        if (chooseId !== undefined) {
          const same = byChooseId.get(chooseId);
          if (same) return same;
        }
        if ((want.v4 && n3.ipv4 === undefined) || (want.v6 && n3.ipv6 === undefined)) {
          throw new RequestError(C.RuleCreationModificationFailure, `PDR ${pdrId}: CHOOSE asks for an IPv${want.v4 ? 4 : 6} F-TEID and the UPF has no such N3 address`, T.FTeid, { kind: 'pdr', ruleId: pdrId });
        }
        const teid = wrap(pdrId, () => this.#teids.allocate(seid));
        newTeids.push(teid);
        const f: FTeid = { teid };
        if (want.v4) f.ipv4 = n3.ipv4 as string;
        if (want.v6) f.ipv6 = n3.ipv6 as string;
        if (chooseId !== undefined) byChooseId.set(chooseId, f);
        return f;
      },
      claimFTeid: (pdrId, f) =>
        wrap(pdrId, () => {
          if (this.#teids.owner(f.teid) === undefined) newTeids.push(f.teid);
          this.#teids.claim(seid, f.teid);
        }),
      ueAddress: (pdrId, family, ni) => {
        const held = sessionUe.get(family);
        if (held !== undefined) return held;
        if (!this.#ue.serves(family, ni)) {
          throw new RequestError(C.RuleCreationModificationFailure, `PDR ${pdrId}: CHV${family} and no IPv${family} UE pool for network instance ${ni ?? '(none)'}`, T.UeIpAddress, { kind: 'pdr', ruleId: pdrId });
        }
        const a = wrap(pdrId, () => this.#ue.allocate(family, ni, seid));
        newUe.push(a);
        sessionUe.set(family, a);
        return a;
      },
      claimUeAddress: (pdrId, a) =>
        wrap(pdrId, () => {
          this.#ue.claim(seid, a);
          newUe.push(a);
        }),
      rollback: () => {
        for (const t of newTeids) this.#teids.release(t, seid);
        const keep = new Set<string>();
        for (const held of current?.pdrs.values() ?? []) for (const a of held.ue) keep.add(a);
        for (const a of newUe) if (!keep.has(a)) this.#ue.release(a, seid);
      },
    };
  }

  #onEstablishment(socket: dgram.Socket, m: PfcpMessage): [Ie[], bigint] {
    const a = this.#associationOf(m, 'Session Establishment Request');
    const fseid = getValue(m.ies, T.FSeid);
    if (fseid === undefined) throw new RequestError(C.MandatoryIeMissing, 'Session Establishment Request without CP F-SEID', T.FSeid);
    let seid = this.#nextSeid;
    while (this.#state.has(seid) || seid === 0n) seid = seid >= 0xffffffffffffffffn ? 1n : seid + 1n;
    this.#nextSeid = seid + 1n;
    const choices = this.#choices(seid, undefined);
    let stored = false;
    try {
      const parsed = readEstablishment(m.ies, choices);
      const record: SessionRecord = { seid, cpSeid: fseid.seid, association: a.key, ddnDelayMs: parsed.ddnDelayMs ?? 0 };
      if (fseid.ipv4 !== undefined) record.cpIpv4 = fseid.ipv4;
      if (fseid.ipv6 !== undefined) record.cpIpv6 = fseid.ipv6;
      // The SMF's record first: a kill between the two leaves a record that recovery drops.
      this.#store.putSession(record);
      stored = true;
      this.#sessions.create(seid, parsed.rules);
      const st: SessionState = { record, pdrs: new Map(), urrs: new Map() };
      this.#trackPdrs(st, parsed.rules.pdrs, []);
      const extras = new Map(parsed.urrExtras.map((x) => [x.urrId, x]));
      for (const urr of parsed.rules.urrs ?? []) this.#addUrr(st, urr, undefined, extras.get(urr.urrId));
      this.#state.set(seid, st);
      this.#updateGauges();
      const ies: Ie[] = [ie(T.NodeId, this.#o.nodeId), ie(T.Cause, { cause: C.RequestAccepted }), ie(T.FSeid, this.#upFSeid(socket, seid))];
      for (const c of parsed.created) ies.push(createdPdr(c));
      return [ies, fseid.seid];
    } catch (e) {
      choices.rollback();
      if (stored) this.#store.deleteSession(seid);
      throw e;
    }
  }

  #upFSeid(socket: dgram.Socket, seid: bigint): { seid: bigint; ipv4?: string; ipv6?: string } {
    let local = this.#localAddress.get(socket);
    if (local === undefined) this.#localAddress.set(socket, (local = socket.address()));
    return local.family === 'IPv6' ? { seid, ipv6: local.address } : { seid, ipv4: local.address };
  }

  #trackPdrs(st: SessionState, pdrs: readonly { pdrId: number; pdi: SessionRules['pdrs'][number]['pdi'] }[], removed: readonly number[]): void {
    for (const id of removed) if (st.pdrs.delete(id)) this.#pdrCount--;
    for (const pdr of pdrs) {
      const held: { teid?: number; ue: string[] } = { ue: [] };
      if (pdr.pdi.localFTeid) held.teid = pdr.pdi.localFTeid.teid;
      if (pdr.pdi.ueIpAddress?.ipv4 !== undefined) held.ue.push(pdr.pdi.ueIpAddress.ipv4);
      if (pdr.pdi.ueIpAddress?.ipv6Prefix !== undefined) held.ue.push(pdr.pdi.ueIpAddress.ipv6Prefix);
      if (!st.pdrs.has(pdr.pdrId)) this.#pdrCount++;
      st.pdrs.set(pdr.pdrId, held);
    }
  }

  /** Gives back what no PDR of the session holds any more. */
  #releaseUnheld(seid: bigint, st: SessionState, before: { teids: Set<number>; ue: Set<string> }): void {
    const teids = new Set<number>();
    const ue = new Set<string>();
    for (const held of st.pdrs.values()) {
      if (held.teid !== undefined) teids.add(held.teid);
      for (const a of held.ue) ue.add(a);
    }
    for (const t of before.teids) if (!teids.has(t)) this.#teids.release(t, seid);
    for (const a of before.ue) if (!ue.has(a)) this.#ue.release(a, seid);
  }

  #held(st: SessionState): { teids: Set<number>; ue: Set<string> } {
    const teids = new Set<number>();
    const ue = new Set<string>();
    for (const held of st.pdrs.values()) {
      if (held.teid !== undefined) teids.add(held.teid);
      for (const a of held.ue) ue.add(a);
    }
    return { teids, ue };
  }

  #sessionOf(m: PfcpMessage, rinfo: dgram.RemoteInfo): [bigint, SessionState] {
    const seid = m.seid as bigint;
    const st = this.#state.get(seid);
    if (st === undefined) {
      const associated = [...this.#assocs.values()].some((a) => a.address === rinfo.address);
      if (!associated) throw new RequestError(C.NoEstablishedPfcpAssociation, `no association with ${rinfo.address}`);
      throw new RequestError(C.SessionContextNotFound, `no session with SEID ${seid}`);
    }
    if (!this.#assocs.has(st.record.association)) throw new RequestError(C.NoEstablishedPfcpAssociation, `session ${seid}: its association is gone`);
    return [seid, st];
  }

  #onModification(m: PfcpMessage, rinfo: dgram.RemoteInfo): [Ie[], bigint] {
    const [seid, st] = this.#sessionOf(m, rinfo);
    const choices = this.#choices(seid, st);
    const before = this.#held(st);
    let parsed;
    let usageBefore: Usage[] = [];
    try {
      parsed = readModification(m.ies, choices);
      const wantsUsage = parsed.removedUrrs.length > 0 || parsed.queryUrrs.length > 0 || parsed.queryAllUrrs;
      if (wantsUsage) usageBefore = this.#sessions.usage(seid);
      for (const id of parsed.queryUrrs) {
        if (!st.urrs.has(id)) throw new RequestError(C.RuleCreationModificationFailure, `Query URR ${id}: no such URR`, T.QueryUrr, { kind: 'urr', ruleId: id });
      }
      this.#sessions.modify(seid, parsed.change);
    } catch (e) {
      choices.rollback();
      throw e;
    }
    // A new CP F-SEID (the SMF moved the session, clause 7.5.4.1): later messages use it.
    const fseid = getValue(m.ies, T.FSeid);
    if (fseid !== undefined) {
      const record: SessionRecord = { seid, cpSeid: fseid.seid, association: st.record.association, ddnDelayMs: st.record.ddnDelayMs };
      if (fseid.ipv4 !== undefined) record.cpIpv4 = fseid.ipv4;
      if (fseid.ipv6 !== undefined) record.cpIpv6 = fseid.ipv6;
      this.#store.putSession(record);
      st.record = record;
    }
    const c = parsed.change;
    this.#trackPdrs(st, [...(c.createPdrs ?? []), ...(c.updatePdrs ?? []).filter((p) => p.pdi !== undefined).map((p) => ({ pdrId: p.pdrId, pdi: p.pdi as SessionRules['pdrs'][number]['pdi'] }))], c.removePdrs ?? []);
    this.#releaseUnheld(seid, st, before);
    const now = Date.now();
    const ies: Ie[] = [ie(T.Cause, { cause: C.RequestAccepted })];
    // Usage of removed URRs and of queried ones goes into the response (clause 5.2.2.3.1).
    const byId = new Map(usageBefore.map((u) => [u.urrId, u]));
    const queried = parsed.queryAllUrrs ? [...st.urrs.keys()] : parsed.queryUrrs;
    for (const id of new Set([...parsed.removedUrrs, ...queried])) {
      const u = st.urrs.get(id);
      const usage = byId.get(id);
      if (u === undefined || usage === undefined) continue;
      const trigger = parsed.removedUrrs.includes(id) ? 'TERMR' : 'IMMER';
      ies.push(group(T.UsageReportSessionModificationResponse, this.#usageReport(u, usage, [trigger], now)));
    }
    for (const id of parsed.removedUrrs) this.#removeUrr(st, id);
    const extras = new Map<number, UrrExtras>(parsed.urrExtras.map((x) => [x.urrId, x]));
    for (const urr of c.createUrrs ?? []) this.#addUrr(st, urr, undefined, extras.get(urr.urrId));
    for (const upd of c.updateUrrs ?? []) this.#updateUrr(st, upd, extras.get(upd.urrId));
    this.#updateGauges();
    for (const cr of parsed.created) ies.push(createdPdr(cr));
    return [ies, st.record.cpSeid];
  }

  #onDeletion(m: PfcpMessage, rinfo: dgram.RemoteInfo): [Ie[], bigint] {
    const [seid, st] = this.#sessionOf(m, rinfo);
    const urrs = new Map(st.urrs);
    const final = this.#removeSession(seid);
    const now = Date.now();
    const ies: Ie[] = [ie(T.Cause, { cause: C.RequestAccepted })];
    for (const usage of final) {
      const u = urrs.get(usage.urrId);
      if (u !== undefined) ies.push(group(T.UsageReportSessionDeletionResponse, this.#usageReport(u, usage, ['TERMR'], now)));
    }
    return [ies, st.record.cpSeid];
  }

  /** Removes a session from the user plane and the store; returns its final usage. */
  #removeSession(seid: bigint): Usage[] {
    const st = this.#state.get(seid);
    let final: Usage[] = [];
    try {
      final = this.#sessions.delete(seid);
    } catch (e) {
      if (!(e instanceof UpfSessionError && e.code === 'ERR_UPF_SESSION_NOT_FOUND')) throw e;
    }
    if (st !== undefined) {
      const before = this.#held(st);
      this.#pdrCount -= st.pdrs.size;
      st.pdrs.clear();
      this.#releaseUnheld(seid, st, before);
      for (const id of [...st.urrs.keys()]) this.#removeUrr(st, id);
    }
    this.#state.delete(seid);
    this.#store.deleteSession(seid);
    this.#updateGauges();
    return final;
  }

  #updateGauges(): void {
    this.metrics.sessions.set(this.#state.size);
    this.metrics.pdrs.set(this.#pdrCount);
    this.metrics.associations.set(this.#assocs.size);
  }

  // ---- usage reporting --------------------------------------------------------------------

  #addUrr(st: SessionState, config: CreateUrr, kept: UrrRecord | undefined, extras: UrrExtras | undefined): void {
    const now = Date.now();
    const u: UrrState = kept
      ? { ...kept, config }
      : {
          seid: st.record.seid,
          urrId: config.urrId,
          nextSequence: 1,
          measurementStartMs: now,
          reported: { ulBytes: 0n, dlBytes: 0n, ulPackets: 0n, dlPackets: 0n },
          started: false,
          config,
        };
    if (extras?.quotaFarId !== undefined) u.quotaFarId = extras.quotaFarId;
    if (!kept || extras) this.#store.putUrr(u);
    st.urrs.set(u.urrId, u);
    this.#armUrr(u);
  }

  #updateUrr(st: SessionState, upd: UpdateUrr, extras: UrrExtras | undefined): void {
    const u = st.urrs.get(upd.urrId);
    if (u === undefined) return;
    const { urrId: _id, ...changes } = upd;
    u.config = { ...u.config, ...changes };
    if (extras?.quotaFarId !== undefined) {
      u.quotaFarId = extras.quotaFarId;
      this.#store.putUrr(u);
    }
    this.#armUrr(u);
  }

  #removeUrr(st: SessionState, urrId: number): void {
    const u = st.urrs.get(urrId);
    if (u === undefined) return;
    if (u.timer) clearTimeout(u.timer);
    this.#awaitingStart.delete(u);
    st.urrs.delete(urrId);
    this.#store.deleteUrr(st.record.seid, urrId);
  }

  /** Periodic (PERIO) and time-threshold (TIMTH) reports are due from the measurement start. */
  #armUrr(u: UrrState): void {
    if (u.timer) clearTimeout(u.timer);
    u.timer = undefined;
    const t = u.config.reportingTriggers;
    if (t.start && !u.started) this.#awaitingStart.add(u);
    else this.#awaitingStart.delete(u);
    const due: { at: number; trigger: string }[] = [];
    if (t.periodic && u.config.measurementPeriodSeconds) due.push({ at: u.measurementStartMs + u.config.measurementPeriodSeconds * 1000, trigger: 'PERIO' });
    if (t.timeThreshold && u.config.timeThresholdSeconds) due.push({ at: u.measurementStartMs + u.config.timeThresholdSeconds * 1000, trigger: 'TIMTH' });
    if (due.length === 0) return;
    const first = due.reduce((x, y) => (y.at < x.at ? y : x));
    const triggers = due.filter((d) => d.at === first.at).map((d) => d.trigger);
    u.timer = setTimeout(this.#guarded('usage report', () => this.#reportUsage(u.seid, u.urrId, triggers)), Math.max(0, first.at - Date.now()));
  }

  #pollStart(): void {
    const bySession = new Map<bigint, UrrState[]>();
    for (const u of this.#awaitingStart) {
      const list = bySession.get(u.seid) ?? [];
      list.push(u);
      bySession.set(u.seid, list);
    }
    for (const [seid, urrs] of bySession) {
      const usage = new Map(this.#sessions.usage(seid).map((x) => [x.urrId, x]));
      for (const u of urrs) {
        const x = usage.get(u.urrId);
        if (x && x.uplink.packets + x.downlink.packets > 0n) {
          u.started = true;
          this.#awaitingStart.delete(u);
          this.#reportUsage(seid, u.urrId, ['START']);
        }
      }
    }
  }

  /** A usage report's IEs (clause 7.5.8.3); moves the URR's measurement on. */
  #usageReport(u: UrrState, usage: Usage, triggers: string[], nowMs: number): Ie[] {
    const ul = usage.uplink.bytes - u.reported.ulBytes;
    const dl = usage.downlink.bytes - u.reported.dlBytes;
    const ulp = usage.uplink.packets - u.reported.ulPackets;
    const dlp = usage.downlink.packets - u.reported.dlPackets;
    const ies: Ie[] = [
      ie(T.UrrId, { ruleId: u.urrId }),
      ie(T.UrSeqn, { sequence: u.nextSequence }),
      ie(T.UsageReportTrigger, { flags: triggers, octets: 3 }),
      ie(T.StartTime, { ntpSeconds: ntpSeconds(u.measurementStartMs) }),
      ie(T.EndTime, { ntpSeconds: ntpSeconds(nowMs) }),
    ];
    if (u.config.measurementMethod.volume) {
      ies.push(ie(T.VolumeMeasurement, { total: ul + dl, uplink: ul, downlink: dl, totalPackets: ulp + dlp, uplinkPackets: ulp, downlinkPackets: dlp }));
    }
    if (u.config.measurementMethod.duration) ies.push(ie(T.DurationMeasurement, { seconds: Math.floor((nowMs - u.measurementStartMs) / 1000) }));
    u.nextSequence = (u.nextSequence + 1) % 2 ** 32;
    u.measurementStartMs = nowMs;
    u.reported = { ulBytes: usage.uplink.bytes, dlBytes: usage.downlink.bytes, ulPackets: usage.uplink.packets, dlPackets: usage.downlink.packets };
    this.#store.putUrr(u);
    this.#armUrr(u);
    return ies;
  }

  #reportUsage(seid: bigint, urrId: number, triggers: string[]): void {
    const st = this.#state.get(seid);
    const u = st?.urrs.get(urrId);
    if (st === undefined || u === undefined || this.#closed) return;
    const usage = this.#sessions.usage(seid).find((x) => x.urrId === urrId);
    if (usage === undefined) return;
    const report = this.#usageReport(u, usage, triggers, Date.now());
    this.metrics.reports.inc({ kind: 'usage' });
    this.#sessionReport(st, [ie(T.ReportType, { flags: ['USAR'], octets: 1 }), group(T.UsageReportSessionReportRequest, report)]);
  }

  /** Session Report Request to the session's SMF; its response is handled here. */
  #sessionReport(st: SessionState, ies: Ie[]): void {
    const a = this.#assocs.get(st.record.association);
    if (a === undefined) return;
    const seid = st.record.seid;
    this.#request(a.address, a.port, { type: M.SessionReportRequest, sequence: 0, seid: st.record.cpSeid, ies }).then(
      this.#guarded('Session Report Response', (r: PfcpMessage) => {
        const cause = getValue(r.ies, T.Cause)?.cause;
        if (cause === C.SessionContextNotFound) {
          // Clause 6.3.?: the SMF does not know the session any more.
          this.#log.log('warn', 'SMF does not know the session: removed', { seid, smf: a.key });
          this.#removeSession(seid);
        } else if (cause !== C.RequestAccepted) {
          this.#log.log('warn', 'Session Report Request not accepted', { seid, smf: a.key, cause });
        }
      }),
      (e: Error) => this.#log.log('warn', 'Session Report Request unanswered', { seid, smf: a.key, error: e.message }),
    );
  }

  #pollEvents(): void {
    for (;;) {
      const events = this.#sessions.events(256);
      for (const e of events) this.#onEvent(e);
      if (events.length < 256) return;
    }
  }

  #onEvent(e: UpfEvent): void {
    switch (e.type) {
      case 'volume-threshold':
        this.#reportUsage(e.seid, e.urrId, ['VOLTH']);
        return;
      case 'volume-quota':
        this.#onQuotaExhausted(e.seid, e.urrId);
        this.#reportUsage(e.seid, e.urrId, ['VOLQU']);
        return;
      case 'downlink-data': {
        const st = this.#state.get(e.seid);
        if (st === undefined) return;
        const send = (): void => {
          if (this.#state.get(e.seid) !== st) return;
          const info = e.qfi === undefined ? [] : [ie(T.DownlinkDataServiceInformation, { qfi: e.qfi })];
          this.metrics.reports.inc({ kind: 'downlink_data' });
          this.#sessionReport(st, [ie(T.ReportType, { flags: ['DLDR'], octets: 1 }), group(T.DownlinkDataReport, [ie(T.PdrId, { ruleId: e.pdrId }), ...info])]);
        };
        // DDND: the BAR's Downlink Data Notification Delay holds the report back.
        if (st.record.ddnDelayMs > 0) {
          const t = setTimeout(this.#guarded('downlink data report', () => {
            this.#timers.delete(t);
            send();
          }), st.record.ddnDelayMs);
          this.#timers.add(t);
        } else send();
        return;
      }
      case 'error-indication': {
        // Every session sending to the peer's F-TEID gets an Error Indication Report.
        for (const [seid, rules] of this.#sessions.entries()) {
          const st = this.#state.get(seid);
          const hit = rules.fars.some((f) => {
            const o = f.forwardingParameters?.outerHeaderCreation;
            return o !== undefined && o.teid === e.remote.teid && (o.ipv4 === e.remote.ipv4 || o.ipv6 === e.remote.ipv6);
          });
          if (!hit || st === undefined) continue;
          const fteid = { v4: e.remote.ipv4 !== undefined, v6: e.remote.ipv6 !== undefined, ch: false, ...e.remote };
          this.metrics.reports.inc({ kind: 'error_indication' });
          this.#sessionReport(st, [ie(T.ReportType, { flags: ['ERIR'], octets: 1 }), group(T.ErrorIndicationReport, [ie(T.FTeid, fteid)])]);
        }
        return;
      }
    }
  }

  /** QUOAC: the URR's PDRs switch to its FAR ID for Quota Action, and the quota is lifted. */
  #onQuotaExhausted(seid: bigint, urrId: number): void {
    const u = this.#state.get(seid)?.urrs.get(urrId);
    if (u?.quotaFarId === undefined) return;
    const rules = this.#sessions.get(seid);
    if (rules === undefined) return;
    const pdrs = rules.pdrs.filter((p) => p.urrIds?.includes(urrId)).map((p) => ({ pdrId: p.pdrId, farId: u.quotaFarId as number }));
    try {
      this.#sessions.modify(seid, { updatePdrs: pdrs, updateUrrs: [{ urrId, volumeQuota: {} }] });
      this.#log.log('info', 'quota used up: PDRs switched to the quota action FAR', { seid, urrId, farId: u.quotaFarId });
    } catch (e) {
      this.#log.log('error', 'quota action failed', { seid, urrId, error: (e as Error).message });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) {
      clearTimeout(t);
      clearInterval(t);
    }
    for (const a of this.#assocs.values()) if (a.heartbeat) clearTimeout(a.heartbeat);
    for (const st of this.#state.values()) for (const u of st.urrs.values()) if (u.timer) clearTimeout(u.timer);
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error('PFCP node closed'));
    }
    this.#pending.clear();
    await Promise.all(this.#sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    if (this.#control) await new Promise<void>((resolve) => (this.#control as http.Server).close(() => resolve()));
    this.#log.log('info', 'PFCP node stopped', { sessions: this.#state.size });
  }
}

function createdPdr(c: CreatedPdr): Ie {
  const ies: Ie[] = [ie(T.PdrId, { ruleId: c.pdrId })];
  if (c.fteid) ies.push(ie(T.FTeid, { v4: c.fteid.ipv4 !== undefined, v6: c.fteid.ipv6 !== undefined, ch: false, ...c.fteid }));
  if (c.ueIpv4 !== undefined || c.ueIpv6Prefix !== undefined) {
    const v: { destination: boolean; chooseV4: boolean; chooseV6: boolean; ipv4?: string; ipv6?: string; ipv6PrefixLength?: number } = {
      destination: false,
      chooseV4: false,
      chooseV6: false,
    };
    if (c.ueIpv4 !== undefined) v.ipv4 = c.ueIpv4;
    if (c.ueIpv6Prefix !== undefined) {
      const [addr, len] = c.ueIpv6Prefix.split('/');
      v.ipv6 = addr as string;
      if (len !== '64') v.ipv6PrefixLength = Number(len);
    }
    ies.push(ie(T.UeIpAddress, v));
  }
  return group(T.CreatedPdr, ies);
}

/** Graceful Release Period (clause 8.2.78): timer unit and value in one octet. */
function gracefulTimer(seconds: number): number {
  if (seconds <= 31 * 2) return (0 << 5) | Math.ceil(seconds / 2);
  if (seconds <= 31 * 60) return (1 << 5) | Math.ceil(seconds / 60);
  return (2 << 5) | Math.min(31, Math.ceil(seconds / 600));
}

function toRequestError(e: unknown): RequestError {
  if (e instanceof RequestError) return e;
  if (e instanceof UpfSessionError) {
    switch (e.code) {
      case 'ERR_UPF_RULE':
        return new RequestError(C.RuleCreationModificationFailure, e.message, undefined, e.rule && { kind: e.rule.kind, ruleId: e.rule.id });
      case 'ERR_UPF_NO_RESOURCES':
        return new RequestError(C.NoResourcesAvailable, e.message);
      case 'ERR_UPF_SESSION_NOT_FOUND':
        return new RequestError(C.SessionContextNotFound, e.message);
      case 'ERR_UPF_SESSION_EXISTS':
        return new RequestError(C.RequestRejected, e.message);
    }
  }
  return new RequestError(C.RequestRejected, (e as Error).message ?? String(e));
}

/** Type, sequence and SEID of a datagram whose body could not be decoded (enough to answer it). */
function peekHeader(buf: Buffer): { type: number; sequence: number; seid?: bigint } | undefined {
  if (buf.length < 8) return undefined;
  const s = ((buf[0] as number) & 1) === 1;
  if (s && buf.length < 16) return undefined;
  const header: { type: number; sequence: number; seid?: bigint } = { type: buf[1] as number, sequence: buf.readUIntBE(s ? 12 : 4, 3) };
  if (s) header.seid = buf.readBigUInt64BE(4);
  return header;
}

