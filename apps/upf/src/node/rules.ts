// Create/Update/Remove PDR, FAR, QER, URR and BAR IEs (TS 29.244 clause 7.5.2, 7.5.4) into the
// UpfSessions rule objects. Every missing or wrong IE becomes a RequestError with the cause and the
// IE or rule the response names; CHOOSE F-TEIDs and CHV4/CHV6 addresses are asked of `Choices`,
// which the node backs with its allocators (and rolls back if the request fails later).
import { type Ie, IeType as T, type IeValues, PfcpCause as C, type TypedIeType, type RuleKind, getGroups, getValue, getAllValues, findAll } from '../pfcp/index';
import { OuterHeader } from '../pfcp/index';
import type {
  ApplyAction,
  CreateBar,
  CreateFar,
  CreatePdr,
  CreateQer,
  CreateUrr,
  ForwardingParameters,
  FTeid,
  GateStatus,
  Interface,
  OuterHeaderCreation,
  Pdi,
  SdfFilter,
  SessionModification,
  SessionRules,
  UpdateFar,
  UpdatePdr,
  UpdateQer,
  UpdateUrr,
  VolumeLimits,
} from '../sessions/types';
import { RequestError } from './errors';
import { IpFilterRuleError, parseIpFilterRule } from './ipfilter';

/** What the UP function chooses while the rules are read. Each throws RequestError when it cannot. */
export interface Choices {
  /** CHOOSE: a local F-TEID; the same `chooseId` gives the same F-TEID within one request. */
  fTeid(pdrId: number, want: { v4: boolean; v6: boolean }, chooseId: number | undefined): FTeid;
  /** An F-TEID the SMF chose itself. */
  claimFTeid(pdrId: number, fteid: FTeid): void;
  /** CHV4 / CHV6: the session's UE address of that family (one per session). */
  ueAddress(pdrId: number, family: 4 | 6, networkInstance: string | undefined): string;
  claimUeAddress(pdrId: number, address: string): void;
}

/** What the node keeps of a URR beyond UpfSessions' view (TS 29.244 clause 5.2.2.2). */
export interface UrrExtras {
  urrId: number;
  /** FAR ID for Quota Action (QUOAC): the FAR the URR's PDRs switch to when the quota is used up. */
  quotaFarId?: number;
}

/** What the response reports of a created PDR (Created PDR IE). */
export interface CreatedPdr {
  pdrId: number;
  fteid?: FTeid;
  ueIpv4?: string;
  ueIpv6Prefix?: string;
}

export interface ParsedRules {
  rules: SessionRules;
  created: CreatedPdr[];
  urrExtras: UrrExtras[];
  /** Downlink Data Notification Delay of the BAR, in milliseconds (DDND). */
  ddnDelayMs?: number;
}

export interface ParsedModification {
  change: SessionModification;
  created: CreatedPdr[];
  urrExtras: UrrExtras[];
  /** URRs to report on in the response: removed ones and Query URR (clause 5.2.2.3.1). */
  queryUrrs: number[];
  queryAllUrrs: boolean;
  removedUrrs: number[];
}

type Ctx = { kind: RuleKind; ruleId: number } | undefined;

const missing = (type: number, where: string, ctx: Ctx): never => {
  throw new RequestError(C.MandatoryIeMissing, `${where}: mandatory IE ${type} missing`, type, ctx);
};
const conditionalMissing = (type: number, where: string): never => {
  throw new RequestError(C.ConditionalIeMissing, `${where}: conditional IE ${type} missing`, type);
};
const ruleFailure = (ctx: { kind: RuleKind; ruleId: number }, detail: string, ie?: number): never => {
  throw new RequestError(C.RuleCreationModificationFailure, `${ctx.kind.toUpperCase()} ${ctx.ruleId}: ${detail}`, ie, ctx);
};

function must<K extends TypedIeType>(ies: readonly Ie[], type: K, where: string, ctx?: Ctx): IeValues[K] {
  const v = getValue(ies, type);
  if (v === undefined) {
    // Present but not decodable as this type cannot happen (the codec types by IE type); absent it is.
    return missing(type, where, ctx);
  }
  return v;
}

