// Shared by the PFCP node tests: a node on loopback over a UpfSessions, scapy expressions of an
// SMF's requests, and a log that the tests can read.
import * as dgram from 'node:dgram';

import { IeType as T, MessageType as M, type NodeId, OuterHeader, type PfcpMessage, decodeMessage, encodeMessage, getValue, group, ie } from '../src/pfcp/index';
import { type PfcpNode, type PfcpNodeOptions, startPfcpNode } from '../src/node/index';
import type { LogFields, LogLevel, Logger } from '../src/node/log';
import type { UpfSessions } from '../src/sessions/types';

export const SMF_NODE = "IE_NodeId(id_type=2, id='smf.test')";
export const N3 = '198.51.100.1';
export const SMF_RTS = 3_900_000_000;

export interface CapturedLog extends Logger {
  lines: { level: LogLevel; msg: string; fields: LogFields }[];
}

export function captureLog(): CapturedLog {
  const lines: CapturedLog['lines'] = [];
  return { lines, log: (level, msg, fields = {}) => lines.push({ level, msg, fields }) };
}

export async function startNode(sessions: UpfSessions, extra: Partial<PfcpNodeOptions> = {}): Promise<{ node: PfcpNode; to: { address: string; port: number }; log: CapturedLog }> {
  const log = captureLog();
  const node = await startPfcpNode(
    {
      addresses: ['127.0.0.1'],
      port: 0,
      nodeId: { kind: 'fqdn', value: 'upf.test' },
      fTeidAddresses: { ipv4: N3, ipv6: '2001:db8:3::1' },
      uePools: [{ prefix: '10.45.0.0/16' }, { prefix: '2001:db8:45::/48', prefixLength: 64 }],
      timers: { heartbeatIntervalMs: 60_000, t1Ms: 200, n1: 2 },
      eventPollMs: 5,
      logger: log,
      ...extra,
    },
    sessions,
  );
  const p = node.ports()[0] as { address: string; port: number };
  return { node, to: { address: p.address, port: p.port }, log };
}

export const associationSetup = (seq: number, rts = SMF_RTS): string =>
  `PFCP(S=0, seq=${seq})/PFCPAssociationSetupRequest(IE_list=[${SMF_NODE}, IE_RecoveryTimeStamp(timestamp=${rts}), IE_CPFunctionFeatures(LOAD=0)])`;

/** scapy's UE IP Address has no CHV4/CHV6 fields: they are its `spare` bits 2 and 3 (0x10, 0x20). */
export const CHV4 = 2;

/** An establishment with an uplink PDR (CHOOSE F-TEID, SDF filter) and a downlink PDR (CHV4). */
export function establishment(seq: number, cpSeid: bigint | number, options: { urr?: string; extraIes?: string; bar?: boolean } = {}): string {
  const urr =
    options.urr ??
    'IE_CreateURR(IE_list=[IE_URR_Id(id=1), IE_MeasurementMethod(VOLUM=1, DURAT=1), IE_ReportingTriggers(volume_threshold=1), IE_VolumeThreshold(TOVOL=1, total=10000)])';
  return `PFCP(S=1, seid=0, seq=${seq})/PFCPSessionEstablishmentRequest(IE_list=[
    ${SMF_NODE}, IE_FSEID(v4=1, seid=${cpSeid}, ipv4='127.0.0.1'),
    IE_CreatePDR(IE_list=[IE_PDR_Id(id=1), IE_Precedence(precedence=100),
      IE_PDI(IE_list=[IE_SourceInterface(interface=0), IE_FTEID(V4=1, CH=1, CHID=1, choose_id=1), IE_NetworkInstance(instance='internet'),
        IE_SDF_Filter(FD=1, flow_description='permit out 17 from 192.0.2.0/24 5000-5010 to assigned'), IE_QFI(QFI=9)]),
      IE_OuterHeaderRemoval(header=0), IE_FAR_Id(id=1), IE_URR_Id(id=1), IE_QER_Id(id=1)]),
    IE_CreatePDR(IE_list=[IE_PDR_Id(id=2), IE_Precedence(precedence=100),
      IE_PDI(IE_list=[IE_SourceInterface(interface=1), IE_NetworkInstance(instance='internet'), IE_UE_IP_Address(spare=${CHV4}, SD=1)]),
      IE_FAR_Id(id=2), IE_URR_Id(id=1), IE_QER_Id(id=1)]),
    IE_CreateFAR(IE_list=[IE_FAR_Id(id=1), IE_ApplyAction(FORW=1),
      IE_ForwardingParameters(IE_list=[IE_DestinationInterface(interface=1), IE_NetworkInstance(instance='internet')])]),
    IE_CreateFAR(IE_list=[IE_FAR_Id(id=2), IE_ApplyAction(BUFF=1, NOCP=1)${options.bar ? ', IE_BAR_Id(id=1)' : ''}]),
    ${urr},
    IE_CreateQER(IE_list=[IE_QER_Id(id=1), IE_GateStatus(ul=0, dl=0), IE_MBR(ul=100000, dl=200000), IE_QFI(QFI=9)])
    ${options.bar ? ", IE_Create_BAR(IE_list=[IE_BAR_Id(id=1), IE_DownlinkDataNotificationDelay(delay=2)])" : ''}
    ${options.extraIes ?? ''}])`.replace(/\n\s*/g, ' ');
}

