// Typed bodies of the IEs a UPF handles (TS 29.244 clause 8.2). Each codec reads what its flags
// say is present; octets after that are kept by the IE layer as `extra` (clause 8.1.1: receivers
// ignore them), so re-encoding gives the same bytes.
import type { Reader, Writer } from './bytes';
import { IeType } from './types';

interface Codec<T> {
  decode(r: Reader): T;
  encode(w: Writer, v: T): void;
}

/** Bit names per octet, bit 1 (least significant) first; null for spare bits. */
type BitNames = readonly (readonly (string | null)[])[];

/** A set of named bit flags; bits without a name in this codec are kept as `o<octet>b<bit>`. */
export interface Flags {
  flags: string[];
  /** Octets on the wire; encode pads up to this (at least the octets the flags need). */
  octets?: number;
}

function flagsCodec(names: BitNames, minOctets: number): Codec<Flags> {
  const nameAt = (octet: number, bit: number): string => names[octet]?.[bit] ?? `o${octet + 5}b${bit + 1}`;
  const position = new Map<string, [number, number]>();
  for (let o = 0; o < 16; o++) for (let b = 0; b < 8; b++) position.set(nameAt(o, b), [o, b]);
  return {
    decode(r) {
      const octets = r.remaining;
      if (octets < minOctets) r.fail(`needs at least ${minOctets} octets of flags, has ${octets}`);
      const flags: string[] = [];
      for (let o = 0; o < octets && o < 16; o++) {
        const byte = r.u8('flags');
        for (let b = 0; b < 8; b++) if (byte & (1 << b)) flags.push(nameAt(o, b));
      }
      return { flags, octets: Math.min(octets, 16) };
    },
    encode(w, v) {
      const bytes = new Uint8Array(16);
      let used = Math.max(minOctets, v.octets ?? 0);
      for (const f of v.flags) {
        const at = position.get(f);
        if (!at) throw new RangeError(`unknown flag ${JSON.stringify(f)}`);
        bytes[at[0]] = (bytes[at[0]] as number) | (1 << at[1]);
        used = Math.max(used, at[0] + 1);
      }
      w.bytes(bytes.subarray(0, used));
    },
  };
}

const u8Codec = <K extends string>(key: K): Codec<Record<K, number>> => ({
  decode: (r) => ({ [key]: r.u8(key) }) as Record<K, number>,
  encode: (w, v) => w.u8(v[key]),
});
const u16Codec = <K extends string>(key: K): Codec<Record<K, number>> => ({
  decode: (r) => ({ [key]: r.u16(key) }) as Record<K, number>,
  encode: (w, v) => w.u16(v[key]),
});
const u32Codec = <K extends string>(key: K): Codec<Record<K, number>> => ({
  decode: (r) => ({ [key]: r.u32(key) }) as Record<K, number>,
  encode: (w, v) => w.u32(v[key]),
});
/** Interface values (Source/Destination Interface): the low 4 bits of one octet. */
const interfaceCodec: Codec<{ interface: number }> = {
  decode: (r) => ({ interface: r.u8('interface value') & 0x0f }),
  encode: (w, v) => w.u8(v.interface & 0x0f),
};

export interface NodeId {
  kind: 'ipv4' | 'ipv6' | 'fqdn';
  value: string;
}

/** DNS label encoding (RFC 1035 clause 3.1, as TS 29.244 clause 8.2.38 asks for the FQDN). */
function encodeDnsLabels(w: Writer, name: string): void {
  for (const label of name.split('.')) {
    const bytes = Buffer.from(label, 'latin1');
    if (bytes.length === 0 || bytes.length > 63) throw new RangeError(`bad DNS label in ${JSON.stringify(name)}`);
    w.u8(bytes.length);
    w.bytes(bytes);
  }
}

/** Labels of printable ASCII without dots (so that they join back to the same text), else undefined. */
function decodeDnsLabels(b: Uint8Array): string | undefined {
  const labels: string[] = [];
  let i = 0;
  while (i < b.length) {
    const n = b[i] as number;
    if (n === 0 || n > 63 || i + 1 + n > b.length) return undefined;
    const label = b.subarray(i + 1, i + 1 + n);
    if (!label.every((c) => c > 0x20 && c < 0x7f && c !== 0x2e)) return undefined;
    labels.push(Buffer.from(label).toString('latin1'));
    i += 1 + n;
  }
  return labels.length ? labels.join('.') : undefined;
}