function ruleId(ies: readonly Ie[], type: typeof T.PdrId | typeof T.FarId | typeof T.QerId | typeof T.UrrId | typeof T.BarId, where: string): number {
  return must(ies, type, where).ruleId;
}

const interfaces: Interface[] = ['access', 'core', 'sgi-lan', 'cp-function'];

function iface(v: { interface: number }, ie: number, where: string): Interface {
  const i = interfaces[v.interface];
  if (i === undefined) throw new RequestError(C.MandatoryIeIncorrect, `${where}: interface value ${v.interface} is not access, core, SGi-LAN or CP-function`, ie);
  return i;
}

function networkInstanceName(v: IeValues[typeof T.NetworkInstance] | undefined): string | undefined {
  if (v === undefined) return undefined;
  return 'name' in v ? v.name : Buffer.from(v.raw).toString('latin1');
}

function hasFlag(v: { flags: string[] } | undefined, name: string): boolean {
  return v !== undefined && v.flags.includes(name);
}

function readPdi(ies: readonly Ie[], pdrId: number, choices: Choices, created: CreatedPdr): Pdi {
  const ctx = { kind: 'pdr' as const, ruleId: pdrId };
  const where = `PDR ${pdrId} PDI`;
  const pdi: Pdi = { sourceInterface: iface(must(ies, T.SourceInterface, where, ctx), T.SourceInterface, where) };
  const networkInstance = networkInstanceName(getValue(ies, T.NetworkInstance));
  if (networkInstance !== undefined) pdi.networkInstance = networkInstance;

  const f = getValue(ies, T.FTeid);
  if (f !== undefined) {
    if (!f.v4 && !f.v6) throw new RequestError(C.MandatoryIeIncorrect, `${where}: F-TEID has neither V4 nor V6`, T.FTeid, ctx);
    if (f.ch) {
      pdi.localFTeid = choices.fTeid(pdrId, { v4: f.v4, v6: f.v6 }, f.chooseId);
      created.fteid = pdi.localFTeid;
    } else {
      const fteid: FTeid = { teid: f.teid as number };
      if (f.ipv4 !== undefined) fteid.ipv4 = f.ipv4;
      if (f.ipv6 !== undefined) fteid.ipv6 = f.ipv6;
      choices.claimFTeid(pdrId, fteid);
      pdi.localFTeid = fteid;
    }
  }

  const ue = getValue(ies, T.UeIpAddress);
  if (ue !== undefined) {
    const addr: { ipv4?: string; ipv6Prefix?: string } = {};
    if (ue.chooseV4) addr.ipv4 = created.ueIpv4 = choices.ueAddress(pdrId, 4, networkInstance);
    else if (ue.ipv4 !== undefined) {
      choices.claimUeAddress(pdrId, ue.ipv4);
      addr.ipv4 = ue.ipv4;
    }
    if (ue.chooseV6) addr.ipv6Prefix = created.ueIpv6Prefix = choices.ueAddress(pdrId, 6, networkInstance);
    else if (ue.ipv6 !== undefined) {
      const prefix = `${ue.ipv6}/${ue.ipv6PrefixLength ?? 64 - (ue.ipv6PrefixDelegationBits ?? 0)}`;
      choices.claimUeAddress(pdrId, prefix);
      addr.ipv6Prefix = prefix;
    }
    if (addr.ipv4 === undefined && addr.ipv6Prefix === undefined) {
      throw new RequestError(C.MandatoryIeIncorrect, `${where}: UE IP Address has no address and no CHOOSE flag`, T.UeIpAddress, ctx);
    }
    pdi.ueIpAddress = addr;
  }

  const filters: SdfFilter[] = [];
  for (const s of getAllValues(ies, T.SdfFilter)) {
    if (s.flowDescription === undefined) ruleFailure(ctx, 'an SDF filter without a flow description (ToS, SPI or flow label only) cannot be enforced', T.SdfFilter);
    if (s.tosTrafficClass !== undefined || s.securityParameterIndex !== undefined || s.flowLabel !== undefined) {
      ruleFailure(ctx, 'SDF filter ToS/traffic class, SPI and flow label cannot be enforced', T.SdfFilter);
    }
    try {
      for (const parsed of parseIpFilterRule(s.flowDescription as string)) {
        if (s.sdfFilterId !== undefined) parsed.filterId = s.sdfFilterId;
        filters.push(parsed);
      }
    } catch (e) {
      if (e instanceof IpFilterRuleError) ruleFailure(ctx, e.message, T.SdfFilter);
      throw e;
    }
  }
  if (filters.length) pdi.sdfFilters = filters;

  const qfis = getAllValues(ies, T.QFI);
  if (qfis.length > 1) ruleFailure(ctx, 'more than one QFI in a PDI cannot be enforced', T.QFI);
  if (qfis[0] !== undefined) pdi.qfi = qfis[0].qfi;
  return pdi;
}