export const deletion = (seq: number, seid: bigint | number | string): string => `PFCP(S=1, seid=${seid}, seq=${seq})/PFCPSessionDeletionRequest()`;

const responseTypes = new Set<number>([M.HeartbeatResponse, M.AssociationSetupResponse, M.AssociationUpdateResponse, M.AssociationReleaseResponse, M.SessionEstablishmentResponse, M.SessionModificationResponse, M.SessionDeletionResponse, M.SessionReportResponse]);

/** An SMF on our own codec, for volumes scapy cannot drive quickly: requests matched by sequence. */
export class CodecSmf {
  readonly socket = dgram.createSocket('udp4');
  readonly #waiting = new Map<number, (m: PfcpMessage) => void>();
  /** Requests the UPF sent us (Session Report Requests, heartbeats), answered by `onRequest`. */
  onRequest: (m: PfcpMessage) => PfcpMessage | undefined = () => undefined;
  #sequence = 1;

  constructor(readonly to: { address: string; port: number }) {
    this.socket.on('message', (b) => {
      const m = decodeMessage(b);
      const w = this.#waiting.get(m.sequence);
      if (w && responseTypes.has(m.type)) {
        this.#waiting.delete(m.sequence);
        w(m);
        return;
      }
      const answer = this.onRequest(m);
      if (answer) this.socket.send(encodeMessage(answer), this.to.port, this.to.address);
    });
  }

  async bind(): Promise<this> {
    await new Promise<void>((r) => this.socket.bind(0, '127.0.0.1', () => r()));
    return this;
  }

  /** Sends with the next sequence number, again every `t1` ms until answered (at most `n1` times). */
  request(m: Omit<PfcpMessage, 'sequence'>, t1 = 500, n1 = 5): Promise<PfcpMessage> {
    const sequence = this.#sequence;
    this.#sequence = (this.#sequence % 0xfffffe) + 1;
    const bytes = encodeMessage({ ...m, sequence });
    return new Promise((resolve, reject) => {
      let tries = 0;
      const send = (): void => {
        if (this.#closed) return;
        if (tries++ > n1) {
          this.#waiting.delete(sequence);
          reject(new Error(`no response to ${m.type} seq ${sequence}`));
          return;
        }
        this.socket.send(bytes, this.to.port, this.to.address);
        timer = setTimeout(send, t1);
      };
      let timer: NodeJS.Timeout | undefined;
      this.#waiting.set(sequence, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      send();
    });
  }

  #closed = false;

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiting.clear();
    this.socket.close();
  }
}

export const smfNodeId: NodeId = { kind: 'fqdn', value: 'smf.test' };

export function associationSetupMessage(rts = SMF_RTS): Omit<PfcpMessage, 'sequence'> {
  return { type: M.AssociationSetupRequest, ies: [ie(T.NodeId, smfNodeId), ie(T.RecoveryTimeStamp, { ntpSeconds: rts })] };
}

