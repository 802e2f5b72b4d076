// The records of fastlane-upf-rules (apps/upf/rules/src/records.rs) as bytes: written from the
// compiled rules and read back into rule objects, at the offsets the generated layout gives.

import { CONSTANTS, RECORDS } from '../generated/layout';

// Plain copies: the generated module's exports may be getters (as a transpiler makes them).
const C = { ...CONSTANTS };
const R = RECORDS;
import { formatIpv4, formatIpv6, formatPrefix } from './addresses';
import {
  actionOf,
  INTERFACES,
  methodsOf,
  OUTER_HEADER_REMOVALS,
  QUOTA_BITS,
  THRESHOLD_BITS,
  triggersOf,
  type CompiledFar,
  type CompiledPdr,
  type CompiledQer,
  type CompiledUrr,
  type MatchKeyValue,
  type OuterBytes,
} from './compile';
import type {
  CreateFar,
  CreatePdr,
  CreateQer,
  CreateUrr,
  FlowEnd,
  Interface,
  Pdi,
  SdfFilter,
  VolumeLimits,
} from './types';

const F = {
  matchKey: R.MatchKey.fields,
  matchRecord: R.MatchRecord.fields,
  head: R.ChainHead.fields,
  ruleKey: R.RuleKey.fields,
  session: R.SessionRecord.fields,
  outer: R.OuterHeader.fields,
  action: R.FarAction.fields,
  far: R.FarRecord.fields,
  qer: R.QerRecord.fields,
  limits: R.UrrLimits.fields,
  urr: R.UrrRecord.fields,
  sdf: R.SdfRecord.fields,
  hot: R.PdrHot.fields,
  pdr: R.PdrRecord.fields,
  nextHopKey: R.NextHopKey.fields,
  nextHop: R.NextHopRecord.fields,
  event: R.EventRecord.fields,
  endMarker: R.EndMarkerRecord.fields,
};

export const SIZES = {
  matchKey: R.MatchKey.size,
  matchRecord: R.MatchRecord.size,
  ruleKey: R.RuleKey.size,
  session: R.SessionRecord.size,
  far: R.FarRecord.size,
  qer: R.QerRecord.size,
  urr: R.UrrRecord.size,
  pdr: R.PdrRecord.size,
  nextHopKey: R.NextHopKey.size,
  nextHop: R.NextHopRecord.size,
  event: R.EventRecord.size,
  endMarker: R.EndMarkerRecord.size,
};

/**
 * One reusable buffer per record kind: an encoder fills it (zeroed first) and returns it, valid
 * until that encoder's next call. The tables copy what they are given, so the writer hands each
 * record over at once and nothing is allocated per record.
 */
const scratch = new Map<number, Buffer>();
function blank(size: number, kind: number): Buffer {
  const key = size * 16 + kind;
  let b = scratch.get(key);
  if (b === undefined) {
    b = Buffer.alloc(size);
    scratch.set(key, b);
  } else {
    b.fill(0);
  }
  return b;
}

const INTERFACE_NAMES = new Map<number, Interface>(Object.entries(INTERFACES).map(([k, v]) => [v, k as Interface]));
const OHR_NAMES = new Map<number, NonNullable<CreatePdr['outerHeaderRemoval']>>(
  Object.entries(OUTER_HEADER_REMOVALS).map(([k, v]) => [v, k as NonNullable<CreatePdr['outerHeaderRemoval']>]),
);

export function ruleKey(slot: number, generation: number, id: number): Buffer {
  const b = blank(SIZES.ruleKey, 1);
  b.writeUInt32LE(slot, F.ruleKey.slot.offset);
  b.writeUInt32LE(generation, F.ruleKey.generation.offset);
  b.writeUInt32LE(id, F.ruleKey.id.offset);
  return b;
}

export function readRuleKey(b: Buffer): { slot: number; generation: number; id: number } {
  return {
    slot: b.readUInt32LE(F.ruleKey.slot.offset),
    generation: b.readUInt32LE(F.ruleKey.generation.offset),
    id: b.readUInt32LE(F.ruleKey.id.offset),
  };
}

export function matchKey(key: MatchKeyValue): Buffer {
  const b = blank(SIZES.matchKey, 2);
  b.writeUInt8(key.kind, F.matchKey.kind.offset);
  b.writeUInt32LE(key.teid, F.matchKey.teid.offset);
  b.set(key.addr, F.matchKey.addr.offset);
  return b;
}

