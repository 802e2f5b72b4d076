// The seam between the UPF's control plane (the PFCP node) and its user plane: sessions and their
// rules in objects shaped like PFCP's Create/Update/Remove PDR/FAR/QER/URR IEs (TS 29.244 §7.5),
// already decoded and checked for syntax by the PFCP layer. The user plane stores them in shared
// memory, where the fast path reads them; an implementation applies each call all at once or not
// at all, so no packet ever meets a half-installed or half-removed session.
//
// Addresses are text (`10.45.0.1`, `2001:db8::1`, prefixes as `2001:db8:1::/64`); volumes and
// counters are bigint (PFCP's are 64-bit); rates are kilobits per second, as PFCP's MBR is.

/** TS 29.244 §8.2.2 Source Interface / §8.2.24 Destination Interface. */
export type Interface = 'access' | 'core' | 'sgi-lan' | 'cp-function';

/** A packet filter of an SDF filter, in the direction of the packet it is matched against. */
export interface FlowEnd {
  /** An address or prefix; absent means any. */
  prefix?: string;
  /** Inclusive port range; absent means any. */
  ports?: { from: number; to: number };
}

/**
 * An SDF filter's flow description, parsed from IPFilterRule syntax by the PFCP layer. `ue` is the
 * UE's end of the flow and `remote` the data network's, whatever the packet's direction: an uplink
 * packet's source is matched against `ue`, a downlink packet's destination likewise.
 */
export interface SdfFilter {
  /** IP protocol number (6 TCP, 17 UDP, …); absent means any. */
  protocol?: number;
  ue?: FlowEnd;
  remote?: FlowEnd;
  /** SDF Filter ID, when the SMF gave one. */
  filterId?: number;
}

export interface FTeid {
  teid: number;
  ipv4?: string;
  ipv6?: string;
}

/** Packet Detection Information (§7.5.2.2-2). */
export interface Pdi {
  sourceInterface: Interface;
  /** Uplink (access): the UPF's F-TEID the gNB sends to, already chosen (CHOOSE resolved). */
  localFTeid?: FTeid;
  /** Downlink (core): the UE's IPv4 address and/or IPv6 prefix (already allocated for CHV4/CHV6). */
  ueIpAddress?: { ipv4?: string; ipv6Prefix?: string };
  /** Any one matching is enough; none means every packet of the PDI matches. */
  sdfFilters?: SdfFilter[];
  /** QoS Flow Identifier the packet's PDU Session Container must carry (uplink). */
  qfi?: number;
  networkInstance?: string;
}

export interface CreatePdr {
  pdrId: number;
  /** Lower value wins (§8.2.11). */
  precedence: number;
  pdi: Pdi;
  /** Remove the outer GTP-U/UDP/IP header before forwarding (uplink). */
  outerHeaderRemoval?: 'gtpu-udp-ipv4' | 'gtpu-udp-ipv6' | 'gtpu-udp-ip';
  farId: number;
  qerIds?: number[];
  urrIds?: number[];
}

export type UpdatePdr = Partial<Omit<CreatePdr, 'pdrId'>> & { pdrId: number };

/** Apply Action (§8.2.26): FORW, DROP, BUFF, NOCP, DUPL. */
export interface ApplyAction {
  forward?: boolean;
  drop?: boolean;
  buffer?: boolean;
  /** Notify the CP function of the first downlink packet (with buffer). */
  notifyCp?: boolean;
  duplicate?: boolean;
}

/** Outer Header Creation (§8.2.56): GTP-U/UDP over IPv4 or IPv6 to the peer's F-TEID. */
export interface OuterHeaderCreation {
  teid: number;
  ipv4?: string;
  ipv6?: string;
  /** UDP destination port; 2152 when absent. */
  port?: number;
}

export interface ForwardingParameters {
  destinationInterface: Interface;
  networkInstance?: string;
  outerHeaderCreation?: OuterHeaderCreation;
}

export interface CreateFar {
  farId: number;
  applyAction: ApplyAction;
  forwardingParameters?: ForwardingParameters;
  barId?: number;
}

export interface UpdateFar {
  farId: number;
  applyAction?: ApplyAction;
  updateForwardingParameters?: Partial<ForwardingParameters> & {
    /** PFCPSMReq-Flags SNDEM: send an End Marker on the old path when the F-TEID changes. */
    sendEndMarker?: boolean;
  };
  barId?: number;
}

export type GateStatus = 'open' | 'closed';

export interface CreateQer {
  qerId: number;
  gateStatus?: { uplink: GateStatus; downlink: GateStatus };
  /** Maximum bit rate in kbit/s per direction; absent or 0 means unlimited. */
  mbr?: { uplinkKbps: number; downlinkKbps: number };
  /** QFI to put into the downlink PDU Session Container. */
  qfi?: number;
}