/** The establishment of `establishment()` on our codec: uplink PDR with CHOOSE, downlink with CHV4. */
export function establishmentMessage(cpSeid: bigint): Omit<PfcpMessage, 'sequence'> {
  return {
    type: M.SessionEstablishmentRequest,
    seid: 0n,
    ies: [
      ie(T.NodeId, smfNodeId),
      ie(T.FSeid, { seid: cpSeid, ipv4: '127.0.0.1' }),
      group(T.CreatePdr, [
        ie(T.PdrId, { ruleId: 1 }),
        ie(T.Precedence, { precedence: 100 }),
        group(T.Pdi, [ie(T.SourceInterface, { interface: 0 }), ie(T.FTeid, { v4: true, v6: false, ch: true, chooseId: 1 }), ie(T.NetworkInstance, { name: 'internet' })]),
        ie(T.OuterHeaderRemoval, { description: 0 }),
        ie(T.FarId, { ruleId: 1 }),
        ie(T.UrrId, { ruleId: 1 }),
      ]),
      group(T.CreatePdr, [
        ie(T.PdrId, { ruleId: 2 }),
        ie(T.Precedence, { precedence: 100 }),
        group(T.Pdi, [ie(T.SourceInterface, { interface: 1 }), ie(T.NetworkInstance, { name: 'internet' }), ie(T.UeIpAddress, { destination: true, chooseV4: true, chooseV6: false })]),
        ie(T.FarId, { ruleId: 2 }),
        ie(T.UrrId, { ruleId: 1 }),
      ]),
      group(T.CreateFar, [ie(T.FarId, { ruleId: 1 }), ie(T.ApplyAction, { flags: ['FORW'] }), group(T.ForwardingParameters, [ie(T.DestinationInterface, { interface: 1 })])]),
      group(T.CreateFar, [ie(T.FarId, { ruleId: 2 }), ie(T.ApplyAction, { flags: ['BUFF', 'NOCP'] })]),
      group(T.CreateUrr, [ie(T.UrrId, { ruleId: 1 }), ie(T.MeasurementMethod, { flags: ['VOLUM'] }), ie(T.ReportingTriggers, { flags: [] })]),
    ],
  };
}

/** The modification a storm sends: the downlink FAR forwards to the gNB, a third PDR and a URR. */
export function modificationMessage(seid: bigint, gnbTeid: number): Omit<PfcpMessage, 'sequence'> {
  return {
    type: M.SessionModificationRequest,
    seid,
    ies: [
      group(T.UpdateFar, [
        ie(T.FarId, { ruleId: 2 }),
        ie(T.ApplyAction, { flags: ['FORW'] }),
        group(T.UpdateForwardingParameters, [ie(T.DestinationInterface, { interface: 0 }), ie(T.OuterHeaderCreation, { description: OuterHeader.GtpuUdpIpv4, teid: gnbTeid, ipv4: '192.0.2.1' })]),
      ]),
      group(T.CreatePdr, [
        ie(T.PdrId, { ruleId: 3 }),
        ie(T.Precedence, { precedence: 50 }),
        // CHV4 again: the session's UE address (the user plane finds downlink PDRs by it).
        group(T.Pdi, [
          ie(T.SourceInterface, { interface: 1 }),
          ie(T.UeIpAddress, { destination: true, chooseV4: true, chooseV6: false }),
          ie(T.SdfFilter, { flowDescription: 'permit out 6 from any 80 to assigned' }),
        ]),
        ie(T.FarId, { ruleId: 2 }),
        ie(T.UrrId, { ruleId: 2 }),
      ]),
      group(T.CreateUrr, [ie(T.UrrId, { ruleId: 2 }), ie(T.MeasurementMethod, { flags: ['VOLUM'] }), ie(T.ReportingTriggers, { flags: [] })]),
    ],
  };
}

export const causeOf = (m: PfcpMessage): number | undefined => getValue(m.ies, T.Cause)?.cause;