const nodeId: Codec<NodeId> = {
  decode(r) {
    const kind = r.u8('node id type') & 0x0f;
    if (kind === 0) return { kind: 'ipv4', value: r.ipv4('IPv4 address') };
    if (kind === 1) return { kind: 'ipv6', value: r.ipv6('IPv6 address') };
    if (kind === 2) {
      const value = decodeDnsLabels(r.rest());
      return value === undefined ? r.fail('FQDN is not a DNS label sequence') : { kind: 'fqdn', value };
    }
    return r.fail(`node id type ${kind} is not 0 (IPv4), 1 (IPv6) or 2 (FQDN)`);
  },
  encode(w, v) {
    w.u8(v.kind === 'ipv4' ? 0 : v.kind === 'ipv6' ? 1 : 2);
    if (v.kind === 'ipv4') w.ipv4(v.value);
    else if (v.kind === 'ipv6') w.ipv6(v.value);
    else encodeDnsLabels(w, v.value);
  },
};

/** Network Instance (clause 8.2.4): DNS labels when they parse as such, else the raw octets. */
export type NetworkInstance = { name: string } | { raw: Uint8Array };
const networkInstance: Codec<NetworkInstance> = {
  decode(r) {
    const raw = r.rest();
    const name = decodeDnsLabels(raw);
    return name === undefined ? { raw } : { name };
  },
  encode(w, v) {
    if ('name' in v) encodeDnsLabels(w, v.name);
    else w.bytes(v.raw);
  },
};

export interface FSeid {
  seid: bigint;
  ipv4?: string;
  ipv6?: string;
}
const fSeid: Codec<FSeid> = {
  decode(r) {
    const f = r.u8('flags');
    const v: FSeid = { seid: r.u64('SEID') };
    if (f & 2) v.ipv4 = r.ipv4('IPv4 address');
    if (f & 1) v.ipv6 = r.ipv6('IPv6 address');
    return v;
  },
  encode(w, v) {
    w.u8((v.ipv4 !== undefined ? 2 : 0) | (v.ipv6 !== undefined ? 1 : 0));
    w.u64(v.seid);
    if (v.ipv4 !== undefined) w.ipv4(v.ipv4);
    if (v.ipv6 !== undefined) w.ipv6(v.ipv6);
  },
};

/** F-TEID (clause 8.2.3). With CH the UP function chooses the TEID; v4/v6 then say which
 * address families to choose, and no TEID or address is on the wire. */
export interface FTeid {
  v4: boolean;
  v6: boolean;
  ch: boolean;
  teid?: number;
  ipv4?: string;
  ipv6?: string;
  /** Present when CHID is set: F-TEIDs with the same CHOOSE ID share one TEID. */
  chooseId?: number;
}
const fTeid: Codec<FTeid> = {
  decode(r) {
    const f = r.u8('flags');
    const v: FTeid = { v4: (f & 1) !== 0, v6: (f & 2) !== 0, ch: (f & 4) !== 0 };
    if (!v.ch) {
      v.teid = r.u32('TEID');
      if (v.v4) v.ipv4 = r.ipv4('IPv4 address');
      if (v.v6) v.ipv6 = r.ipv6('IPv6 address');
    } else if (f & 8) {
      v.chooseId = r.u8('CHOOSE ID');
    }
    return v;
  },
  encode(w, v) {
    const chid = v.ch && v.chooseId !== undefined;
    w.u8((v.v4 ? 1 : 0) | (v.v6 ? 2 : 0) | (v.ch ? 4 : 0) | (chid ? 8 : 0));
    if (!v.ch) {
      w.u32(v.teid ?? 0);
      if (v.v4) w.ipv4(required(v.ipv4, 'F-TEID ipv4 (V4 set)'));
      if (v.v6) w.ipv6(required(v.ipv6, 'F-TEID ipv6 (V6 set)'));
    } else if (chid) {
      w.u8(v.chooseId as number);
    }
  },
};