export interface ChainHead {
  generation: number;
  first: number;
}

export function matchRecord(seid: bigint, slot: number, heads: [ChainHead, ChainHead]): Buffer {
  const b = blank(SIZES.matchRecord, 3);
  b.writeBigUInt64LE(seid, F.matchRecord.seid.offset);
  b.writeUInt32LE(slot, F.matchRecord.slot.offset);
  heads.forEach((h, i) => {
    const base = F.matchRecord.heads.offset + i * R.ChainHead.size;
    b.writeUInt32LE(h.generation, base + F.head.generation.offset);
    b.writeUInt32LE(h.first >>> 0, base + F.head.first.offset);
  });
  return b;
}

export function readMatchRecord(b: Buffer): { seid: bigint; slot: number } {
  return { seid: b.readBigUInt64LE(F.matchRecord.seid.offset), slot: b.readUInt32LE(F.matchRecord.slot.offset) };
}

export interface SessionHeader {
  seid: bigint;
  slot: number;
  generation: number;
  counts: [number, number, number, number];
  bar: { barId: number; suggested: number | undefined } | undefined;
}

export function sessionRecord(s: SessionHeader): Buffer {
  const b = blank(SIZES.session, 4);
  b.writeBigUInt64LE(s.seid, F.session.seid.offset);
  b.writeUInt32LE(s.slot, F.session.slot.offset);
  b.writeUInt32LE(s.generation, F.session.generation.offset);
  b.writeUInt16LE(s.counts[0], F.session.pdrs.offset);
  b.writeUInt16LE(s.counts[1], F.session.fars.offset);
  b.writeUInt16LE(s.counts[2], F.session.qers.offset);
  b.writeUInt16LE(s.counts[3], F.session.urrs.offset);
  if (s.bar !== undefined) {
    let flags = C.SESSION_HAS_BAR;
    if (s.bar.suggested !== undefined) {
      flags |= C.SESSION_HAS_SUGGESTED_BUFFERING;
      b.writeUInt16LE(s.bar.suggested, F.session.suggested_buffering_packets.offset);
    }
    b.writeUInt8(flags, F.session.flags.offset);
    b.writeUInt8(s.bar.barId, F.session.bar_id.offset);
  }
  return b;
}

export function readSessionRecord(b: Buffer): SessionHeader {
  const flags = b.readUInt8(F.session.flags.offset);
  return {
    seid: b.readBigUInt64LE(F.session.seid.offset),
    slot: b.readUInt32LE(F.session.slot.offset),
    generation: b.readUInt32LE(F.session.generation.offset),
    counts: [
      b.readUInt16LE(F.session.pdrs.offset),
      b.readUInt16LE(F.session.fars.offset),
      b.readUInt16LE(F.session.qers.offset),
      b.readUInt16LE(F.session.urrs.offset),
    ],
    bar:
      (flags & C.SESSION_HAS_BAR) !== 0
        ? {
            barId: b.readUInt8(F.session.bar_id.offset),
            suggested:
              (flags & C.SESSION_HAS_SUGGESTED_BUFFERING) !== 0
                ? b.readUInt16LE(F.session.suggested_buffering_packets.offset)
                : undefined,
          }
        : undefined,
  };
}

export function writeOuter(b: Buffer, base: number, o: OuterBytes): void {
  b.writeUInt8(o.flags, base + F.outer.flags.offset);
  b.writeUInt16LE(o.port, base + F.outer.port.offset);
  b.writeUInt32LE(o.teid, base + F.outer.teid.offset);
  if (o.ipv4 !== undefined) b.set(o.ipv4, base + F.outer.ipv4.offset);
  if (o.ipv6 !== undefined) b.set(o.ipv6, base + F.outer.ipv6.offset);
}