function outerHeaderRemoval(v: IeValues[typeof T.OuterHeaderRemoval], ctx: { kind: RuleKind; ruleId: number }): NonNullable<CreatePdr['outerHeaderRemoval']> {
  switch (v.description) {
    case 0:
      return 'gtpu-udp-ipv4';
    case 1:
      return 'gtpu-udp-ipv6';
    case 6:
      return 'gtpu-udp-ip';
    default:
      return ruleFailure(ctx, `outer header removal ${v.description} (not GTP-U/UDP/IP) cannot be enforced`, T.OuterHeaderRemoval);
  }
}

function ids(ies: readonly Ie[], type: typeof T.QerId | typeof T.UrrId): number[] {
  return getAllValues(ies, type).map((v) => v.ruleId);
}

function readCreatePdr(ies: readonly Ie[], choices: Choices): { pdr: CreatePdr; created: CreatedPdr } {
  const pdrId = ruleId(ies, T.PdrId, 'Create PDR');
  const ctx = { kind: 'pdr' as const, ruleId: pdrId };
  const where = `Create PDR ${pdrId}`;
  const precedence = must(ies, T.Precedence, where, ctx).precedence;
  const pdiIes = getGroups(ies, T.Pdi)[0] ?? missing(T.Pdi, where, ctx);
  const created: CreatedPdr = { pdrId };
  const pdi = readPdi(pdiIes, pdrId, choices, created);
  // FAR ID is conditional on there being no Activate Predefined Rules, which this UPF has none of.
  const far = getValue(ies, T.FarId) ?? conditionalMissing(T.FarId, where);
  const pdr: CreatePdr = { pdrId, precedence, pdi, farId: far.ruleId };
  const ohr = getValue(ies, T.OuterHeaderRemoval);
  if (ohr !== undefined) pdr.outerHeaderRemoval = outerHeaderRemoval(ohr, ctx);
  const qerIds = ids(ies, T.QerId);
  if (qerIds.length) pdr.qerIds = qerIds;
  const urrIds = ids(ies, T.UrrId);
  if (urrIds.length) pdr.urrIds = urrIds;
  return { pdr, created };
}

function readUpdatePdr(ies: readonly Ie[], choices: Choices): { pdr: UpdatePdr; created: CreatedPdr | undefined } {
  const pdrId = ruleId(ies, T.PdrId, 'Update PDR');
  const ctx = { kind: 'pdr' as const, ruleId: pdrId };
  const pdr: UpdatePdr = { pdrId };
  let created: CreatedPdr | undefined;
  const precedence = getValue(ies, T.Precedence);
  if (precedence !== undefined) pdr.precedence = precedence.precedence;
  const pdiIes = getGroups(ies, T.Pdi)[0];
  if (pdiIes !== undefined) {
    const c: CreatedPdr = { pdrId };
    pdr.pdi = readPdi(pdiIes, pdrId, choices, c);
    if (c.fteid || c.ueIpv4 || c.ueIpv6Prefix) created = c;
  }
  const ohr = getValue(ies, T.OuterHeaderRemoval);
  if (ohr !== undefined) pdr.outerHeaderRemoval = outerHeaderRemoval(ohr, ctx);
  const far = getValue(ies, T.FarId);
  if (far !== undefined) pdr.farId = far.ruleId;
  if (findAll(ies, T.QerId).length) pdr.qerIds = ids(ies, T.QerId);
  if (findAll(ies, T.UrrId).length) pdr.urrIds = ids(ies, T.UrrId);
  return { pdr, created };
}