function required<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new RangeError(`${what} is required`);
  return v;
}

/** UE IP Address (clause 8.2.62). */
export interface UeIpAddress {
  /** S/D: set when the address is a destination (downlink PDI / FAR) address. */
  destination: boolean;
  ipv4?: string;
  ipv6?: string;
  /** CHV4 / CHV6: the UP function allocates the address. */
  chooseV4: boolean;
  chooseV6: boolean;
  /** IPv6D: IPv6 prefix delegation bits. */
  ipv6PrefixDelegationBits?: number;
  /** IP6PL: IPv6 prefix length. */
  ipv6PrefixLength?: number;
}
const ueIpAddress: Codec<UeIpAddress> = {
  decode(r) {
    const f = r.u8('flags');
    const v: UeIpAddress = { destination: (f & 4) !== 0, chooseV4: (f & 0x10) !== 0, chooseV6: (f & 0x20) !== 0 };
    if (f & 2) v.ipv4 = r.ipv4('IPv4 address');
    if (f & 1) v.ipv6 = r.ipv6('IPv6 address');
    if (f & 8) v.ipv6PrefixDelegationBits = r.u8('IPv6 prefix delegation bits');
    if (f & 0x40) v.ipv6PrefixLength = r.u8('IPv6 prefix length');
    return v;
  },
  encode(w, v) {
    w.u8(
      (v.ipv6 !== undefined ? 1 : 0) |
        (v.ipv4 !== undefined ? 2 : 0) |
        (v.destination ? 4 : 0) |
        (v.ipv6PrefixDelegationBits !== undefined ? 8 : 0) |
        (v.chooseV4 ? 0x10 : 0) |
        (v.chooseV6 ? 0x20 : 0) |
        (v.ipv6PrefixLength !== undefined ? 0x40 : 0),
    );
    if (v.ipv4 !== undefined) w.ipv4(v.ipv4);
    if (v.ipv6 !== undefined) w.ipv6(v.ipv6);
    if (v.ipv6PrefixDelegationBits !== undefined) w.u8(v.ipv6PrefixDelegationBits);
    if (v.ipv6PrefixLength !== undefined) w.u8(v.ipv6PrefixLength);
  },
};

/** SDF Filter (clause 8.2.5); the flow description is IPFilterRule text (RFC 6733). */
export interface SdfFilter {
  flowDescription?: string;
  /** TTC: ToS / traffic class and its mask. */
  tosTrafficClass?: { value: number; mask: number };
  securityParameterIndex?: number;
  flowLabel?: number;
  /** BID: SDF filter id. */
  sdfFilterId?: number;
}
const sdfFilter: Codec<SdfFilter> = {
  decode(r) {
    const f = r.u8('flags');
    r.u8('spare');
    const v: SdfFilter = {};
    if (f & 1) v.flowDescription = Buffer.from(r.bytes(r.u16('flow description length'), 'flow description')).toString('latin1');
    if (f & 2) v.tosTrafficClass = { value: r.u8('ToS/traffic class'), mask: r.u8('ToS/traffic class mask') };
    if (f & 4) v.securityParameterIndex = r.u32('security parameter index');
    if (f & 8) v.flowLabel = r.u24('flow label');
    if (f & 0x10) v.sdfFilterId = r.u32('SDF filter id');
    return v;
  },
  encode(w, v) {
    w.u8(
      (v.flowDescription !== undefined ? 1 : 0) |
        (v.tosTrafficClass !== undefined ? 2 : 0) |
        (v.securityParameterIndex !== undefined ? 4 : 0) |
        (v.flowLabel !== undefined ? 8 : 0) |
        (v.sdfFilterId !== undefined ? 0x10 : 0),
    );
    w.u8(0);
    if (v.flowDescription !== undefined) {
      const text = Buffer.from(v.flowDescription, 'latin1');
      w.u16(text.length);
      w.bytes(text);
    }
    if (v.tosTrafficClass !== undefined) {
      w.u8(v.tosTrafficClass.value);
      w.u8(v.tosTrafficClass.mask);
    }
    if (v.securityParameterIndex !== undefined) w.u32(v.securityParameterIndex);
    if (v.flowLabel !== undefined) w.u24(v.flowLabel);
    if (v.sdfFilterId !== undefined) w.u32(v.sdfFilterId);
  },
};