function readOuter(b: Buffer, base: number): { teid: number; ipv4?: string; ipv6?: string; port?: number } {
  const flags = b.readUInt8(base + F.outer.flags.offset);
  const out: { teid: number; ipv4?: string; ipv6?: string; port?: number } = {
    teid: b.readUInt32LE(base + F.outer.teid.offset),
  };
  if ((flags & C.OUTER_IPV4) !== 0) out.ipv4 = formatIpv4(b.subarray(base + F.outer.ipv4.offset));
  if ((flags & C.OUTER_IPV6) !== 0) out.ipv6 = formatIpv6(b.subarray(base + F.outer.ipv6.offset));
  if ((flags & C.OUTER_PORT) !== 0) out.port = b.readUInt16LE(base + F.outer.port.offset);
  return out;
}

function writeAction(b: Buffer, base: number, far: CompiledFar): void {
  b.writeUInt8(far.action, base + F.action.action.offset);
  b.writeUInt8(far.destinationInterface, base + F.action.destination_interface.offset);
  b.writeUInt8(far.flags, base + F.action.flags.offset);
  if (far.outer !== undefined) writeOuter(b, base + F.action.outer.offset, far.outer);
}

export function farRecord(far: CompiledFar): Buffer {
  const b = blank(SIZES.far, 5);
  b.writeUInt32LE(far.rule.farId, F.far.far_id.offset);
  if (far.rule.barId !== undefined) {
    b.writeUInt8(C.FAR_RECORD_HAS_BAR, F.far.flags.offset);
    b.writeUInt8(far.rule.barId, F.far.bar_id.offset);
  }
  writeAction(b, F.far.action.offset, far);
  if (far.networkInstance !== undefined) {
    b.writeUInt8(far.networkInstance.length, F.far.network_instance_len.offset);
    far.networkInstance.copy(b, F.far.network_instance.offset);
  }
  return b;
}

export function readFarRecord(b: Buffer): CreateFar {
  const base = F.far.action.offset;
  const flags = b.readUInt8(base + F.action.flags.offset);
  const far: CreateFar = {
    farId: b.readUInt32LE(F.far.far_id.offset),
    applyAction: actionOf(b.readUInt8(base + F.action.action.offset)),
  };
  if ((flags & C.FAR_HAS_FORWARDING) !== 0) {
    const fp: NonNullable<CreateFar['forwardingParameters']> = {
      destinationInterface: INTERFACE_NAMES.get(b.readUInt8(base + F.action.destination_interface.offset)) ?? 'core',
    };
    const niLen = b.readUInt8(F.far.network_instance_len.offset);
    if (niLen > 0) {
      fp.networkInstance = b.toString('utf8', F.far.network_instance.offset, F.far.network_instance.offset + niLen);
    }
    if ((flags & C.FAR_HAS_OUTER_HEADER) !== 0) {
      fp.outerHeaderCreation = readOuter(b, base + F.action.outer.offset);
    }
    far.forwardingParameters = fp;
  }
  if ((b.readUInt8(F.far.flags.offset) & C.FAR_RECORD_HAS_BAR) !== 0) {
    far.barId = b.readUInt8(F.far.bar_id.offset);
  }
  return far;
}

function writeQer(b: Buffer, base: number, qer: CompiledQer, cell: number): void {
  b.writeUInt32LE(qer.rule.qerId, base + F.qer.qer_id.offset);
  b.writeUInt32LE(cell, base + F.qer.cell.offset);
  b.writeUInt8(qer.flags, base + F.qer.flags.offset);
  b.writeUInt8(qer.gate, base + F.qer.gate.offset);
  b.writeUInt8(qer.qfi, base + F.qer.qfi.offset);
  b.writeBigUInt64LE(qer.mbrUplink, base + F.qer.mbr_uplink_kbps.offset);
  b.writeBigUInt64LE(qer.mbrDownlink, base + F.qer.mbr_downlink_kbps.offset);
}

export function qerRecord(qer: CompiledQer, cell: number): Buffer {
  const b = blank(SIZES.qer, 6);
  writeQer(b, 0, qer, cell);
  return b;
}

