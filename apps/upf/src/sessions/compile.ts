// Rules as PFCP-shaped objects → their checked, parsed form (bytes, codes, flags), the form the
// records are written from. Everything a rule can get wrong is found here, before anything is
// written, and reported as ERR_UPF_RULE naming the rule.

import { CONSTANTS } from '../generated/layout';

// A plain copy: the generated module's exports may be getters (as a transpiler makes them).
const C = { ...CONSTANTS };
import { parseIpv4, parseIpv6, parsePrefix } from './addresses';
import {
  UpfSessionError,
  type CreateFar,
  type CreatePdr,
  type CreateQer,
  type CreateUrr,
  type FlowEnd,
  type Interface,
  type OuterHeaderCreation,
  type SdfFilter,
  type SessionRules,
  type VolumeLimits,
} from './types';

export type RuleKind = 'pdr' | 'far' | 'qer' | 'urr' | 'bar';

export function ruleError(kind: RuleKind, id: number, message: string): UpfSessionError {
  return new UpfSessionError('ERR_UPF_RULE', `${kind.toUpperCase()} ${id}: ${message}`, { kind, id });
}

export function noResources(message: string, rule?: { kind: RuleKind; id: number }): UpfSessionError {
  return new UpfSessionError('ERR_UPF_NO_RESOURCES', message, rule);
}

export const INTERFACES: Record<Interface, number> = {
  access: C.INTERFACE_ACCESS,
  core: C.INTERFACE_CORE,
  'sgi-lan': C.INTERFACE_SGI_LAN,
  'cp-function': C.INTERFACE_CP_FUNCTION,
};

export const OUTER_HEADER_REMOVALS = {
  'gtpu-udp-ipv4': C.OHR_GTPU_UDP_IPV4,
  'gtpu-udp-ipv6': C.OHR_GTPU_UDP_IPV6,
  'gtpu-udp-ip': C.OHR_GTPU_UDP_IP,
} as const;

export interface OuterBytes {
  flags: number;
  port: number;
  teid: number;
  ipv4: Uint8Array | undefined;
  ipv6: Uint8Array | undefined;
}

export interface CompiledSdf {
  flags: number;
  protocol: number;
  ueLen: number;
  remoteLen: number;
  filterId: number;
  uePorts: [number, number];
  remotePorts: [number, number];
  ueAddr: Uint8Array;
  remoteAddr: Uint8Array;
}

export interface CompiledPdr {
  rule: CreatePdr;
  flags: number;
  qfi: number;
  ohr: number;
  sourceInterface: number;
  sdf: CompiledSdf[];
  ueIpv4: Uint8Array | undefined;
  ueIpv6: Uint8Array | undefined;
  ueIpv6Len: number;
  localFteid: OuterBytes | undefined;
  networkInstance: Buffer | undefined;
  /** The match keys it is found by. */
  keys: MatchKeyValue[];
}

export interface MatchKeyValue {
  kind: number;
  teid: number;
  addr: Uint8Array;
  /** A map key: the kind and the TEID or address. */
  id: string;
}

export interface CompiledFar {
  rule: CreateFar;
  action: number;
  destinationInterface: number;
  flags: number;
  outer: OuterBytes | undefined;
  networkInstance: Buffer | undefined;
}

export interface CompiledQer {
  rule: CreateQer;
  flags: number;
  gate: number;
  qfi: number;
  mbrUplink: bigint;
  mbrDownlink: bigint;
}

export interface CompiledUrr {
  rule: CreateUrr;
  methods: number;
  triggers: number;
  flags: number;
  limitFlags: number;
  threshold: [bigint, bigint, bigint];
  quota: [bigint, bigint, bigint];
}

export interface CompiledSession {
  pdrs: CompiledPdr[];
  fars: CompiledFar[];
  qers: CompiledQer[];
  urrs: CompiledUrr[];
  bar: { barId: number; suggested: number | undefined } | undefined;
  keys: Map<string, MatchKeyValue>;
}

const U32 = 0xffff_ffff;
const U64 = (1n << 64n) - 1n;