/** Outer Header Removal (clause 8.2.64): description 0 = GTP-U/UDP/IPv4, 1 = GTP-U/UDP/IPv6, ... */
export interface OuterHeaderRemoval {
  description: number;
  gtpuExtensionHeaderDeletion?: number;
}
const outerHeaderRemoval: Codec<OuterHeaderRemoval> = {
  decode(r) {
    const v: OuterHeaderRemoval = { description: r.u8('description') };
    if (r.remaining > 0) v.gtpuExtensionHeaderDeletion = r.u8('GTP-U extension header deletion');
    return v;
  },
  encode(w, v) {
    w.u8(v.description);
    if (v.gtpuExtensionHeaderDeletion !== undefined) w.u8(v.gtpuExtensionHeaderDeletion);
  },
};

/** Outer Header Creation description bits (clause 8.2.56, octets 5-6 as one 16-bit value). */
export const OuterHeader = {
  GtpuUdpIpv4: 0x0100,
  GtpuUdpIpv6: 0x0200,
  UdpIpv4: 0x0400,
  UdpIpv6: 0x0800,
  Ipv4: 0x1000,
  Ipv6: 0x2000,
  CTag: 0x4000,
  STag: 0x8000,
  N19Indication: 0x0001,
  N6Indication: 0x0002,
} as const;
export interface OuterHeaderCreation {
  description: number;
  teid?: number;
  ipv4?: string;
  ipv6?: string;
  port?: number;
  cTag?: number;
  sTag?: number;
}
const O = OuterHeader;
const outerHeaderCreation: Codec<OuterHeaderCreation> = {
  decode(r) {
    const d = r.u16('description');
    const v: OuterHeaderCreation = { description: d };
    if (d & (O.GtpuUdpIpv4 | O.GtpuUdpIpv6)) v.teid = r.u32('TEID');
    if (d & (O.GtpuUdpIpv4 | O.UdpIpv4 | O.Ipv4)) v.ipv4 = r.ipv4('IPv4 address');
    if (d & (O.GtpuUdpIpv6 | O.UdpIpv6 | O.Ipv6)) v.ipv6 = r.ipv6('IPv6 address');
    if (d & (O.UdpIpv4 | O.UdpIpv6)) v.port = r.u16('port number');
    if (d & O.CTag) v.cTag = r.u24('C-TAG');
    if (d & O.STag) v.sTag = r.u24('S-TAG');
    return v;
  },
  encode(w, v) {
    const d = v.description;
    w.u16(d);
    if (d & (O.GtpuUdpIpv4 | O.GtpuUdpIpv6)) w.u32(required(v.teid, 'outer header creation teid'));
    if (d & (O.GtpuUdpIpv4 | O.UdpIpv4 | O.Ipv4)) w.ipv4(required(v.ipv4, 'outer header creation ipv4'));
    if (d & (O.GtpuUdpIpv6 | O.UdpIpv6 | O.Ipv6)) w.ipv6(required(v.ipv6, 'outer header creation ipv6'));
    if (d & (O.UdpIpv4 | O.UdpIpv6)) w.u16(required(v.port, 'outer header creation port'));
    if (d & O.CTag) w.u24(required(v.cTag, 'outer header creation C-TAG'));
    if (d & O.STag) w.u24(required(v.sTag, 'outer header creation S-TAG'));
  },
};

/** Gate Status (clause 8.2.7): 0 open, 1 closed. */
const gateStatus: Codec<{ ul: number; dl: number }> = {
  decode(r) {
    const b = r.u8('gate status');
    return { ul: (b >> 2) & 3, dl: b & 3 };
  },
  encode: (w, v) => w.u8(((v.ul & 3) << 2) | (v.dl & 3)),
};

/** MBR / GBR (clauses 8.2.8, 8.2.9): kilobits per second, 40 bits each. */
const bitRate: Codec<{ ul: number; dl: number }> = {
  decode: (r) => ({ ul: r.u40('UL'), dl: r.u40('DL') }),
  encode(w, v) {
    w.u40(v.ul);
    w.u40(v.dl);
  },
};