export function readQerRecord(b: Buffer): { qer: CreateQer; cell: number } {
  const flags = b.readUInt8(F.qer.flags.offset);
  const qer: CreateQer = { qerId: b.readUInt32LE(F.qer.qer_id.offset) };
  const gate = b.readUInt8(F.qer.gate.offset);
  if ((flags & C.QER_HAS_GATE) !== 0) {
    qer.gateStatus = {
      uplink: (gate & C.GATE_UPLINK_CLOSED) !== 0 ? 'closed' : 'open',
      downlink: (gate & C.GATE_DOWNLINK_CLOSED) !== 0 ? 'closed' : 'open',
    };
  }
  if ((flags & C.QER_HAS_MBR) !== 0) {
    qer.mbr = {
      uplinkKbps: Number(b.readBigUInt64LE(F.qer.mbr_uplink_kbps.offset)),
      downlinkKbps: Number(b.readBigUInt64LE(F.qer.mbr_downlink_kbps.offset)),
    };
  }
  if ((flags & C.QER_HAS_QFI) !== 0) qer.qfi = b.readUInt8(F.qer.qfi.offset);
  return { qer, cell: b.readUInt32LE(F.qer.cell.offset) };
}

/** A URR's limits as the fast path compares them: absolute byte counts of its cell. */
export interface UrrLimits {
  urrId: number;
  cell: number;
  flags: number;
  /** The generations that set the threshold and the quota: each one's event comes once per epoch. */
  thresholdEpoch: number;
  quotaEpoch: number;
  thresholdAt: [bigint, bigint, bigint];
  quotaAt: [bigint, bigint, bigint];
}

function writeLimits(b: Buffer, base: number, l: UrrLimits): void {
  b.writeUInt32LE(l.urrId, base + F.limits.urr_id.offset);
  b.writeUInt32LE(l.cell, base + F.limits.cell.offset);
  b.writeUInt8(l.flags, base + F.limits.flags.offset);
  b.writeUInt32LE(l.thresholdEpoch, base + F.limits.threshold_epoch.offset);
  b.writeUInt32LE(l.quotaEpoch, base + F.limits.quota_epoch.offset);
  for (let i = 0; i < 3; i++) {
    b.writeBigUInt64LE(l.thresholdAt[i]!, base + F.limits.threshold_at.offset + 8 * i);
    b.writeBigUInt64LE(l.quotaAt[i]!, base + F.limits.quota_at.offset + 8 * i);
  }
}

function readLimits(b: Buffer, base: number): UrrLimits {
  const three = (offset: number): [bigint, bigint, bigint] => [
    b.readBigUInt64LE(base + offset),
    b.readBigUInt64LE(base + offset + 8),
    b.readBigUInt64LE(base + offset + 16),
  ];
  return {
    urrId: b.readUInt32LE(base + F.limits.urr_id.offset),
    cell: b.readUInt32LE(base + F.limits.cell.offset),
    flags: b.readUInt8(base + F.limits.flags.offset),
    thresholdEpoch: b.readUInt32LE(base + F.limits.threshold_epoch.offset),
    quotaEpoch: b.readUInt32LE(base + F.limits.quota_epoch.offset),
    thresholdAt: three(F.limits.threshold_at.offset),
    quotaAt: three(F.limits.quota_at.offset),
  };
}

export function urrRecord(urr: CompiledUrr, limits: UrrLimits): Buffer {
  const b = blank(SIZES.urr, 7);
  writeLimits(b, F.urr.limits.offset, limits);
  b.writeUInt8(urr.methods, F.urr.methods.offset);
  b.writeUInt8(urr.triggers, F.urr.triggers.offset);
  b.writeUInt8(urr.flags, F.urr.flags.offset);
  b.writeUInt32LE(urr.rule.measurementPeriodSeconds ?? 0, F.urr.measurement_period_seconds.offset);
  b.writeUInt32LE(urr.rule.timeThresholdSeconds ?? 0, F.urr.time_threshold_seconds.offset);
  for (let i = 0; i < 3; i++) {
    b.writeBigUInt64LE(urr.threshold[i]!, F.urr.threshold.offset + 8 * i);
    b.writeBigUInt64LE(urr.quota[i]!, F.urr.quota.offset + 8 * i);
  }
  return b;
}

const VOLUMES = ['total', 'uplink', 'downlink'] as const;

