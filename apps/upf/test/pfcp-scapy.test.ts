// The PFCP codec against scapy's scapy.contrib.pfcp, for every message type the UPF speaks:
// scapy's bytes decode with ours to the expected message, ours decode with scapy to the same key
// fields, and encode(decode(bytes)) gives the same bytes.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import test, { type ExecutionContext } from 'ava';

import {
  type Ie,
  IeType as T,
  MessageType as M,
  OuterHeader,
  type PfcpMessage,
  decodeMessage,
  encodeMessage,
  group,
  ie,
} from '../src/pfcp/index';
import { type ScapyIe, runScapy } from './scapy';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const text = (s: string): string => Buffer.from(s, 'latin1').toString('hex');
const bit = (flags: string[], name: string): number => (flags.includes(name) ? 1 : 0);

interface Case {
  name: string;
  scapy: string;
  ours: PfcpMessage;
}

const nodeV4 = ie(T.NodeId, { kind: 'ipv4', value: '198.51.100.10' });
const rts = ie(T.RecoveryTimeStamp, { ntpSeconds: 3_900_000_000 });
const accepted = ie(T.Cause, { cause: 1 });
const upFeatures = ie(T.UpFunctionFeatures, { flags: ['BUCP', 'DDND', 'FTUP', 'QUOAC'], octets: 2 });
const volumes = { total: 9_007_199_254_740_993n, uplink: 123_456_789_012n, downlink: 8_883_742_241_728_981n };