function applyAction(v: IeValues[typeof T.ApplyAction], ctx: { kind: RuleKind; ruleId: number }): ApplyAction {
  const a: ApplyAction = {};
  const known = new Set(['FORW', 'DROP', 'BUFF', 'NOCP', 'DUPL']);
  for (const f of v.flags) if (!known.has(f)) ruleFailure(ctx, `apply action ${f} cannot be enforced`, T.ApplyAction);
  if (hasFlag(v, 'FORW')) a.forward = true;
  if (hasFlag(v, 'DROP')) a.drop = true;
  if (hasFlag(v, 'BUFF')) a.buffer = true;
  if (hasFlag(v, 'NOCP')) a.notifyCp = true;
  if (hasFlag(v, 'DUPL')) ruleFailure(ctx, 'DUPL: duplicating parameters are not carried to the user plane', T.ApplyAction);
  const exclusive = [a.forward, a.drop, a.buffer].filter(Boolean).length;
  if (exclusive !== 1) {
    throw new RequestError(C.MandatoryIeIncorrect, `FAR ${ctx.ruleId}: apply action needs exactly one of FORW, DROP, BUFF`, T.ApplyAction, ctx);
  }
  return a;
}

function outerHeaderCreation(v: IeValues[typeof T.OuterHeaderCreation], ctx: { kind: RuleKind; ruleId: number }): OuterHeaderCreation {
  const gtp = OuterHeader.GtpuUdpIpv4 | OuterHeader.GtpuUdpIpv6;
  if ((v.description & ~gtp) !== 0 || v.teid === undefined) {
    ruleFailure(ctx, `outer header creation 0x${v.description.toString(16)} (not GTP-U/UDP/IP) cannot be enforced`, T.OuterHeaderCreation);
  }
  const o: OuterHeaderCreation = { teid: v.teid as number };
  if (v.ipv4 !== undefined) o.ipv4 = v.ipv4;
  if (v.ipv6 !== undefined) o.ipv6 = v.ipv6;
  return o;
}

function readForwardingParameters(ies: readonly Ie[], ctx: { kind: RuleKind; ruleId: number }, update: false): ForwardingParameters;
function readForwardingParameters(ies: readonly Ie[], ctx: { kind: RuleKind; ruleId: number }, update: true): Partial<ForwardingParameters>;
function readForwardingParameters(ies: readonly Ie[], ctx: { kind: RuleKind; ruleId: number }, update: boolean): Partial<ForwardingParameters> {
  const where = `FAR ${ctx.ruleId} forwarding parameters`;
  const p: Partial<ForwardingParameters> = {};
  const dest = update ? getValue(ies, T.DestinationInterface) : must(ies, T.DestinationInterface, where, ctx);
  if (dest !== undefined) p.destinationInterface = iface(dest, T.DestinationInterface, where);
  const ni = networkInstanceName(getValue(ies, T.NetworkInstance));
  if (ni !== undefined) p.networkInstance = ni;
  const ohc = getValue(ies, T.OuterHeaderCreation);
  if (ohc !== undefined) p.outerHeaderCreation = outerHeaderCreation(ohc, ctx);
  return p;
}