export type UpdateQer = Partial<Omit<CreateQer, 'qerId'>> & { qerId: number };

export interface VolumeLimits {
  total?: bigint;
  uplink?: bigint;
  downlink?: bigint;
}

export interface CreateUrr {
  urrId: number;
  measurementMethod: { volume?: boolean; duration?: boolean; event?: boolean };
  reportingTriggers: {
    periodic?: boolean;
    volumeThreshold?: boolean;
    volumeQuota?: boolean;
    timeThreshold?: boolean;
    start?: boolean;
  };
  /** Bytes; crossing it raises a `volume-threshold` event. */
  volumeThreshold?: VolumeLimits;
  /** Bytes; when used up the PDRs counting into this URR stop forwarding and `volume-quota` is raised. */
  volumeQuota?: VolumeLimits;
  measurementPeriodSeconds?: number;
  timeThresholdSeconds?: number;
}

export type UpdateUrr = Partial<Omit<CreateUrr, 'urrId'>> & { urrId: number };

/** Buffering Action Rule (§7.5.2.6): how many downlink packets to hold while buffering. */
export interface CreateBar {
  barId: number;
  suggestedBufferingPackets?: number;
}

/** A whole session, as Session Establishment creates it. */
export interface SessionRules {
  pdrs: CreatePdr[];
  fars: CreateFar[];
  qers?: CreateQer[];
  urrs?: CreateUrr[];
  bar?: CreateBar;
}

/** What one Session Modification Request changes: applied all at once, or not at all. */
export interface SessionModification {
  createPdrs?: CreatePdr[];
  updatePdrs?: UpdatePdr[];
  removePdrs?: number[];
  createFars?: CreateFar[];
  updateFars?: UpdateFar[];
  removeFars?: number[];
  createQers?: CreateQer[];
  updateQers?: UpdateQer[];
  removeQers?: number[];
  createUrrs?: CreateUrr[];
  updateUrrs?: UpdateUrr[];
  removeUrrs?: number[];
}

export interface DirectionUsage {
  packets: bigint;
  bytes: bigint;
}

/** What one URR has measured, exactly, since the session was created. */
export interface Usage {
  urrId: number;
  uplink: DirectionUsage;
  downlink: DirectionUsage;
  /** Set once its quota is used up (forwarding by its PDRs has stopped). */
  quotaExhausted: boolean;
}

/** Events the user plane raises for the control plane (consumed once each). */
export type UpfEvent =
  /** First downlink packet for a FAR with BUFF and/or NOCP: Downlink Data Report. */
  | { type: 'downlink-data'; seid: bigint; pdrId: number; qfi?: number }
  | { type: 'volume-threshold'; seid: bigint; urrId: number }
  | { type: 'volume-quota'; seid: bigint; urrId: number }
  /** A GTP-U Error Indication from a peer: Error Indication Report for the sessions using it. */
  | { type: 'error-indication'; remote: FTeid };

/** `code` of an UpfSessionError, for the PFCP node to map to a cause. */
export type UpfSessionErrorCode =
  /** A rule refers to a rule that does not exist, or is inconsistent: cause 73, naming it. */
  | 'ERR_UPF_RULE'
  /** A table is full: cause 75. */
  | 'ERR_UPF_NO_RESOURCES'
  /** No session with this SEID: cause 65. */
  | 'ERR_UPF_SESSION_NOT_FOUND'
  | 'ERR_UPF_SESSION_EXISTS';

export class UpfSessionError extends Error {
  constructor(
    readonly code: UpfSessionErrorCode,
    message: string,
    /** The rule at fault, for ERR_UPF_RULE (the PFCP node names it in Offending IE / cause 73). */
    readonly rule?: { kind: 'pdr' | 'far' | 'qer' | 'urr' | 'bar'; id: number },
  ) {
    super(message);
    this.name = 'UpfSessionError';
  }
}

/**
 * The sessions of one UPF, keyed by the UPF's own (local) SEID. Every mutating call is atomic for
 * the fast path and throws UpfSessionError leaving the session as it was.
 */
export interface UpfSessions {
  create(seid: bigint, rules: SessionRules): void;
  modify(seid: bigint, change: SessionModification): void;
  /** Removes the session and returns each URR's final usage. */
  delete(seid: bigint): Usage[];
  get(seid: bigint): SessionRules | undefined;
  /** Every session, e.g. for a restarted control plane to rebuild its allocators. */
  entries(): IterableIterator<[bigint, SessionRules]>;
  readonly size: number;
  usage(seid: bigint): Usage[];
  /** Takes up to `max` pending events. */
  events(max?: number): UpfEvent[];
}