/** Volume Threshold / Quota / Measurement (clauses 8.2.13, 8.2.50, 8.2.44): octets; the
 * measurement may also carry packet counts (TONOP/ULNOP/DLNOP). */
export interface Volumes {
  total?: bigint;
  uplink?: bigint;
  downlink?: bigint;
  totalPackets?: bigint;
  uplinkPackets?: bigint;
  downlinkPackets?: bigint;
}
const volumeKeys = ['total', 'uplink', 'downlink', 'totalPackets', 'uplinkPackets', 'downlinkPackets'] as const;
function volumesCodec(fields: number): Codec<Volumes> {
  const keys = volumeKeys.slice(0, fields);
  return {
    decode(r) {
      const f = r.u8('flags');
      const v: Volumes = {};
      keys.forEach((k, i) => {
        if (f & (1 << i)) v[k] = r.u64(`${k} volume`);
      });
      return v;
    },
    encode(w, v) {
      w.u8(keys.reduce((f, k, i) => (v[k] !== undefined ? f | (1 << i) : f), 0));
      for (const k of keys) {
        const x = v[k];
        if (x !== undefined) w.u64(x);
      }
    },
  };
}

/** Downlink Data Service Information (clause 8.2.33). */
export interface DownlinkDataServiceInformation {
  pagingPolicyIndication?: number;
  qfi?: number;
}
const downlinkDataServiceInformation: Codec<DownlinkDataServiceInformation> = {
  decode(r) {
    const f = r.u8('flags');
    const v: DownlinkDataServiceInformation = {};
    if (f & 1) v.pagingPolicyIndication = r.u8('paging policy indication') & 0x3f;
    if (f & 2) v.qfi = r.u8('QFI') & 0x3f;
    return v;
  },
  encode(w, v) {
    w.u8((v.pagingPolicyIndication !== undefined ? 1 : 0) | (v.qfi !== undefined ? 2 : 0));
    if (v.pagingPolicyIndication !== undefined) w.u8(v.pagingPolicyIndication & 0x3f);
    if (v.qfi !== undefined) w.u8(v.qfi & 0x3f);
  },
};

/** User Plane IP Resource Information (clause 8.2.82), in Association Setup/Update. */
export interface UserPlaneIpResourceInformation {
  /** TEIDRI: how many leading TEID bits `teidRange` fixes (0: no range). */
  teidRangeBits: number;
  teidRange?: number;
  ipv4?: string;
  ipv6?: string;
  /** ASSONI: the network instance the addresses belong to. */
  networkInstance?: NetworkInstance;
  /** ASSOSI: the source interface they serve. */
  sourceInterface?: number;
}
const userPlaneIpResourceInformation: Codec<UserPlaneIpResourceInformation> = {
  decode(r) {
    const f = r.u8('flags');
    const v: UserPlaneIpResourceInformation = { teidRangeBits: (f >> 2) & 7 };
    if (v.teidRangeBits !== 0) v.teidRange = r.u8('TEID range');
    if (f & 1) v.ipv4 = r.ipv4('IPv4 address');
    if (f & 2) v.ipv6 = r.ipv6('IPv6 address');
    const withInterface = (f & 0x40) !== 0;
    if (f & 0x20) {
      const length = r.remaining - (withInterface ? 1 : 0);
      if (length < 0) r.fail('no octet left for the network instance and source interface');
      const raw = r.bytes(length, 'network instance');
      const name = decodeDnsLabels(raw);
      v.networkInstance = name === undefined ? { raw } : { name };
    }
    if (withInterface) v.sourceInterface = r.u8('source interface') & 0x0f;
    return v;
  },
  encode(w, v) {
    if (v.teidRangeBits < 0 || v.teidRangeBits > 7) throw new RangeError(`TEIDRI ${v.teidRangeBits} is not 0-7`);
    w.u8(
      (v.ipv4 !== undefined ? 1 : 0) |
        (v.ipv6 !== undefined ? 2 : 0) |
        (v.teidRangeBits << 2) |
        (v.networkInstance !== undefined ? 0x20 : 0) |
        (v.sourceInterface !== undefined ? 0x40 : 0),
    );
    if (v.teidRangeBits !== 0) w.u8(required(v.teidRange, 'TEID range (TEIDRI set)'));
    if (v.ipv4 !== undefined) w.ipv4(v.ipv4);
    if (v.ipv6 !== undefined) w.ipv6(v.ipv6);
    if (v.networkInstance !== undefined) networkInstance.encode(w, v.networkInstance);
    if (v.sourceInterface !== undefined) w.u8(v.sourceInterface & 0x0f);
  },
};