function readCreateFar(ies: readonly Ie[]): CreateFar {
  const farId = ruleId(ies, T.FarId, 'Create FAR');
  const ctx = { kind: 'far' as const, ruleId: farId };
  const far: CreateFar = { farId, applyAction: applyAction(must(ies, T.ApplyAction, `Create FAR ${farId}`, ctx), ctx) };
  const fp = getGroups(ies, T.ForwardingParameters)[0];
  if (fp !== undefined) far.forwardingParameters = readForwardingParameters(fp, ctx, false);
  else if (far.applyAction.forward) conditionalMissing(T.ForwardingParameters, `Create FAR ${farId} with FORW`);
  const bar = getValue(ies, T.BarId);
  if (bar !== undefined) far.barId = bar.ruleId;
  return far;
}

function readUpdateFar(ies: readonly Ie[], sendEndMarker: boolean): UpdateFar {
  const farId = ruleId(ies, T.FarId, 'Update FAR');
  const ctx = { kind: 'far' as const, ruleId: farId };
  const far: UpdateFar = { farId };
  const aa = getValue(ies, T.ApplyAction);
  if (aa !== undefined) far.applyAction = applyAction(aa, ctx);
  const fp = getGroups(ies, T.UpdateForwardingParameters)[0];
  if (fp !== undefined) {
    far.updateForwardingParameters = readForwardingParameters(fp, ctx, true);
    if (sendEndMarker) far.updateForwardingParameters.sendEndMarker = true;
  }
  const bar = getValue(ies, T.BarId);
  if (bar !== undefined) far.barId = bar.ruleId;
  return far;
}

const gate = (v: number): GateStatus => (v === 0 ? 'open' : 'closed');

function readQer(ies: readonly Ie[], create: boolean): CreateQer | UpdateQer {
  const qerId = ruleId(ies, T.QerId, create ? 'Create QER' : 'Update QER');
  const ctx = { kind: 'qer' as const, ruleId: qerId };
  const q: UpdateQer = { qerId };
  const g = create ? must(ies, T.GateStatus, `Create QER ${qerId}`, ctx) : getValue(ies, T.GateStatus);
  if (g !== undefined) q.gateStatus = { uplink: gate(g.ul), downlink: gate(g.dl) };
  const mbr = getValue(ies, T.Mbr);
  if (mbr !== undefined) q.mbr = { uplinkKbps: mbr.ul, downlinkKbps: mbr.dl };
  const qfi = getValue(ies, T.QFI);
  if (qfi !== undefined) q.qfi = qfi.qfi;
  return q;
}

function limits(v: IeValues[typeof T.VolumeThreshold]): VolumeLimits {
  const l: VolumeLimits = {};
  if (v.total !== undefined) l.total = v.total;
  if (v.uplink !== undefined) l.uplink = v.uplink;
  if (v.downlink !== undefined) l.downlink = v.downlink;
  return l;
}

const supportedTriggers = new Map([
  ['PERIO', 'periodic'],
  ['VOLTH', 'volumeThreshold'],
  ['VOLQU', 'volumeQuota'],
  ['TIMTH', 'timeThreshold'],
  ['START', 'start'],
] as const);