export function readUrrRecord(b: Buffer): { urr: CreateUrr; limits: UrrLimits } {
  const limits = readLimits(b, F.urr.limits.offset);
  const flags = b.readUInt8(F.urr.flags.offset);
  const urr: CreateUrr = {
    urrId: limits.urrId,
    measurementMethod: methodsOf(b.readUInt8(F.urr.methods.offset)),
    reportingTriggers: triggersOf(b.readUInt8(F.urr.triggers.offset)),
  };
  const volumes = (offset: number, bits: readonly number[]): VolumeLimits | undefined => {
    if ((limits.flags & (bits[0]! | bits[1]! | bits[2]!)) === 0) return undefined;
    const out: VolumeLimits = {};
    VOLUMES.forEach((name, i) => {
      if ((limits.flags & bits[i]!) !== 0) out[name] = b.readBigUInt64LE(offset + 8 * i);
    });
    return out;
  };
  const threshold = volumes(F.urr.threshold.offset, THRESHOLD_BITS);
  if (threshold !== undefined) urr.volumeThreshold = threshold;
  const quota = volumes(F.urr.quota.offset, QUOTA_BITS);
  if (quota !== undefined) urr.volumeQuota = quota;
  if ((flags & C.URR_HAS_PERIOD) !== 0) {
    urr.measurementPeriodSeconds = b.readUInt32LE(F.urr.measurement_period_seconds.offset);
  }
  if ((flags & C.URR_HAS_TIME_THRESHOLD) !== 0) {
    urr.timeThresholdSeconds = b.readUInt32LE(F.urr.time_threshold_seconds.offset);
  }
  return { urr, limits };
}

export interface PdrLinks {
  seid: bigint;
  far: CompiledFar;
  qers: { qer: CompiledQer; cell: number }[];
  urrs: UrrLimits[];
  next: [number, number];
}

export function pdrRecord(pdr: CompiledPdr, links: PdrLinks): Buffer {
  const b = blank(SIZES.pdr, 8);
  const hot = F.pdr.hot.offset;
  const h = F.hot;
  b.writeBigUInt64LE(links.seid, hot + h.seid.offset);
  b.writeUInt32LE(pdr.rule.precedence, hot + h.precedence.offset);
  b.writeUInt32LE(pdr.rule.farId, hot + h.far_id.offset);
  b.writeUInt32LE(links.next[0] >>> 0, hot + h.next.offset);
  b.writeUInt32LE(links.next[1] >>> 0, hot + h.next.offset + 4);
  b.writeUInt16LE(pdr.rule.pdrId, hot + h.pdr_id.offset);
  b.writeUInt8(pdr.flags, hot + h.flags.offset);
  b.writeUInt8(pdr.qfi, hot + h.qfi.offset);
  b.writeUInt8(pdr.ohr, hot + h.outer_header_removal.offset);
  b.writeUInt8(pdr.sourceInterface, hot + h.source_interface.offset);
  b.writeUInt8(pdr.sdf.length, hot + h.sdf_count.offset);
  b.writeUInt8(links.qers.length, hot + h.qer_count.offset);
  b.writeUInt8(links.urrs.length, hot + h.urr_count.offset);
  b.writeUInt8(pdr.ueIpv6Len, hot + h.ue_ipv6_prefix_len.offset);
  writeAction(b, hot + h.far.offset, links.far);
  links.qers.forEach(({ qer, cell }, i) => writeQer(b, hot + h.qers.offset + i * R.QerRecord.size, qer, cell));
  links.urrs.forEach((l, i) => writeLimits(b, hot + h.urrs.offset + i * R.UrrLimits.size, l));
  pdr.sdf.forEach((s, i) => {
    const base = F.pdr.sdf.offset + i * R.SdfRecord.size;
    b.writeUInt8(s.flags, base + F.sdf.flags.offset);
    b.writeUInt8(s.protocol, base + F.sdf.protocol.offset);
    b.writeUInt8(s.ueLen, base + F.sdf.ue_prefix_len.offset);
    b.writeUInt8(s.remoteLen, base + F.sdf.remote_prefix_len.offset);
    b.writeUInt32LE(s.filterId, base + F.sdf.filter_id.offset);
    b.writeUInt16LE(s.uePorts[0], base + F.sdf.ue_ports.offset);
    b.writeUInt16LE(s.uePorts[1], base + F.sdf.ue_ports.offset + 2);
    b.writeUInt16LE(s.remotePorts[0], base + F.sdf.remote_ports.offset);
    b.writeUInt16LE(s.remotePorts[1], base + F.sdf.remote_ports.offset + 2);
    b.set(s.ueAddr, base + F.sdf.ue_addr.offset);
    b.set(s.remoteAddr, base + F.sdf.remote_addr.offset);
  });
  if (pdr.ueIpv4 !== undefined) b.set(pdr.ueIpv4, F.pdr.ue_ipv4.offset);
  if (pdr.ueIpv6 !== undefined) b.set(pdr.ueIpv6, F.pdr.ue_ipv6.offset);
  if (pdr.localFteid !== undefined) writeOuter(b, F.pdr.local_fteid.offset, pdr.localFteid);
  if (pdr.networkInstance !== undefined) {
    b.writeUInt8(pdr.networkInstance.length, hot + h.network_instance_len.offset);
    pdr.networkInstance.copy(b, F.pdr.network_instance.offset);
  }
  return b;
}