const cases: Case[] = [
  {
    name: 'Heartbeat Request',
    scapy: 'PFCP(S=0, seq=1)/PFCPHeartbeatRequest(IE_list=[IE_RecoveryTimeStamp(timestamp=3900000000)])',
    ours: { type: M.HeartbeatRequest, sequence: 1, ies: [rts] },
  },
  {
    name: 'Heartbeat Response',
    scapy: 'PFCP(S=0, seq=0xfffffe)/PFCPHeartbeatResponse(IE_list=[IE_RecoveryTimeStamp(timestamp=3900000000)])',
    ours: { type: M.HeartbeatResponse, sequence: 0xfffffe, ies: [rts] },
  },
  {
    name: 'Association Setup Request (FQDN node id, CP features)',
    scapy:
      "PFCP(S=0, seq=2)/PFCPAssociationSetupRequest(IE_list=[IE_NodeId(id_type=2, id='smf.example.org'), IE_RecoveryTimeStamp(timestamp=3900000000), IE_CPFunctionFeatures(LOAD=1)])",
    ours: {
      type: M.AssociationSetupRequest,
      sequence: 2,
      ies: [ie(T.NodeId, { kind: 'fqdn', value: 'smf.example.org' }), rts, ie(T.CpFunctionFeatures, { flags: ['LOAD'], octets: 1 })],
    },
  },
  {
    name: 'Association Setup Response (UP features)',
    scapy:
      "PFCP(S=0, seq=2)/PFCPAssociationSetupResponse(IE_list=[IE_NodeId(id_type=0, ipv4='198.51.100.10'), IE_Cause(cause=1), IE_RecoveryTimeStamp(timestamp=3900000000), IE_UPFunctionFeatures(BUCP=1, DDND=1, FTUP=1, QUOAC=1, TREU=0, HEEU=0, PFDM=0, TRST=0, DLBD=0, spare=0, PFDE=0, FRRT=0, TRACE=0, UDBC=0, PDIU=0, EMPU=0)])",
    ours: { type: M.AssociationSetupResponse, sequence: 2, ies: [nodeV4, accepted, rts, upFeatures] },
  },
  {
    name: 'Association Update Request (IPv6 node id)',
    scapy:
      "PFCP(S=0, seq=3)/PFCPAssociationUpdateRequest(IE_list=[IE_NodeId(id_type=1, ipv6='2001:db8::1'), IE_UPFunctionFeatures(BUCP=1, DDND=1, FTUP=1, QUOAC=1, TREU=0, HEEU=0, PFDM=0, TRST=0, DLBD=0, spare=0, PFDE=0, FRRT=0, TRACE=0, UDBC=0, PDIU=0, EMPU=0), IE_PFCPAssociationReleaseRequest(SARR=1), IE_GracefulReleasePeriod(release_timer_unit=1, release_timer_value=5), IE_UserPlaneIPResourceInformation(V4=1, TEIDRI=2, teid_range=3, ipv4='203.0.113.5', ASSONI=1, network_instance='internet', ASSOSI=1, interface=0)])",
    ours: {
      type: M.AssociationUpdateRequest,
      sequence: 3,
      ies: [
        ie(T.NodeId, { kind: 'ipv6', value: '2001:db8::1' }),
        upFeatures,
        ie(T.PfcpAssociationReleaseRequest, { flags: ['SARR'], octets: 1 }),
        ie(T.GracefulReleasePeriod, { timer: (1 << 5) | 5 }),
        ie(T.UserPlaneIpResourceInformation, {
          teidRangeBits: 2,
          teidRange: 3,
          ipv4: '203.0.113.5',
          networkInstance: { name: 'internet' },
          sourceInterface: 0,
        }),
      ],
    },
  },
  {
    name: 'Association Update Response',
    scapy: "PFCP(S=0, seq=3)/PFCPAssociationUpdateResponse(IE_list=[IE_NodeId(id_type=0, ipv4='198.51.100.10'), IE_Cause(cause=1)])",
    ours: { type: M.AssociationUpdateResponse, sequence: 3, ies: [nodeV4, accepted] },
  },
  {
    name: 'Association Release Request',
    scapy: "PFCP(S=0, seq=4)/PFCPAssociationReleaseRequest(IE_list=[IE_NodeId(id_type=0, ipv4='198.51.100.10')])",
    ours: { type: M.AssociationReleaseRequest, sequence: 4, ies: [nodeV4] },
  },
  {
    name: 'Association Release Response',
    scapy: "PFCP(S=0, seq=4)/PFCPAssociationReleaseResponse(IE_list=[IE_NodeId(id_type=0, ipv4='198.51.100.10'), IE_Cause(cause=1)])",
    ours: { type: M.AssociationReleaseResponse, sequence: 4, ies: [nodeV4, accepted] },
  },
  {
    name: 'Node Report Request (path failure, Remote GTP-U Peer kept raw)',
    scapy:
      "PFCP(S=0, seq=5)/PFCPNodeReportRequest(IE_list=[IE_NodeId(id_type=0, ipv4='198.51.100.10'), IE_NodeReportType(UPFR=1), IE_UserPlanePathFailureReport(IE_list=[IE_RemoteGTP_U_Peer(V4=1, ipv4='192.0.2.9')])])",
    ours: {
      type: M.NodeReportRequest,
      sequence: 5,
      ies: [
        nodeV4,
        ie(T.NodeReportType, { flags: ['UPFR'], octets: 1 }),
        group(T.UserPlanePathFailureReport, [{ kind: 'raw', type: 103, data: Uint8Array.from([2, 192, 0, 2, 9]) }]),
      ],
    },
  },
  {
    name: 'Node Report Response',
    scapy: "PFCP(S=0, seq=5)/PFCPNodeReportResponse(IE_list=[IE_NodeId(id_type=0, ipv4='198.51.100.10'), IE_Cause(cause=1)])",
    ours: { type: M.NodeReportResponse, sequence: 5, ies: [nodeV4, accepted] },
  },
  {
    name: 'Session Establishment Request (PDR/FAR/URR/QER/BAR, CHOOSE F-TEID)',
    scapy: `PFCP(S=1, seid=0, seq=7)/PFCPSessionEstablishmentRequest(IE_list=[
      IE_NodeId(id_type=0, ipv4='198.51.100.10'),
      IE_FSEID(v4=1, seid=0x1122334455667788, ipv4='198.51.100.10'),
      IE_CreatePDR(IE_list=[IE_PDR_Id(id=1), IE_Precedence(precedence=100),
        IE_PDI(IE_list=[IE_SourceInterface(interface=0), IE_FTEID(V4=1, CH=1, CHID=1, choose_id=5),
          IE_NetworkInstance(instance='internet'), IE_UE_IP_Address(V4=1, SD=0, ipv4='10.45.0.2'),
          IE_SDF_Filter(FD=1, flow_description='permit out ip from any to assigned')]),
        IE_OuterHeaderRemoval(header=0), IE_FAR_Id(id=1), IE_URR_Id(id=1), IE_QER_Id(id=1)]),
      IE_CreateFAR(IE_list=[IE_FAR_Id(id=1), IE_ApplyAction(FORW=1),
        IE_ForwardingParameters(IE_list=[IE_DestinationInterface(interface=1), IE_NetworkInstance(instance='internet'),
          IE_OuterHeaderCreation(GTPUUDPIPV4=1, TEID=0x1234abcd, ipv4='192.0.2.7')])]),
      IE_CreateURR(IE_list=[IE_URR_Id(id=1), IE_MeasurementMethod(VOLUM=1, DURAT=1),
        IE_ReportingTriggers(volume_threshold=1, periodic_reporting=1),
        IE_VolumeThreshold(TOVOL=1, ULVOL=1, DLVOL=1, total=9007199254740993, uplink=123456789012, downlink=8883742241728981),
        IE_VolumeQuota(TOVOL=1, total=50000000), IE_MeasurementPeriod(period=60), IE_TimeThreshold(threshold=120)]),
      IE_CreateQER(IE_list=[IE_QER_Id(id=1), IE_GateStatus(ul=0, dl=1), IE_MBR(ul=1000000, dl=1099511627775),
        IE_GBR(ul=5000, dl=6000), IE_QFI(QFI=9)]),
      IE_Create_BAR(IE_list=[IE_BAR_Id(id=1)])])`,
    ours: {
      type: M.SessionEstablishmentRequest,
      sequence: 7,
      seid: 0n,
      ies: [
        nodeV4,
        ie(T.FSeid, { seid: 0x1122334455667788n, ipv4: '198.51.100.10' }),
        group(T.CreatePdr, [
          ie(T.PdrId, { ruleId: 1 }),
          ie(T.Precedence, { precedence: 100 }),
          group(T.Pdi, [
            ie(T.SourceInterface, { interface: 0 }),
            ie(T.FTeid, { v4: true, v6: false, ch: true, chooseId: 5 }),
            ie(T.NetworkInstance, { name: 'internet' }),
            ie(T.UeIpAddress, { destination: false, chooseV4: false, chooseV6: false, ipv4: '10.45.0.2' }),
            ie(T.SdfFilter, { flowDescription: 'permit out ip from any to assigned' }),
          ]),
          ie(T.OuterHeaderRemoval, { description: 0 }),
          ie(T.FarId, { ruleId: 1 }),
          ie(T.UrrId, { ruleId: 1 }),
          ie(T.QerId, { ruleId: 1 }),
        ]),
        group(T.CreateFar, [
          ie(T.FarId, { ruleId: 1 }),
          ie(T.ApplyAction, { flags: ['FORW'], octets: 1 }),
          group(T.ForwardingParameters, [
            ie(T.DestinationInterface, { interface: 1 }),
            ie(T.NetworkInstance, { name: 'internet' }),
            ie(T.OuterHeaderCreation, { description: OuterHeader.GtpuUdpIpv4, teid: 0x1234abcd, ipv4: '192.0.2.7' }),
          ]),
        ]),
        group(T.CreateUrr, [
          ie(T.UrrId, { ruleId: 1 }),
          ie(T.MeasurementMethod, { flags: ['DURAT', 'VOLUM'], octets: 1 }),
          ie(T.ReportingTriggers, { flags: ['PERIO', 'VOLTH'], octets: 2 }),
          ie(T.VolumeThreshold, volumes),
          ie(T.VolumeQuota, { total: 50_000_000n }),
          ie(T.MeasurementPeriod, { seconds: 60 }),
          ie(T.TimeThreshold, { seconds: 120 }),
        ]),
        group(T.CreateQer, [
          ie(T.QerId, { ruleId: 1 }),
          ie(T.GateStatus, { ul: 0, dl: 1 }),
          ie(T.Mbr, { ul: 1_000_000, dl: 1_099_511_627_775 }),
          ie(T.Gbr, { ul: 5000, dl: 6000 }),
          ie(T.QFI, { qfi: 9 }),
        ]),
        group(T.CreateBar, [ie(T.BarId, { ruleId: 1 })]),
      ],
    },
  },
  {
    name: 'Session Establishment Response (Created PDR with F-TEID)',
    scapy: `PFCP(S=1, seid=0x1122334455667788, seq=7)/PFCPSessionEstablishmentResponse(IE_list=[
      IE_NodeId(id_type=0, ipv4='198.51.100.10'), IE_Cause(cause=1),
      IE_FSEID(v4=1, v6=1, seid=0xfedcba9876543210, ipv4='203.0.113.5', ipv6='2001:db8:0:1::5'),
      IE_CreatedPDR(IE_list=[IE_PDR_Id(id=1), IE_FTEID(V4=1, TEID=0xabcdef01, ipv4='203.0.113.5')]),
      IE_OffendingIE(type=21)])`,
    ours: {
      type: M.SessionEstablishmentResponse,
      sequence: 7,
      seid: 0x1122334455667788n,
      ies: [
        nodeV4,
        accepted,
        ie(T.FSeid, { seid: 0xfedcba9876543210n, ipv4: '203.0.113.5', ipv6: '2001:db8:0:1::5' }),
        group(T.CreatedPdr, [
          ie(T.PdrId, { ruleId: 1 }),
          ie(T.FTeid, { v4: true, v6: false, ch: false, teid: 0xabcdef01, ipv4: '203.0.113.5' }),
        ]),
        ie(T.OffendingIe, { ieType: 21 }),
      ],
    },
  },
  {
    name: 'Session Modification Request (update/remove rules, IPv6 outer header)',
    scapy: `PFCP(S=1, seid=0xfedcba9876543210, seq=8)/PFCPSessionModificationRequest(IE_list=[
      IE_UpdatePDR(IE_list=[IE_PDR_Id(id=1), IE_Precedence(precedence=200)]),
      IE_UpdateFAR(IE_list=[IE_FAR_Id(id=1), IE_ApplyAction(BUFF=1, NOCP=1),
        IE_UpdateForwardingParameters(IE_list=[IE_DestinationInterface(interface=0),
          IE_OuterHeaderCreation(GTPUUDPIPV6=1, TEID=7, ipv6='2001:db8::7')])]),
      IE_UpdateURR(IE_list=[IE_URR_Id(id=1), IE_VolumeThreshold(DLVOL=1, downlink=1000)]),
      IE_UpdateQER(IE_list=[IE_QER_Id(id=1), IE_GateStatus(ul=1, dl=1)]),
      IE_RemovePDR(IE_list=[IE_PDR_Id(id=2)]), IE_RemoveFAR(IE_list=[IE_FAR_Id(id=2)]),
      IE_RemoveURR(IE_list=[IE_URR_Id(id=2)]), IE_RemoveQER(IE_list=[IE_QER_Id(id=2)]),
      IE_Remove_BAR(IE_list=[IE_BAR_Id(id=1)])])`,
    ours: {
      type: M.SessionModificationRequest,
      sequence: 8,
      seid: 0xfedcba9876543210n,
      ies: [
        group(T.UpdatePdr, [ie(T.PdrId, { ruleId: 1 }), ie(T.Precedence, { precedence: 200 })]),
        group(T.UpdateFar, [
          ie(T.FarId, { ruleId: 1 }),
          ie(T.ApplyAction, { flags: ['BUFF', 'NOCP'], octets: 1 }),
          group(T.UpdateForwardingParameters, [
            ie(T.DestinationInterface, { interface: 0 }),
            ie(T.OuterHeaderCreation, { description: OuterHeader.GtpuUdpIpv6, teid: 7, ipv6: '2001:db8::7' }),
          ]),
        ]),
        group(T.UpdateUrr, [ie(T.UrrId, { ruleId: 1 }), ie(T.VolumeThreshold, { downlink: 1000n })]),
        group(T.UpdateQer, [ie(T.QerId, { ruleId: 1 }), ie(T.GateStatus, { ul: 1, dl: 1 })]),
        group(T.RemovePdr, [ie(T.PdrId, { ruleId: 2 })]),
        group(T.RemoveFar, [ie(T.FarId, { ruleId: 2 })]),
        group(T.RemoveUrr, [ie(T.UrrId, { ruleId: 2 })]),
        group(T.RemoveQer, [ie(T.QerId, { ruleId: 2 })]),
        group(T.RemoveBar, [ie(T.BarId, { ruleId: 1 })]),
      ],
    },
  },
  {
    name: 'Session Modification Response (usage report)',
    scapy: `PFCP(S=1, seid=0x1122334455667788, seq=8)/PFCPSessionModificationResponse(IE_list=[IE_Cause(cause=1),
      IE_UsageReport_SMR(IE_list=[IE_URR_Id(id=1), IE_UR_SEQN(number=3), IE_UsageReportTrigger(VOLTH=1),
        IE_StartTime(timestamp=3900000000), IE_EndTime(timestamp=3900000060),
        IE_VolumeMeasurement(TOVOL=1, ULVOL=1, DLVOL=1, total=9007199254740993, uplink=123456789012, downlink=8883742241728981),
        IE_DurationMeasurement(duration=60)])])`,
    ours: {
      type: M.SessionModificationResponse,
      sequence: 8,
      seid: 0x1122334455667788n,
      ies: [
        accepted,
        group(T.UsageReportSessionModificationResponse, [
          ie(T.UrrId, { ruleId: 1 }),
          ie(T.UrSeqn, { sequence: 3 }),
          ie(T.UsageReportTrigger, { flags: ['VOLTH'], octets: 2 }),
          ie(T.StartTime, { ntpSeconds: 3_900_000_000 }),
          ie(T.EndTime, { ntpSeconds: 3_900_000_060 }),
          ie(T.VolumeMeasurement, volumes),
          ie(T.DurationMeasurement, { seconds: 60 }),
        ]),
      ],
    },
  },
  {
    name: 'Session Modification Response (cause 73, Failed Rule ID of each kind)',
    scapy: `PFCP(S=1, seid=0x1122334455667788, seq=11)/PFCPSessionModificationResponse(IE_list=[IE_Cause(cause=73),
      IE_OffendingIE(type=23), IE_FailedRuleId(type=0, pdr_id=7), IE_FailedRuleId(type=1, far_id=0x10000),
      IE_FailedRuleId(type=3, urr_id=9), IE_FailedRuleId(type=4, bar_id=2)])`,
    ours: {
      type: M.SessionModificationResponse,
      sequence: 11,
      seid: 0x1122334455667788n,
      ies: [
        ie(T.Cause, { cause: 73 }),
        ie(T.OffendingIe, { ieType: 23 }),
        ie(T.FailedRuleId, { kind: 'pdr', ruleId: 7 }),
        ie(T.FailedRuleId, { kind: 'far', ruleId: 0x10000 }),
        ie(T.FailedRuleId, { kind: 'urr', ruleId: 9 }),
        ie(T.FailedRuleId, { kind: 'bar', ruleId: 2 }),
      ],
    },
  },
  {
    name: 'Session Modification Request (PFCPSMReq-Flags, Query URR, Create BAR with DDN delay and buffering count)',
    scapy: `PFCP(S=1, seid=0xfedcba9876543210, seq=12)/PFCPSessionModificationRequest(IE_list=[
      IE_PFCPSMReqFlags(QUARR=1, SNDEM=1), IE_QueryURR(IE_list=[IE_URR_Id(id=3)]),
      IE_Create_BAR(IE_list=[IE_BAR_Id(id=1), IE_DownlinkDataNotificationDelay(delay=4), IE_SuggestedBufferingPacketsCount(count=10)])])`,
    ours: {
      type: M.SessionModificationRequest,
      sequence: 12,
      seid: 0xfedcba9876543210n,
      ies: [
        ie(T.PfcpSmReqFlags, { flags: ['SNDEM', 'QAURR'], octets: 1 }),
        group(T.QueryUrr, [ie(T.UrrId, { ruleId: 3 })]),
        group(T.CreateBar, [ie(T.BarId, { ruleId: 1 }), ie(T.DownlinkDataNotificationDelay, { delay: 4 }), ie(T.SuggestedBufferingPacketsCount, { packets: 10 })]),
      ],
    },
  },
  {
    name: 'Session Deletion Request',
    scapy: 'PFCP(S=1, seid=0xfedcba9876543210, seq=9)/PFCPSessionDeletionRequest()',
    ours: { type: M.SessionDeletionRequest, sequence: 9, seid: 0xfedcba9876543210n, ies: [] },
  },
  {
    name: 'Session Deletion Response (final usage report)',
    scapy: `PFCP(S=1, seid=0x1122334455667788, seq=9)/PFCPSessionDeletionResponse(IE_list=[IE_Cause(cause=1),
      IE_UsageReport_SDR(IE_list=[IE_URR_Id(id=1), IE_UR_SEQN(number=4), IE_UsageReportTrigger(TERMR=1),
        IE_VolumeMeasurement(TOVOL=1, total=42)])])`,
    ours: {
      type: M.SessionDeletionResponse,
      sequence: 9,
      seid: 0x1122334455667788n,
      ies: [
        accepted,
        group(T.UsageReportSessionDeletionResponse, [
          ie(T.UrrId, { ruleId: 1 }),
          ie(T.UrSeqn, { sequence: 4 }),
          ie(T.UsageReportTrigger, { flags: ['TERMR'], octets: 2 }),
          ie(T.VolumeMeasurement, { total: 42n }),
        ]),
      ],
    },
  },
  {
    name: 'Session Report Request (downlink data report, usage report, message priority)',
    scapy: `PFCP(S=1, MP=1, priority=3, seid=0x1122334455667788, seq=0x123456)/PFCPSessionReportRequest(IE_list=[
      IE_ReportType(DLDR=1, USAR=1),
      IE_DownlinkDataReport(IE_list=[IE_PDR_Id(id=2), IE_DownlinkDataServiceInformation(QFII=1, qfi_val=9)]),
      IE_UsageReport_SRR(IE_list=[IE_URR_Id(id=1), IE_UR_SEQN(number=5), IE_UsageReportTrigger(PERIO=1),
        IE_VolumeMeasurement(ULVOL=1, DLVOL=1, uplink=1500, downlink=3000)])])`,
    ours: {
      type: M.SessionReportRequest,
      sequence: 0x123456,
      seid: 0x1122334455667788n,
      priority: 3,
      ies: [
        ie(T.ReportType, { flags: ['DLDR', 'USAR'], octets: 1 }),
        group(T.DownlinkDataReport, [ie(T.PdrId, { ruleId: 2 }), ie(T.DownlinkDataServiceInformation, { qfi: 9 })]),
        group(T.UsageReportSessionReportRequest, [
          ie(T.UrrId, { ruleId: 1 }),
          ie(T.UrSeqn, { sequence: 5 }),
          ie(T.UsageReportTrigger, { flags: ['PERIO'], octets: 2 }),
          ie(T.VolumeMeasurement, { uplink: 1500n, downlink: 3000n }),
        ]),
      ],
    },
  },
  {
    name: 'Session Report Response',
    scapy: 'PFCP(S=1, seid=0xfedcba9876543210, seq=0x123456)/PFCPSessionReportResponse(IE_list=[IE_Cause(cause=1)])',
    ours: { type: M.SessionReportResponse, sequence: 0x123456, seid: 0xfedcba9876543210n, ies: [accepted] },
  },
  {
    name: 'unknown message type (kept raw)',
    scapy: "PFCP(S=0, seq=10, message_type=99)/Raw(load=b'\\x01\\x02\\x03\\x04')",
    ours: { type: 99, sequence: 10, ies: [], raw: Uint8Array.from([1, 2, 3, 4]) },
  },
];