function readUrr(ies: readonly Ie[], create: boolean): { urr: UpdateUrr; extras: UrrExtras } {
  const urrId = ruleId(ies, T.UrrId, create ? 'Create URR' : 'Update URR');
  const ctx = { kind: 'urr' as const, ruleId: urrId };
  const where = `${create ? 'Create' : 'Update'} URR ${urrId}`;
  const urr: UpdateUrr = { urrId };
  const mm = create ? must(ies, T.MeasurementMethod, where, ctx) : getValue(ies, T.MeasurementMethod);
  if (mm !== undefined) {
    urr.measurementMethod = {};
    if (hasFlag(mm, 'VOLUM')) urr.measurementMethod.volume = true;
    if (hasFlag(mm, 'DURAT')) urr.measurementMethod.duration = true;
    if (hasFlag(mm, 'EVENT')) ruleFailure(ctx, 'event measurement cannot be enforced', T.MeasurementMethod);
  }
  const rt = create ? must(ies, T.ReportingTriggers, where, ctx) : getValue(ies, T.ReportingTriggers);
  if (rt !== undefined) {
    urr.reportingTriggers = {};
    for (const f of rt.flags) {
      const key = supportedTriggers.get(f as 'PERIO');
      if (key === undefined) ruleFailure(ctx, `reporting trigger ${f} is not supported`, T.ReportingTriggers);
      else urr.reportingTriggers[key] = true;
    }
  }
  const period = getValue(ies, T.MeasurementPeriod);
  if (period !== undefined) urr.measurementPeriodSeconds = period.seconds;
  const vt = getValue(ies, T.VolumeThreshold);
  if (vt !== undefined) urr.volumeThreshold = limits(vt);
  const vq = getValue(ies, T.VolumeQuota);
  if (vq !== undefined) urr.volumeQuota = limits(vq);
  const tt = getValue(ies, T.TimeThreshold);
  if (tt !== undefined) urr.timeThresholdSeconds = tt.seconds;
  const triggers = urr.reportingTriggers;
  if (create && triggers) {
    if (triggers.periodic && (urr.measurementPeriodSeconds ?? 0) === 0) conditionalMissing(T.MeasurementPeriod, `${where} with PERIO`);
    if (triggers.volumeThreshold && urr.volumeThreshold === undefined) conditionalMissing(T.VolumeThreshold, `${where} with VOLTH`);
    if (triggers.volumeQuota && urr.volumeQuota === undefined) conditionalMissing(T.VolumeQuota, `${where} with VOLQU`);
    if (triggers.timeThreshold && urr.timeThresholdSeconds === undefined) conditionalMissing(T.TimeThreshold, `${where} with TIMTH`);
  }
  const extras: UrrExtras = { urrId };
  const quotaFar = getValue(ies, T.FarId);
  if (quotaFar !== undefined) extras.quotaFarId = quotaFar.ruleId;
  return { urr, extras };
}

function readBar(ies: readonly Ie[]): { bar: CreateBar; ddnDelayMs?: number } {
  const barId = ruleId(ies, T.BarId, 'Create BAR');
  const bar: CreateBar = { barId };
  const count = getValue(ies, T.SuggestedBufferingPacketsCount);
  if (count !== undefined) bar.suggestedBufferingPackets = count.packets;
  const delay = getValue(ies, T.DownlinkDataNotificationDelay);
  return delay === undefined ? { bar } : { bar, ddnDelayMs: delay.delay * 50 };
}

/** Session Establishment Request's rules (clause 7.5.2). */
export function readEstablishment(ies: readonly Ie[], choices: Choices): ParsedRules {
  const pdrGroups = getGroups(ies, T.CreatePdr);
  const farGroups = getGroups(ies, T.CreateFar);
  if (pdrGroups.length === 0) missing(T.CreatePdr, 'Session Establishment Request', undefined);
  if (farGroups.length === 0) missing(T.CreateFar, 'Session Establishment Request', undefined);
  const created: CreatedPdr[] = [];
  const pdrs = pdrGroups.map((g) => {
    const r = readCreatePdr(g, choices);
    if (r.created.fteid || r.created.ueIpv4 || r.created.ueIpv6Prefix) created.push(r.created);
    return r.pdr;
  });
  const rules: SessionRules = { pdrs, fars: farGroups.map(readCreateFar) };
  const urrExtras: UrrExtras[] = [];
  const urrs = getGroups(ies, T.CreateUrr).map((g) => {
    const { urr, extras } = readUrr(g, true);
    urrExtras.push(extras);
    return urr as CreateUrr;
  });
  if (urrs.length) rules.urrs = urrs;
  const qers = getGroups(ies, T.CreateQer).map((g) => readQer(g, true) as CreateQer);
  if (qers.length) rules.qers = qers;
  const out: ParsedRules = { rules, created, urrExtras };
  const barGroups = getGroups(ies, T.CreateBar);
  if (barGroups.length > 1) throw new RequestError(C.MandatoryIeIncorrect, 'more than one Create BAR', T.CreateBar);
  if (barGroups[0] !== undefined) {
    const { bar, ddnDelayMs } = readBar(barGroups[0]);
    rules.bar = bar;
    if (ddnDelayMs !== undefined) out.ddnDelayMs = ddnDelayMs;
  }
  return out;
}