/** Failed Rule ID (clause 8.2.80): which rule a cause 73 is about. */
export type RuleKind = 'pdr' | 'far' | 'qer' | 'urr' | 'bar';
export interface FailedRuleId {
  kind: RuleKind;
  ruleId: number;
}
const ruleKinds: readonly RuleKind[] = ['pdr', 'far', 'qer', 'urr', 'bar'];
const failedRuleId: Codec<FailedRuleId> = {
  decode(r) {
    const type = r.u8('rule id type') & 0x1f;
    const kind = ruleKinds[type];
    if (kind === undefined) return r.fail(`rule id type ${type} is not 0-4 (PDR, FAR, QER, URR, BAR)`);
    const ruleId = kind === 'pdr' ? r.u16('rule id') : kind === 'bar' ? r.u8('rule id') : r.u32('rule id');
    return { kind, ruleId };
  },
  encode(w, v) {
    w.u8(ruleKinds.indexOf(v.kind));
    if (v.kind === 'pdr') w.u16(v.ruleId);
    else if (v.kind === 'bar') w.u8(v.ruleId);
    else w.u32(v.ruleId);
  },
};

/** Every typed IE: its TS 29.244 layout. */
export const valueCodecs = {
  [IeType.Cause]: u8Codec('cause'),
  [IeType.SourceInterface]: interfaceCodec,
  [IeType.DestinationInterface]: interfaceCodec,
  [IeType.FTeid]: fTeid,
  [IeType.NetworkInstance]: networkInstance,
  [IeType.SdfFilter]: sdfFilter,
  [IeType.GateStatus]: gateStatus,
  [IeType.Mbr]: bitRate,
  [IeType.Gbr]: bitRate,
  [IeType.Precedence]: u32Codec('precedence'),
  [IeType.VolumeThreshold]: volumesCodec(3),
  [IeType.VolumeQuota]: volumesCodec(3),
  [IeType.VolumeMeasurement]: volumesCodec(6),
  [IeType.TimeThreshold]: u32Codec('seconds'),
  [IeType.MeasurementPeriod]: u32Codec('seconds'),
  [IeType.DurationMeasurement]: u32Codec('seconds'),
  // Clause 8.2.19.
  [IeType.ReportingTriggers]: flagsCodec(
    [
      ['PERIO', 'VOLTH', 'TIMTH', 'QUHTI', 'START', 'STOPT', 'DROTH', 'LIUSA'],
      ['VOLQU', 'TIMQU', 'ENVCL', 'MACAR', 'EVETH', 'EVEQU', 'IPMJL', 'QUVTI'],
      ['REEMR', 'UPINT'],
    ],
    2,
  ),
  // Clause 8.2.21.
  [IeType.ReportType]: flagsCodec([['DLDR', 'USAR', 'ERIR', 'UPIR', 'TMIR', 'SESR', 'UISR']], 1),
  [IeType.OffendingIe]: u16Codec('ieType'),
  // Clause 8.2.25 (octets 5-8).
  [IeType.UpFunctionFeatures]: flagsCodec(
    [
      ['BUCP', 'DDND', 'DLBD', 'TRST', 'FTUP', 'PFDM', 'HEEU', 'TREU'],
      ['EMPU', 'PDIU', 'UDBC', 'QUOAC', 'TRACE', 'FRRT', 'PFDE', 'EPFAR'],
      ['DPDRA', 'ADPDP', 'UEIP', 'SSET', 'MNOP', 'MTE', 'BUNDL', 'GCOM'],
      ['MPAS', 'RTTL', 'VTIME', 'NORP', 'IPTV', 'IP6PL', 'TSCU', 'MPTCP'],
    ],
    2,
  ),
  // Clause 8.2.58.
  [IeType.CpFunctionFeatures]: flagsCodec(
    [
      ['LOAD', 'OVRL', 'EPFAR', 'SSET', 'BUNDL', 'MPAS', 'ARDR', 'UIAUR'],
      ['PSUCC', 'RPGUR'],
    ],
    1,
  ),
  // Clause 8.2.26: NOCP was renamed NOTP in Rel-17; one bit, named NOCP here.
  [IeType.ApplyAction]: flagsCodec(
    [
      ['DROP', 'FORW', 'BUFF', 'NOCP', 'DUPL', 'IPMA', 'IPMD', 'DFRT'],
      ['EDRT', 'BDPN', 'DDPN', 'FSSM', 'MBSU'],
    ],
    1,
  ),
  [IeType.DownlinkDataServiceInformation]: downlinkDataServiceInformation,
  // Clause 8.2.28: in multiples of 50 ms.
  [IeType.DownlinkDataNotificationDelay]: u8Codec('delay'),
  // Clause 8.2.59.
  [IeType.PfcpSmReqFlags]: flagsCodec([['DROBU', 'SNDEM', 'QAURR']], 1),
  [IeType.SequenceNumber]: u32Codec('sequenceNumber'),
  [IeType.PdrId]: u16Codec('ruleId'),
  [IeType.FSeid]: fSeid,
  [IeType.NodeId]: nodeId,
  // Clause 8.2.40.
  [IeType.MeasurementMethod]: flagsCodec([['DURAT', 'VOLUM', 'EVENT']], 1),
  // Clause 8.2.41.
  [IeType.UsageReportTrigger]: flagsCodec(
    [
      ['PERIO', 'VOLTH', 'TIMTH', 'QUHTI', 'START', 'STOPT', 'DROTH', 'IMMER'],
      ['VOLQU', 'TIMQU', 'LIUSA', 'TERMR', 'MONIT', 'ENVCL', 'MACAR', 'EVETH'],
      ['EVEQU', 'TEBUR', 'IPMJL', 'QUVTI', 'EMRRE', 'UPINT'],
    ],
    2,
  ),
  [IeType.StartTime]: u32Codec('ntpSeconds'),
  [IeType.EndTime]: u32Codec('ntpSeconds'),
  [IeType.UrrId]: u32Codec('ruleId'),
  [IeType.OuterHeaderCreation]: outerHeaderCreation,
  [IeType.BarId]: u8Codec('ruleId'),
  [IeType.UeIpAddress]: ueIpAddress,
  [IeType.OuterHeaderRemoval]: outerHeaderRemoval,
  [IeType.RecoveryTimeStamp]: u32Codec('ntpSeconds'),
  // Clause 8.2.69.
  [IeType.NodeReportType]: flagsCodec([['UPFR', 'UPRR', 'CKDR', 'GPQR', 'PURR', 'VSR']], 1),
  [IeType.UrSeqn]: u32Codec('sequence'),
  [IeType.FarId]: u32Codec('ruleId'),
  [IeType.QerId]: u32Codec('ruleId'),
  // Clause 8.2.85.
  [IeType.PfcpAssociationReleaseRequest]: flagsCodec([['SARR', 'URSS']], 1),
  [IeType.GracefulReleasePeriod]: u8Codec('timer'),
  [IeType.UserPlaneIpResourceInformation]: userPlaneIpResourceInformation,
  [IeType.FailedRuleId]: failedRuleId,
  [IeType.SuggestedBufferingPacketsCount]: u8Codec('packets'),
  [IeType.QFI]: {
    decode: (r) => ({ qfi: r.u8('QFI') & 0x3f }),
    encode: (w, v) => w.u8(v.qfi & 0x3f),
  } satisfies Codec<{ qfi: number }>,
} as const;

type CodecValue<C> = C extends Codec<infer T> ? T : never;
/** The decoded value of each typed IE, by IE type. */
export type IeValues = { [K in keyof typeof valueCodecs]: CodecValue<(typeof valueCodecs)[K]> };
export type TypedIeType = keyof IeValues;

export function typedCodec(type: number): Codec<unknown> | undefined {
  return (valueCodecs as Record<number, Codec<unknown> | undefined>)[type];
}