/** What scapy's fields should say for one of our IEs (the key fields of each type). */
function scapyView(x: Ie): Record<string, unknown> {
  if (x.kind !== 'value') return {};
  const v = x.value as unknown as Record<string, unknown>;
  const flags = (v['flags'] ?? []) as string[];
  const named = (...names: string[]): Record<string, number> => Object.fromEntries(names.map((n) => [n, bit(flags, n)]));
  const opt = (o: Record<string, unknown>): Record<string, unknown> =>
    Object.fromEntries(Object.entries(o).filter(([, val]) => val !== undefined));
  switch (x.type) {
    case T.Cause:
      return { cause: v['cause'] };
    case T.NodeId: {
      const kind = v['kind'];
      const value = v['value'] as string;
      if (kind === 'ipv4') return { id_type: 0, ipv4: value };
      if (kind === 'ipv6') return { id_type: 1, ipv6: value };
      return { id_type: 2, id: text(value) };
    }
    case T.RecoveryTimeStamp:
    case T.StartTime:
    case T.EndTime:
      return { timestamp: v['ntpSeconds'] };
    case T.FSeid:
      return opt({ seid: v['seid'], v4: v['ipv4'] ? 1 : 0, v6: v['ipv6'] ? 1 : 0, ipv4: v['ipv4'], ipv6: v['ipv6'] });
    case T.FTeid:
      return opt({
        V4: v['v4'] ? 1 : 0,
        V6: v['v6'] ? 1 : 0,
        CH: v['ch'] ? 1 : 0,
        CHID: v['chooseId'] !== undefined ? 1 : 0,
        TEID: v['teid'],
        ipv4: v['ipv4'],
        ipv6: v['ipv6'],
        choose_id: v['chooseId'],
      });
    case T.UeIpAddress:
      return opt({ V4: v['ipv4'] ? 1 : 0, V6: v['ipv6'] ? 1 : 0, SD: v['destination'] ? 1 : 0, ipv4: v['ipv4'], ipv6: v['ipv6'] });
    case T.PdrId:
    case T.FarId:
    case T.QerId:
    case T.UrrId:
    case T.BarId:
      return { id: v['ruleId'] };
    case T.Precedence:
      return { precedence: v['precedence'] };
    case T.SourceInterface:
    case T.DestinationInterface:
      return { interface: v['interface'] };
    case T.NetworkInstance:
      return { instance: text(v['name'] as string) };
    case T.SdfFilter:
      return { FD: 1, flow_description: text(v['flowDescription'] as string) };
    case T.OuterHeaderRemoval:
      return { header: v['description'] };
    case T.OuterHeaderCreation: {
      const d = v['description'] as number;
      return opt({
        GTPUUDPIPV4: d & OuterHeader.GtpuUdpIpv4 ? 1 : 0,
        GTPUUDPIPV6: d & OuterHeader.GtpuUdpIpv6 ? 1 : 0,
        TEID: v['teid'],
        ipv4: v['ipv4'],
        ipv6: v['ipv6'],
        port: v['port'],
      });
    }
    case T.ApplyAction:
      return named('DROP', 'FORW', 'BUFF', 'NOCP', 'DUPL');
    case T.UpFunctionFeatures:
      return named('BUCP', 'DDND', 'DLBD', 'TRST', 'FTUP', 'PFDM', 'HEEU', 'TREU', 'EMPU', 'PDIU', 'UDBC', 'QUOAC', 'TRACE', 'FRRT', 'PFDE');
    case T.CpFunctionFeatures:
      return named('LOAD', 'OVRL');
    case T.GateStatus:
    case T.Mbr:
    case T.Gbr:
      return { ul: v['ul'], dl: v['dl'] };
    case T.QFI:
      return { QFI: v['qfi'] };
    case T.MeasurementMethod:
      return named('DURAT', 'VOLUM', 'EVENT');
    case T.ReportingTriggers:
      return {
        periodic_reporting: bit(flags, 'PERIO'),
        volume_threshold: bit(flags, 'VOLTH'),
        time_threshold: bit(flags, 'TIMTH'),
        volume_quota: bit(flags, 'VOLQU'),
      };
    case T.VolumeThreshold:
    case T.VolumeQuota:
    case T.VolumeMeasurement:
      return opt({
        TOVOL: v['total'] !== undefined ? 1 : 0,
        ULVOL: v['uplink'] !== undefined ? 1 : 0,
        DLVOL: v['downlink'] !== undefined ? 1 : 0,
        total: v['total'],
        uplink: v['uplink'],
        downlink: v['downlink'],
      });
    case T.MeasurementPeriod:
      return { period: v['seconds'] };
    case T.TimeThreshold:
      return { threshold: v['seconds'] };
    case T.DurationMeasurement:
      return { duration: v['seconds'] };
    case T.UsageReportTrigger:
      return named('PERIO', 'VOLTH', 'TIMTH', 'START', 'IMMER', 'VOLQU', 'TERMR');
    case T.UrSeqn:
      return { number: v['sequence'] };
    case T.ReportType:
      return named('DLDR', 'USAR', 'ERIR', 'UPIR');
    case T.OffendingIe:
      return { type: v['ieType'] };
    case T.FailedRuleId: {
      const kind = v['kind'] as string;
      return { type: ['pdr', 'far', 'qer', 'urr', 'bar'].indexOf(kind), [`${kind}_id`]: v['ruleId'] };
    }
    case T.PfcpSmReqFlags:
      return { DROBU: bit(flags, 'DROBU'), SNDEM: bit(flags, 'SNDEM'), QUARR: bit(flags, 'QAURR') };
    case T.DownlinkDataNotificationDelay:
      return { delay: v['delay'] };
    case T.SuggestedBufferingPacketsCount:
      return { count: v['packets'] };
    case T.DownlinkDataServiceInformation:
      return opt({ QFII: v['qfi'] !== undefined ? 1 : 0, PPI: v['pagingPolicyIndication'] !== undefined ? 1 : 0, qfi_val: v['qfi'] });
    case T.NodeReportType:
      return named('UPFR');
    case T.PfcpAssociationReleaseRequest:
      return named('SARR');
    case T.GracefulReleasePeriod:
      return { release_timer_unit: (v['timer'] as number) >> 5, release_timer_value: (v['timer'] as number) & 31 };
    case T.UserPlaneIpResourceInformation: {
      const ni = v['networkInstance'] as { name?: string } | undefined;
      return opt({
        V4: v['ipv4'] ? 1 : 0,
        V6: v['ipv6'] ? 1 : 0,
        TEIDRI: v['teidRangeBits'],
        teid_range: v['teidRange'],
        ipv4: v['ipv4'],
        ipv6: v['ipv6'],
        ASSONI: ni ? 1 : 0,
        network_instance: ni?.name === undefined ? undefined : text(ni.name),
        ASSOSI: v['sourceInterface'] !== undefined ? 1 : 0,
        interface: v['sourceInterface'],
      });
    }
    default:
      throw new Error(`test has no scapy view of IE ${x.type}`);
  }
}