/** Session Modification Request's changes (clause 7.5.4). */
export function readModification(ies: readonly Ie[], choices: Choices): ParsedModification {
  for (const type of [T.CreateBar, T.UpdateBarSessionModificationRequest, T.RemoveBar]) {
    const g = getGroups(ies, type)[0];
    if (g !== undefined) {
      const barId = getValue(g, T.BarId)?.ruleId ?? 0;
      ruleFailure({ kind: 'bar', ruleId: barId }, 'BARs are set at establishment only (the user plane takes no BAR change)', type);
    }
  }
  const flags = getValue(ies, T.PfcpSmReqFlags);
  const change: SessionModification = {};
  const created: CreatedPdr[] = [];
  const urrExtras: UrrExtras[] = [];
  const removed = (type: number, idType: typeof T.PdrId | typeof T.FarId | typeof T.QerId | typeof T.UrrId, name: string): number[] =>
    getGroups(ies, type).map((g) => ruleId(g, idType, name));

  const removePdrs = removed(T.RemovePdr, T.PdrId, 'Remove PDR');
  if (removePdrs.length) change.removePdrs = removePdrs;
  const removeFars = removed(T.RemoveFar, T.FarId, 'Remove FAR');
  if (removeFars.length) change.removeFars = removeFars;
  const removeQers = removed(T.RemoveQer, T.QerId, 'Remove QER');
  if (removeQers.length) change.removeQers = removeQers;
  const removeUrrs = removed(T.RemoveUrr, T.UrrId, 'Remove URR');
  if (removeUrrs.length) change.removeUrrs = removeUrrs;

  const createPdrs = getGroups(ies, T.CreatePdr).map((g) => {
    const r = readCreatePdr(g, choices);
    if (r.created.fteid || r.created.ueIpv4 || r.created.ueIpv6Prefix) created.push(r.created);
    return r.pdr;
  });
  if (createPdrs.length) change.createPdrs = createPdrs;
  const updatePdrs = getGroups(ies, T.UpdatePdr).map((g) => {
    const r = readUpdatePdr(g, choices);
    if (r.created) created.push(r.created);
    return r.pdr;
  });
  if (updatePdrs.length) change.updatePdrs = updatePdrs;
  const createFars = getGroups(ies, T.CreateFar).map(readCreateFar);
  if (createFars.length) change.createFars = createFars;
  const updateFars = getGroups(ies, T.UpdateFar).map((g) => readUpdateFar(g, hasFlag(flags, 'SNDEM')));
  if (updateFars.length) change.updateFars = updateFars;
  const createQers = getGroups(ies, T.CreateQer).map((g) => readQer(g, true) as CreateQer);
  if (createQers.length) change.createQers = createQers;
  const updateQers = getGroups(ies, T.UpdateQer).map((g) => readQer(g, false));
  if (updateQers.length) change.updateQers = updateQers;
  const createUrrs = getGroups(ies, T.CreateUrr).map((g) => {
    const { urr, extras } = readUrr(g, true);
    urrExtras.push(extras);
    return urr as CreateUrr;
  });
  if (createUrrs.length) change.createUrrs = createUrrs;
  const updateUrrs = getGroups(ies, T.UpdateUrr).map((g) => {
    const { urr, extras } = readUrr(g, false);
    if (extras.quotaFarId !== undefined) urrExtras.push(extras);
    return urr;
  });
  if (updateUrrs.length) change.updateUrrs = updateUrrs;
  const queryUrrs = getGroups(ies, T.QueryUrr).map((g) => ruleId(g, T.UrrId, 'Query URR'));
  return { change, created, urrExtras, queryUrrs, queryAllUrrs: hasFlag(flags, 'QAURR'), removedUrrs: removeUrrs };
}