function readFlowEnd(b: Buffer, base: number, flags: number, prefixBit: number, portsBit: number, which: 'ue' | 'remote'): FlowEnd | undefined {
  const end: FlowEnd = {};
  const ipv6 = (flags & C.SDF_IPV6) !== 0;
  if ((flags & prefixBit) !== 0) {
    const addrOffset = which === 'ue' ? F.sdf.ue_addr.offset : F.sdf.remote_addr.offset;
    const lenOffset = which === 'ue' ? F.sdf.ue_prefix_len.offset : F.sdf.remote_prefix_len.offset;
    const addr = b.subarray(base + addrOffset, base + addrOffset + (ipv6 ? 16 : 4));
    const length = b.readUInt8(base + lenOffset);
    end.prefix = formatPrefix({ ipv6, addr, length }, length === (ipv6 ? 128 : 32));
  }
  if ((flags & portsBit) !== 0) {
    const portsOffset = which === 'ue' ? F.sdf.ue_ports.offset : F.sdf.remote_ports.offset;
    end.ports = { from: b.readUInt16LE(base + portsOffset), to: b.readUInt16LE(base + portsOffset + 2) };
  }
  return end.prefix !== undefined || end.ports !== undefined ? end : undefined;
}

/** A PDR back as its rule object, with the cells and limits it was linked to. */
export function readPdrRecord(b: Buffer): CreatePdr {
  const hot = F.pdr.hot.offset;
  const h = F.hot;
  const flags = b.readUInt8(hot + h.flags.offset);
  const pdi: Pdi = {
    sourceInterface: INTERFACE_NAMES.get(b.readUInt8(hot + h.source_interface.offset)) ?? 'access',
  };
  if ((flags & C.PDR_HAS_LOCAL_FTEID) !== 0) {
    const o = readOuter(b, F.pdr.local_fteid.offset);
    const fteid: NonNullable<Pdi['localFTeid']> = { teid: o.teid };
    if (o.ipv4 !== undefined) fteid.ipv4 = o.ipv4;
    if (o.ipv6 !== undefined) fteid.ipv6 = o.ipv6;
    pdi.localFTeid = fteid;
  }
  if ((flags & (C.PDR_UE_IPV4 | C.PDR_UE_IPV6)) !== 0) {
    const ue: NonNullable<Pdi['ueIpAddress']> = {};
    if ((flags & C.PDR_UE_IPV4) !== 0) ue.ipv4 = formatIpv4(b.subarray(F.pdr.ue_ipv4.offset));
    if ((flags & C.PDR_UE_IPV6) !== 0) {
      ue.ipv6Prefix = formatPrefix({
        ipv6: true,
        addr: b.subarray(F.pdr.ue_ipv6.offset, F.pdr.ue_ipv6.offset + 16),
        length: b.readUInt8(hot + h.ue_ipv6_prefix_len.offset),
      });
    }
    pdi.ueIpAddress = ue;
  }
  const sdfCount = b.readUInt8(hot + h.sdf_count.offset);
  if (sdfCount > 0) {
    const filters: SdfFilter[] = [];
    for (let i = 0; i < sdfCount; i++) {
      const base = F.pdr.sdf.offset + i * R.SdfRecord.size;
      const sflags = b.readUInt8(base + F.sdf.flags.offset);
      const f: SdfFilter = {};
      if ((sflags & C.SDF_PROTOCOL) !== 0) f.protocol = b.readUInt8(base + F.sdf.protocol.offset);
      const ue = readFlowEnd(b, base, sflags, C.SDF_UE_PREFIX, C.SDF_UE_PORTS, 'ue');
      if (ue !== undefined) f.ue = ue;
      const remote = readFlowEnd(b, base, sflags, C.SDF_REMOTE_PREFIX, C.SDF_REMOTE_PORTS, 'remote');
      if (remote !== undefined) f.remote = remote;
      if ((sflags & C.SDF_FILTER_ID) !== 0) f.filterId = b.readUInt32LE(base + F.sdf.filter_id.offset);
      filters.push(f);
    }
    pdi.sdfFilters = filters;
  }
  if ((flags & C.PDR_HAS_QFI) !== 0) pdi.qfi = b.readUInt8(hot + h.qfi.offset);
  const niLen = b.readUInt8(hot + h.network_instance_len.offset);
  if (niLen > 0) {
    pdi.networkInstance = b.toString('utf8', F.pdr.network_instance.offset, F.pdr.network_instance.offset + niLen);
  }
  const pdr: CreatePdr = {
    pdrId: b.readUInt16LE(hot + h.pdr_id.offset),
    precedence: b.readUInt32LE(hot + h.precedence.offset),
    pdi,
    farId: b.readUInt32LE(hot + h.far_id.offset),
  };
  const ohr = OHR_NAMES.get(b.readUInt8(hot + h.outer_header_removal.offset));
  if (ohr !== undefined) pdr.outerHeaderRemoval = ohr;
  const qerCount = b.readUInt8(hot + h.qer_count.offset);
  if (qerCount > 0) {
    pdr.qerIds = Array.from({ length: qerCount }, (_, i) =>
      b.readUInt32LE(hot + h.qers.offset + i * R.QerRecord.size + F.qer.qer_id.offset),
    );
  }
  const urrCount = b.readUInt8(hot + h.urr_count.offset);
  if (urrCount > 0) {
    pdr.urrIds = Array.from({ length: urrCount }, (_, i) =>
      b.readUInt32LE(hot + h.urrs.offset + i * R.UrrLimits.size + F.limits.urr_id.offset),
    );
  }
  return pdr;
}