function compareIes(t: ExecutionContext, path: string, ours: readonly Ie[], theirs: readonly ScapyIe[]): void {
  t.is(theirs.length, ours.length, `${path}: IE count`);
  ours.forEach((x, i) => {
    const s = theirs[i];
    const where = `${path}[${i}] IE ${x.type}`;
    if (!s) return;
    t.is(s.ietype, x.type, `${where}: type`);
    for (const [k, want] of Object.entries(scapyView(x))) t.is(String(s.fields[k]), String(want), `${where}.${k}`);
    if (x.kind === 'grouped') compareIes(t, where, x.ies, s.ies);
  });
}

const ourBytes = cases.map((c) => encodeMessage(c.ours));
const scapy = runScapy(
  cases.map((c) => c.scapy.replace(/\n\s*/g, ' ')),
  ourBytes.map(hex),
);

// The fuzz corpus (apps/upf/test/corpus/pfcp/) is these messages as scapy builds them (ours are
// the same bytes, asserted below):
// PFCP_WRITE_CORPUS=1 npx ava apps/upf/test/pfcp-scapy.test.ts regenerates it.
if (process.env['PFCP_WRITE_CORPUS'] === '1') {
  cases.forEach((c, i) => {
    const slug = c.name.replace(/ \(.*/, '').toLowerCase().replace(/[^a-z0-9]+/g, '-');
    writeFileSync(join(__dirname, 'corpus', 'pfcp', `${slug}.scapy.bin`), Buffer.from(scapy.built[i] as string, 'hex'));
  });
}

cases.forEach((c, i) => {
  const theirs = Buffer.from(scapy.built[i] as string, 'hex');
  const ours = ourBytes[i] as Uint8Array;

  test(`scapy → ours: ${c.name}`, (t) => {
    t.deepEqual(decodeMessage(theirs), c.ours);
  });

  test(`ours → scapy: ${c.name}`, (t) => {
    const s = scapy.decoded[i];
    if (!s) return t.fail('scapy decoded nothing');
    t.is(s.version, 1);
    t.is(s.message_type, c.ours.type);
    t.is(s.seq, c.ours.sequence);
    t.is(s.length, ours.length - 4);
    t.is(s.S, c.ours.seid === undefined ? 0 : 1);
    t.is(s.seid, c.ours.seid === undefined ? undefined : String(c.ours.seid));
    t.is(s.priority, c.ours.priority);
    if (c.ours.raw) t.is(s.raw, hex(c.ours.raw));
    compareIes(t, 'message', c.ours.ies, s.ies);
  });

  test(`same bytes and round trip: ${c.name}`, (t) => {
    t.is(hex(ours), hex(theirs), 'our encoding equals scapy’s');
    t.is(hex(encodeMessage(decodeMessage(theirs))), hex(theirs));
  });
});