function isInt(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

/** Four bytes as one number, for map keys. */
function word(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

export function teidKey(teid: number): MatchKeyValue {
  return { kind: C.MATCH_TEID, teid, addr: new Uint8Array(16), id: `t:${teid}` };
}

export function ueIpv4Key(addr: Uint8Array): MatchKeyValue {
  const a = new Uint8Array(16);
  a.set(addr.subarray(0, 4));
  return { kind: C.MATCH_UE_IPV4, teid: 0, addr: a, id: `4:${word(addr, 0)}` };
}

export function ueIpv6Key(addr: Uint8Array): MatchKeyValue {
  const a = new Uint8Array(16);
  a.set(addr.subarray(0, 8));
  return { kind: C.MATCH_UE_IPV6, teid: 0, addr: a, id: `6:${word(addr, 0)}:${word(addr, 4)}` };
}

function networkInstance(kind: RuleKind, id: number, name: string | undefined): Buffer | undefined {
  if (name === undefined || name === '') {
    return undefined;
  }
  if (typeof name !== 'string') {
    throw ruleError(kind, id, 'networkInstance must be a string');
  }
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.length > C.MAX_NETWORK_INSTANCE) {
    throw ruleError(kind, id, `networkInstance is ${bytes.length} bytes, at most ${C.MAX_NETWORK_INSTANCE}`);
  }
  return bytes;
}

function interfaceCode(kind: RuleKind, id: number, field: string, value: unknown): number {
  const code = INTERFACES[value as Interface];
  if (code === undefined) {
    throw ruleError(kind, id, `${field} ${JSON.stringify(value)} is not one of ${Object.keys(INTERFACES).join(', ')}`);
  }
  return code;
}

function address(kind: RuleKind, id: number, field: string, text: unknown, family: 4 | 6): Uint8Array {
  const parsed = typeof text === 'string' ? (family === 4 ? parseIpv4(text) : parseIpv6(text)) : undefined;
  if (parsed === undefined) {
    throw ruleError(kind, id, `${field} ${JSON.stringify(text)} is not an IPv${family} address`);
  }
  return parsed;
}

function outer(
  kind: RuleKind,
  id: number,
  field: string,
  value: { teid: number; ipv4?: string; ipv6?: string; port?: number },
): OuterBytes {
  if (!isInt(value.teid, 0, U32)) {
    throw ruleError(kind, id, `${field}.teid must be an integer from 0 to 2^32 - 1`);
  }
  let flags = 0;
  let ipv4: Uint8Array | undefined;
  let ipv6: Uint8Array | undefined;
  if (value.ipv4 !== undefined) {
    ipv4 = address(kind, id, `${field}.ipv4`, value.ipv4, 4);
    flags |= C.OUTER_IPV4;
  }
  if (value.ipv6 !== undefined) {
    ipv6 = address(kind, id, `${field}.ipv6`, value.ipv6, 6);
    flags |= C.OUTER_IPV6;
  }
  let port = 0;
  if (value.port !== undefined) {
    if (!isInt(value.port, 1, 65535)) {
      throw ruleError(kind, id, `${field}.port must be 1 to 65535`);
    }
    port = value.port;
    flags |= C.OUTER_PORT;
  }
  return { flags, port, teid: value.teid, ipv4, ipv6 };
}

function flowEnd(
  id: number,
  where: string,
  end: FlowEnd | undefined,
  family: { ipv6: boolean | undefined },
): { prefix: Uint8Array; length: number; ports: [number, number] | undefined } | undefined {
  if (end === undefined) {
    return undefined;
  }
  let prefix = new Uint8Array(16);
  let length = 0;
  let has = false;
  if (end.prefix !== undefined) {
    const p = typeof end.prefix === 'string' ? parsePrefix(end.prefix) : undefined;
    if (p === undefined) {
      throw ruleError('pdr', id, `${where}.prefix ${JSON.stringify(end.prefix)} is not an address or prefix`);
    }
    if (family.ipv6 !== undefined && family.ipv6 !== p.ipv6) {
      throw ruleError('pdr', id, `${where}.prefix is of another IP version than the filter's other end`);
    }
    family.ipv6 = p.ipv6;
    prefix = new Uint8Array(16);
    prefix.set(p.addr);
    length = p.length;
    has = true;
  }
  let ports: [number, number] | undefined;
  if (end.ports !== undefined) {
    const { from, to } = end.ports;
    if (!isInt(from, 0, 65535) || !isInt(to, 0, 65535) || from > to) {
      throw ruleError('pdr', id, `${where}.ports must be 0 to 65535 with from <= to`);
    }
    ports = [from, to];
  }
  return has || ports !== undefined ? { prefix: has ? prefix : new Uint8Array(16), length: has ? length : -1, ports } : undefined;
}

function sdf(id: number, i: number, filter: SdfFilter): CompiledSdf {
  const where = `sdfFilters[${i}]`;
  let flags = 0;
  let protocol = 0;
  if (filter.protocol !== undefined) {
    if (!isInt(filter.protocol, 0, 255)) {
      throw ruleError('pdr', id, `${where}.protocol must be 0 to 255`);
    }
    protocol = filter.protocol;
    flags |= C.SDF_PROTOCOL;
  }
  let filterId = 0;
  if (filter.filterId !== undefined) {
    if (!isInt(filter.filterId, 0, U32)) {
      throw ruleError('pdr', id, `${where}.filterId must be 0 to 2^32 - 1`);
    }
    filterId = filter.filterId;
    flags |= C.SDF_FILTER_ID;
  }
  const family: { ipv6: boolean | undefined } = { ipv6: undefined };
  const ue = flowEnd(id, `${where}.ue`, filter.ue, family);
  const remote = flowEnd(id, `${where}.remote`, filter.remote, family);
  if (ue !== undefined && ue.length >= 0) flags |= C.SDF_UE_PREFIX;
  if (remote !== undefined && remote.length >= 0) flags |= C.SDF_REMOTE_PREFIX;
  if (ue?.ports !== undefined) flags |= C.SDF_UE_PORTS;
  if (remote?.ports !== undefined) flags |= C.SDF_REMOTE_PORTS;
  if (family.ipv6 === true) flags |= C.SDF_IPV6;
  return {
    flags,
    protocol,
    ueLen: Math.max(ue?.length ?? 0, 0),
    remoteLen: Math.max(remote?.length ?? 0, 0),
    filterId,
    uePorts: ue?.ports ?? [0, 0],
    remotePorts: remote?.ports ?? [0, 0],
    ueAddr: ue?.prefix ?? new Uint8Array(16),
    remoteAddr: remote?.prefix ?? new Uint8Array(16),
  };
}

function ids(kind: RuleKind, id: number, field: string, list: number[] | undefined, max: number): number[] {
  if (list === undefined) {
    return [];
  }
  if (!Array.isArray(list)) {
    throw ruleError(kind, id, `${field} must be an array`);
  }
  if (list.length > max) {
    throw noResources(`${kind.toUpperCase()} ${id}: ${list.length} ${field}, at most ${max}`, { kind, id });
  }
  for (const v of list) {
    if (!isInt(v, 0, U32)) {
      throw ruleError(kind, id, `${field} holds ${JSON.stringify(v)}, not an id from 0 to 2^32 - 1`);
    }
  }
  if (new Set(list).size !== list.length) {
    throw ruleError(kind, id, `${field} names an id twice`);
  }
  return list;
}

function compilePdr(pdr: CreatePdr): CompiledPdr {
  const id = pdr.pdrId;
  if (!isInt(id, 0, 65535)) {
    throw ruleError('pdr', Number(id), 'pdrId must be 0 to 65535');
  }
  if (!isInt(pdr.precedence, 0, U32)) {
    throw ruleError('pdr', id, 'precedence must be 0 to 2^32 - 1');
  }
  if (!isInt(pdr.farId, 0, U32)) {
    throw ruleError('pdr', id, 'farId must be 0 to 2^32 - 1');
  }
  const pdi = pdr.pdi;
  if (pdi === undefined || typeof pdi !== 'object') {
    throw ruleError('pdr', id, 'pdi is required');
  }
  const sourceInterface = interfaceCode('pdr', id, 'pdi.sourceInterface', pdi.sourceInterface);
  let flags = 0;
  let qfi = 0;
  if (pdi.qfi !== undefined) {
    if (!isInt(pdi.qfi, 0, 63)) {
      throw ruleError('pdr', id, 'pdi.qfi must be 0 to 63');
    }
    qfi = pdi.qfi;
    flags |= C.PDR_HAS_QFI;
  }
  let localFteid: OuterBytes | undefined;
  const keys: MatchKeyValue[] = [];
  if (pdi.localFTeid !== undefined) {
    localFteid = outer('pdr', id, 'pdi.localFTeid', pdi.localFTeid);
    flags |= C.PDR_HAS_LOCAL_FTEID;
    keys.push(teidKey(pdi.localFTeid.teid));
  }
  let ueIpv4: Uint8Array | undefined;
  let ueIpv6: Uint8Array | undefined;
  let ueIpv6Len = 0;
  if (pdi.ueIpAddress !== undefined) {
    if (pdi.ueIpAddress.ipv4 !== undefined) {
      ueIpv4 = address('pdr', id, 'pdi.ueIpAddress.ipv4', pdi.ueIpAddress.ipv4, 4);
      flags |= C.PDR_UE_IPV4;
    }
    if (pdi.ueIpAddress.ipv6Prefix !== undefined) {
      const p = typeof pdi.ueIpAddress.ipv6Prefix === 'string' ? parsePrefix(pdi.ueIpAddress.ipv6Prefix) : undefined;
      if (p === undefined || !p.ipv6) {
        throw ruleError('pdr', id, `pdi.ueIpAddress.ipv6Prefix ${JSON.stringify(pdi.ueIpAddress.ipv6Prefix)} is not an IPv6 prefix`);
      }
      if (p.length < 64) {
        throw ruleError('pdr', id, `pdi.ueIpAddress.ipv6Prefix /${p.length}: UE prefixes are /64 or longer`);
      }
      ueIpv6 = p.addr;
      ueIpv6Len = p.length;
      flags |= C.PDR_UE_IPV6;
    }
    // Without an F-TEID the PDR is found by the UE's address (downlink); with one, the address
    // only restricts the packets' source.
    if (localFteid === undefined) {
      if (ueIpv4 !== undefined) keys.push(ueIpv4Key(ueIpv4));
      if (ueIpv6 !== undefined) keys.push(ueIpv6Key(ueIpv6));
    }
  }
  if (keys.length === 0) {
    throw ruleError('pdr', id, 'the PDI has neither a local F-TEID nor a UE IP address to find packets by');
  }
  const filters = pdi.sdfFilters ?? [];
  if (!Array.isArray(filters)) {
    throw ruleError('pdr', id, 'pdi.sdfFilters must be an array');
  }
  if (filters.length > C.MAX_SDF_PER_PDR) {
    throw noResources(`PDR ${id}: ${filters.length} SDF filters, at most ${C.MAX_SDF_PER_PDR}`, { kind: 'pdr', id });
  }
  let ohr: number = C.OHR_NONE;
  if (pdr.outerHeaderRemoval !== undefined) {
    const code = OUTER_HEADER_REMOVALS[pdr.outerHeaderRemoval];
    if (code === undefined) {
      throw ruleError('pdr', id, `outerHeaderRemoval ${JSON.stringify(pdr.outerHeaderRemoval)} is not supported`);
    }
    ohr = code;
  }
  ids('pdr', id, 'qerIds', pdr.qerIds, C.MAX_QER_PER_PDR);
  ids('pdr', id, 'urrIds', pdr.urrIds, C.MAX_URR_PER_PDR);
  return {
    rule: pdr,
    flags,
    qfi,
    ohr,
    sourceInterface,
    sdf: filters.map((f, i) => sdf(id, i, f)),
    ueIpv4,
    ueIpv6,
    ueIpv6Len,
    localFteid,
    networkInstance: networkInstance('pdr', id, pdi.networkInstance),
    keys,
  };
}

const ACTIONS = [
  ['forward', C.ACTION_FORWARD],
  ['drop', C.ACTION_DROP],
  ['buffer', C.ACTION_BUFFER],
  ['notifyCp', C.ACTION_NOTIFY_CP],
  ['duplicate', C.ACTION_DUPLICATE],
] as const;

export function actionBits(applyAction: CreateFar['applyAction']): number {
  let bits = 0;
  for (const [name, bit] of ACTIONS) {
    if (applyAction[name] === true) bits |= bit;
  }
  return bits;
}

export function actionOf(bits: number): CreateFar['applyAction'] {
  const out: CreateFar['applyAction'] = {};
  for (const [name, bit] of ACTIONS) {
    if ((bits & bit) !== 0) out[name] = true;
  }
  return out;
}

function compileFar(far: CreateFar): CompiledFar {
  const id = far.farId;
  if (!isInt(id, 0, U32)) {
    throw ruleError('far', Number(id), 'farId must be 0 to 2^32 - 1');
  }
  if (far.applyAction === undefined || typeof far.applyAction !== 'object') {
    throw ruleError('far', id, 'applyAction is required');
  }
  const action = actionBits(far.applyAction);
  let flags = 0;
  let destinationInterface = 0;
  let outerBytes: OuterBytes | undefined;
  let ni: Buffer | undefined;
  const fp = far.forwardingParameters;
  if (fp !== undefined) {
    flags |= C.FAR_HAS_FORWARDING;
    destinationInterface = interfaceCode('far', id, 'forwardingParameters.destinationInterface', fp.destinationInterface);
    ni = networkInstance('far', id, fp.networkInstance);
    if (fp.outerHeaderCreation !== undefined) {
      const ohc: OuterHeaderCreation = fp.outerHeaderCreation;
      outerBytes = outer('far', id, 'forwardingParameters.outerHeaderCreation', ohc);
      if (outerBytes.ipv4 === undefined && outerBytes.ipv6 === undefined) {
        throw ruleError('far', id, 'forwardingParameters.outerHeaderCreation needs an ipv4 or ipv6 address');
      }
      flags |= C.FAR_HAS_OUTER_HEADER;
    }
  }
  if ((action & C.ACTION_FORWARD) !== 0 && fp === undefined) {
    throw ruleError('far', id, 'FORW needs forwardingParameters');
  }
  if (far.barId !== undefined && !isInt(far.barId, 0, 255)) {
    throw ruleError('far', id, 'barId must be 0 to 255');
  }
  return { rule: far, action, destinationInterface, flags, outer: outerBytes, networkInstance: ni };
}

const KBPS_MAX = Number.MAX_SAFE_INTEGER;

function compileQer(qer: CreateQer): CompiledQer {
  const id = qer.qerId;
  if (!isInt(id, 0, U32)) {
    throw ruleError('qer', Number(id), 'qerId must be 0 to 2^32 - 1');
  }
  let flags = 0;
  let gate = 0;
  if (qer.gateStatus !== undefined) {
    const { uplink, downlink } = qer.gateStatus;
    for (const [name, g] of [['uplink', uplink], ['downlink', downlink]] as const) {
      if (g !== 'open' && g !== 'closed') {
        throw ruleError('qer', id, `gateStatus.${name} must be 'open' or 'closed'`);
      }
    }
    flags |= C.QER_HAS_GATE;
    if (uplink === 'closed') gate |= C.GATE_UPLINK_CLOSED;
    if (downlink === 'closed') gate |= C.GATE_DOWNLINK_CLOSED;
  }
  let mbrUplink = 0n;
  let mbrDownlink = 0n;
  if (qer.mbr !== undefined) {
    const { uplinkKbps, downlinkKbps } = qer.mbr;
    if (!isInt(uplinkKbps, 0, KBPS_MAX) || !isInt(downlinkKbps, 0, KBPS_MAX)) {
      throw ruleError('qer', id, 'mbr rates must be whole kbit/s from 0');
    }
    flags |= C.QER_HAS_MBR;
    mbrUplink = BigInt(uplinkKbps);
    mbrDownlink = BigInt(downlinkKbps);
  }
  let qfi = 0;
  if (qer.qfi !== undefined) {
    if (!isInt(qer.qfi, 0, 63)) {
      throw ruleError('qer', id, 'qfi must be 0 to 63');
    }
    qfi = qer.qfi;
    flags |= C.QER_HAS_QFI;
  }
  return { rule: qer, flags, gate, qfi, mbrUplink, mbrDownlink };
}

const METHODS = [
  ['volume', C.METHOD_VOLUME],
  ['duration', C.METHOD_DURATION],
  ['event', C.METHOD_EVENT],
] as const;
const TRIGGERS = [
  ['periodic', C.TRIGGER_PERIODIC],
  ['volumeThreshold', C.TRIGGER_VOLUME_THRESHOLD],
  ['volumeQuota', C.TRIGGER_VOLUME_QUOTA],
  ['timeThreshold', C.TRIGGER_TIME_THRESHOLD],
  ['start', C.TRIGGER_START],
] as const;

export function methodsOf(bits: number): CreateUrr['measurementMethod'] {
  const out: CreateUrr['measurementMethod'] = {};
  for (const [name, bit] of METHODS) if ((bits & bit) !== 0) out[name] = true;
  return out;
}

export function triggersOf(bits: number): CreateUrr['reportingTriggers'] {
  const out: CreateUrr['reportingTriggers'] = {};
  for (const [name, bit] of TRIGGERS) if ((bits & bit) !== 0) out[name] = true;
  return out;
}

/** Limit bits of [total, uplink, downlink] for thresholds and quotas. */
export const THRESHOLD_BITS = [C.LIMIT_THRESHOLD_TOTAL, C.LIMIT_THRESHOLD_UPLINK, C.LIMIT_THRESHOLD_DOWNLINK] as const;
export const QUOTA_BITS = [C.LIMIT_QUOTA_TOTAL, C.LIMIT_QUOTA_UPLINK, C.LIMIT_QUOTA_DOWNLINK] as const;
const VOLUMES = ['total', 'uplink', 'downlink'] as const;

function volumeLimits(
  id: number,
  field: string,
  limits: VolumeLimits | undefined,
  bits: readonly [number, number, number],
): { flags: number; values: [bigint, bigint, bigint] } {
  const values: [bigint, bigint, bigint] = [0n, 0n, 0n];
  let flags = 0;
  if (limits === undefined) {
    return { flags, values };
  }
  VOLUMES.forEach((name, i) => {
    const v = limits[name];
    if (v === undefined) return;
    if (typeof v !== 'bigint' || v < 0n || v > U64) {
      throw ruleError('urr', id, `${field}.${name} must be a bigint from 0 to 2^64 - 1`);
    }
    values[i] = v;
    flags |= bits[i]!;
  });
  return { flags, values };
}

function compileUrr(urr: CreateUrr): CompiledUrr {
  const id = urr.urrId;
  if (!isInt(id, 0, U32)) {
    throw ruleError('urr', Number(id), 'urrId must be 0 to 2^32 - 1');
  }
  if (urr.measurementMethod === undefined || urr.reportingTriggers === undefined) {
    throw ruleError('urr', id, 'measurementMethod and reportingTriggers are required');
  }
  let methods = 0;
  for (const [name, bit] of METHODS) if (urr.measurementMethod[name] === true) methods |= bit;
  let triggers = 0;
  for (const [name, bit] of TRIGGERS) if (urr.reportingTriggers[name] === true) triggers |= bit;
  let flags = 0;
  for (const [field, flag] of [
    ['measurementPeriodSeconds', C.URR_HAS_PERIOD],
    ['timeThresholdSeconds', C.URR_HAS_TIME_THRESHOLD],
  ] as const) {
    const v = urr[field];
    if (v === undefined) continue;
    if (!isInt(v, 0, U32)) {
      throw ruleError('urr', id, `${field} must be 0 to 2^32 - 1`);
    }
    flags |= flag;
  }
  const threshold = volumeLimits(id, 'volumeThreshold', urr.volumeThreshold, THRESHOLD_BITS);
  const quota = volumeLimits(id, 'volumeQuota', urr.volumeQuota, QUOTA_BITS);
  return {
    rule: urr,
    methods,
    triggers,
    flags,
    limitFlags: threshold.flags | quota.flags,
    threshold: threshold.values,
    quota: quota.values,
  };
}

function unique<T>(kind: RuleKind, rules: T[], id: (r: T) => number): void {
  const seen = new Set<number>();
  for (const r of rules) {
    const v = id(r);
    if (seen.has(v)) {
      throw ruleError(kind, v, 'appears twice in the session');
    }
    seen.add(v);
  }
}

/** Checks a whole session and parses it; throws the first fault, naming its rule. */
export function compileSession(rules: SessionRules): CompiledSession {
  if (rules === null || typeof rules !== 'object' || !Array.isArray(rules.pdrs) || !Array.isArray(rules.fars)) {
    throw new UpfSessionError('ERR_UPF_RULE', 'a session needs pdrs and fars arrays');
  }
  const qerList = rules.qers ?? [];
  const urrList = rules.urrs ?? [];
  const limits: [string, number, number][] = [
    ['PDRs', rules.pdrs.length, C.MAX_PDR_PER_SESSION],
    ['FARs', rules.fars.length, C.MAX_FAR_PER_SESSION],
    ['QERs', qerList.length, C.MAX_QER_PER_SESSION],
    ['URRs', urrList.length, C.MAX_URR_PER_SESSION],
  ];
  for (const [what, n, max] of limits) {
    if (n > max) {
      throw noResources(`${n} ${what} in one session, at most ${max}`);
    }
  }
  const pdrs = rules.pdrs.map(compilePdr);
  const fars = rules.fars.map(compileFar);
  const qers = qerList.map(compileQer);
  const urrs = urrList.map(compileUrr);
  unique('pdr', rules.pdrs, (r) => r.pdrId);
  unique('far', rules.fars, (r) => r.farId);
  unique('qer', qerList, (r) => r.qerId);
  unique('urr', urrList, (r) => r.urrId);
  const farIds = new Set(rules.fars.map((f) => f.farId));
  const qerIds = new Set(qerList.map((q) => q.qerId));
  const urrIds = new Set(urrList.map((u) => u.urrId));
  const keys = new Map<string, MatchKeyValue>();
  for (const pdr of pdrs) {
    const id = pdr.rule.pdrId;
    if (!farIds.has(pdr.rule.farId)) {
      throw ruleError('pdr', id, `FAR ${pdr.rule.farId} does not exist`);
    }
    for (const q of pdr.rule.qerIds ?? []) {
      if (!qerIds.has(q)) throw ruleError('pdr', id, `QER ${q} does not exist`);
    }
    for (const u of pdr.rule.urrIds ?? []) {
      if (!urrIds.has(u)) throw ruleError('pdr', id, `URR ${u} does not exist`);
    }
    for (const k of pdr.keys) keys.set(k.id, k);
  }
  let bar: CompiledSession['bar'];
  if (rules.bar !== undefined) {
    const { barId, suggestedBufferingPackets } = rules.bar;
    if (!isInt(barId, 0, 255)) {
      throw ruleError('bar', Number(barId), 'barId must be 0 to 255');
    }
    if (suggestedBufferingPackets !== undefined && !isInt(suggestedBufferingPackets, 0, 65535)) {
      throw ruleError('bar', barId, 'suggestedBufferingPackets must be 0 to 65535');
    }
    bar = { barId, suggested: suggestedBufferingPackets };
  }
  for (const far of fars) {
    if (far.rule.barId !== undefined && far.rule.barId !== bar?.barId) {
      throw ruleError('far', far.rule.farId, `BAR ${far.rule.barId} does not exist`);
    }
  }
  return { pdrs, fars, qers, urrs, bar, keys };
}