export interface EventFields {
  kind: number;
  flags: number;
  qfi: number;
  id: number;
  seid: bigint;
  remote: { teid: number; ipv4?: string; ipv6?: string; port?: number };
}

export function readEventRecord(b: Buffer): EventFields {
  return {
    kind: b.readUInt8(F.event.kind.offset),
    flags: b.readUInt8(F.event.flags.offset),
    qfi: b.readUInt8(F.event.qfi.offset),
    id: b.readUInt32LE(F.event.id.offset),
    seid: b.readBigUInt64LE(F.event.seid.offset),
    remote: readOuter(b, F.event.remote.offset),
  };
}

export function endMarkerRecord(seid: bigint, farId: number, oldPath: OuterBytes): Buffer {
  const b = blank(SIZES.endMarker, 9);
  b.writeBigUInt64LE(seid, F.endMarker.seid.offset);
  b.writeUInt32LE(farId, F.endMarker.far_id.offset);
  writeOuter(b, F.endMarker.old_path.offset, oldPath);
  return b;
}

export function nextHopKey(family: 4 | 6, addr: Uint8Array): Buffer {
  const b = Buffer.alloc(SIZES.nextHopKey);
  b.writeUInt8(family, F.nextHopKey.family.offset);
  b.set(addr, F.nextHopKey.addr.offset);
  return b;
}

export function nextHopRecord(mac: Uint8Array, port: number, state: number, ifindex: number): Buffer {
  const b = Buffer.alloc(SIZES.nextHop);
  b.set(mac, F.nextHop.mac.offset);
  b.writeUInt16LE(port, F.nextHop.port.offset);
  b.writeUInt8(state, F.nextHop.state.offset);
  b.writeUInt32LE(ifindex, F.nextHop.ifindex.offset);
  return b;
}

export function readNextHopRecord(b: Buffer): { mac: Uint8Array; port: number; state: number; ifindex: number } {
  return {
    mac: b.subarray(F.nextHop.mac.offset, F.nextHop.mac.offset + 6),
    port: b.readUInt16LE(F.nextHop.port.offset),
    state: b.readUInt8(F.nextHop.state.offset),
    ifindex: b.readUInt32LE(F.nextHop.ifindex.offset),
  };
}
