// The PFCP node against scapy as the SMF (scapy builds every request and decodes every response
// and every request of the UPF): associations, heartbeats, sessions, reports, causes. The user
// plane is the UpfSessions test double, whose rules the tests read back.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test, { type ExecutionContext } from 'ava';

import { IeType as T } from '../src/pfcp/index';
import { UP_FUNCTION_FEATURES, fetchSessions, formatSessions } from '../src/node/index';
import type { ScapyIe } from './scapy';
import { type Received, ScapySmf, scapyIe, scapyIes } from './smf';
import { CHV4, N3, SMF_RTS, associationSetup, deletion, establishment, startNode } from './pfcp-node-helpers';
import { UpfSessionsTestDouble } from './upf-sessions-double';

let smf: ScapySmf;
test.before(async () => {
  smf = await ScapySmf.start();
});
test.after.always(() => smf?.close());

const field = (x: ScapyIe | undefined, name: string): unknown => x?.fields[name];
const causeOf = (r: Received): unknown => field(scapyIe(r.msg.ies, T.Cause), 'cause');

function expectResponse(t: ExecutionContext, r: Received, type: number, seq: number, cause: number): void {
  t.is(r.msg.message_type, type, `message type (cause ${String(causeOf(r))})`);
  t.is(r.msg.seq, seq);
  t.is(causeOf(r), cause, JSON.stringify(r.msg.ies.map((x) => [x.ietype, x.fields])));
}

/** Sets up the association and establishes one session; returns the UPF's SEID and the response. */
async function established(to: { address: string; port: number }, cpSeid: bigint = 0x1111n, options: Parameters<typeof establishment>[2] = {}): Promise<{ seid: string; r: Received }> {
  expectOk(await smf.request(to, associationSetup(1)));
  const r = await smf.request(to, establishment(2, cpSeid, options));
  expectOk(r);
  return { seid: String(field(scapyIe(r.msg.ies, T.FSeid), 'seid')), r };
}

function expectOk(r: Received): void {
  if (causeOf(r) !== 1) throw new Error(`cause ${String(causeOf(r))}: ${JSON.stringify(r.msg.ies.map((x) => [x.ietype, x.fields]))}`);
}

test.serial('heartbeat from the SMF is answered with the Recovery Time Stamp', async (t) => {
  const { node, to } = await startNode(new UpfSessionsTestDouble());
  try {
    const r = await smf.request(to, `PFCP(S=0, seq=7)/PFCPHeartbeatRequest(IE_list=[IE_RecoveryTimeStamp(timestamp=${SMF_RTS})])`);
    t.is(r.msg.message_type, 2);
    t.is(r.msg.seq, 7);
    t.is(field(scapyIe(r.msg.ies, T.RecoveryTimeStamp), 'timestamp'), node.recoveryTimeStamp);
    t.false(node.stateKept);
  } finally {
    await node.close();
  }
});

test.serial('session requests without an association get cause 72', async (t) => {
  const sessions = new UpfSessionsTestDouble();
  const { node, to } = await startNode(sessions);
  try {
    expectResponse(t, await smf.request(to, establishment(3, 0x42)), 51, 3, 72);
    const r = await smf.request(to, 'PFCP(S=1, seid=99, seq=4)/PFCPSessionModificationRequest()');
    expectResponse(t, r, 53, 4, 72);
    expectResponse(t, await smf.request(to, deletion(5, 99)), 55, 5, 72);
    t.is(sessions.size, 0);
    expectResponse(t, await smf.request(to, `PFCP(S=0, seq=6)/PFCPAssociationUpdateRequest(IE_list=[IE_NodeId(id_type=2, id='smf.test')])`), 8, 6, 72);
    expectResponse(t, await smf.request(to, `PFCP(S=0, seq=7)/PFCPAssociationReleaseRequest(IE_list=[IE_NodeId(id_type=2, id='smf.test')])`), 10, 7, 72);
  } finally {
    await node.close();
  }
});

test.serial('association setup from the SMF: Node ID, Recovery Time Stamp and the UP features built', async (t) => {
  const { node, to } = await startNode(new UpfSessionsTestDouble());
  try {
    const r = await smf.request(to, associationSetup(1));
    expectResponse(t, r, 6, 1, 1);
    t.is(field(scapyIe(r.msg.ies, T.NodeId), 'id_type'), 2);
    t.is(Buffer.from(String(field(scapyIe(r.msg.ies, T.NodeId), 'id')), 'hex').toString(), 'upf.test');
    t.is(field(scapyIe(r.msg.ies, T.RecoveryTimeStamp), 'timestamp'), node.recoveryTimeStamp);
    const f = scapyIe(r.msg.ies, T.UpFunctionFeatures);
    for (const name of ['FTUP', 'BUCP', 'DDND', 'QUOAC']) t.is(field(f, name), 1, name);
    for (const name of ['TREU', 'HEEU', 'PFDM', 'TRST', 'DLBD', 'PFDE', 'FRRT', 'TRACE', 'UDBC', 'PDIU', 'EMPU']) t.is(field(f, name), 0, name);
    // Octets 7-8 (past scapy's two): UEIP is octet 7 bit 3, nothing else.
    t.is(field(f, 'extra_data'), '0400');
    t.deepEqual([...UP_FUNCTION_FEATURES].sort(), ['BUCP', 'DDND', 'FTUP', 'QUOAC', 'UEIP']);
    t.is(node.associations().length, 1);
    expectResponse(t, await smf.request(to, `PFCP(S=0, seq=2)/PFCPAssociationUpdateRequest(IE_list=[IE_NodeId(id_type=2, id='smf.test'), IE_CPFunctionFeatures(LOAD=1)])`), 8, 2, 1);
    t.deepEqual(node.associations()[0]?.cpFeatures, ['LOAD']);
  } finally {
    await node.close();
  }
});

test.serial('establishment: CHOOSE F-TEID, CHV4 from the pool, SDF filter, QER, URR onto UpfSessions', async (t) => {
  const sessions = new UpfSessionsTestDouble();
  const { node, to } = await startNode(sessions);
  try {
    const { seid, r } = await established(to, 0xabcdefn);
    t.is(r.msg.message_type, 51);
    t.is(r.msg.seid, String(0xabcdef), 'the response carries the SMF’s SEID');
    const fseid = scapyIe(r.msg.ies, T.FSeid);
    t.is(field(fseid, 'ipv4'), '127.0.0.1');
    const created = scapyIes(r.msg.ies, T.CreatedPdr);
    t.is(created.length, 2);
    const up = created.find((c) => field(scapyIe(c.ies, T.PdrId), 'id') === 1) as ScapyIe;
    const fteid = scapyIe(up.ies, T.FTeid);
    t.is(field(fteid, 'V4'), 1);
    t.is(field(fteid, 'CH'), 0);
    t.is(field(fteid, 'ipv4'), N3);
    const down = created.find((c) => field(scapyIe(c.ies, T.PdrId), 'id') === 2) as ScapyIe;
    const ue = String(field(scapyIe(down.ies, T.UeIpAddress), 'ipv4'));
    t.regex(ue, /^10\.45\.\d+\.\d+$/);

    const rules = sessions.get(BigInt(seid));
    if (!rules) return t.fail('no session in UpfSessions');
    const pdr1 = rules.pdrs.find((p) => p.pdrId === 1);
    t.deepEqual(pdr1?.pdi.localFTeid, { teid: Number(field(fteid, 'TEID')), ipv4: N3 });
    t.deepEqual(pdr1?.pdi.sdfFilters, [{ protocol: 17, remote: { prefix: '192.0.2.0/24', ports: { from: 5000, to: 5010 } } }]);
    t.is(pdr1?.pdi.qfi, 9);
    t.is(pdr1?.pdi.networkInstance, 'internet');
    t.is(pdr1?.outerHeaderRemoval, 'gtpu-udp-ipv4');
    t.deepEqual(pdr1?.urrIds, [1]);
    t.deepEqual(rules.pdrs.find((p) => p.pdrId === 2)?.pdi.ueIpAddress, { ipv4: ue });
    t.deepEqual(rules.fars.find((f) => f.farId === 2)?.applyAction, { buffer: true, notifyCp: true });
    t.deepEqual(rules.qers?.[0], { qerId: 1, gateStatus: { uplink: 'open', downlink: 'open' }, mbr: { uplinkKbps: 100000, downlinkKbps: 200000 }, qfi: 9 });
    t.deepEqual(rules.urrs?.[0], { urrId: 1, measurementMethod: { volume: true, duration: true }, reportingTriggers: { volumeThreshold: true }, volumeThreshold: { total: 10000n } });

    // A second session gets another TEID and another address.
    const r2 = await smf.request(to, establishment(3, 0xabcdf0n));
    expectOk(r2);
    const created2 = scapyIes(r2.msg.ies, T.CreatedPdr);
    t.not(field(scapyIe(created2[0]?.ies ?? [], T.FTeid, true), 'TEID'), field(fteid, 'TEID'));
    t.not(field(scapyIe(created2[1]?.ies ?? [], T.UeIpAddress, true), 'ipv4'), ue);
  } finally {
    await node.close();
  }
});

test.serial('a retransmitted request is answered from the cache, not applied twice', async (t) => {
  const sessions = new UpfSessionsTestDouble();
  const { node, to } = await startNode(sessions);
  try {
    expectOk(await smf.request(to, associationSetup(1)));
    const first = await smf.request(to, establishment(2, 0x77));
    const mutations = sessions.mutations;
    const again = await smf.request(to, establishment(2, 0x77));
    t.is(again.hex, first.hex);
    t.is(sessions.size, 1);
    t.is(sessions.mutations, mutations);
    t.is((await node.metrics.duplicates.get()).values[0]?.value, 1);
    const messages = (await node.metrics.messages.get()).values;
    const count = (direction: string, type: string, cause: string): number | undefined =>
      messages.find((v) => v.labels['direction'] === direction && v.labels['type'] === type && v.labels['cause'] === cause)?.value;
    t.is(count('rx', 'SessionEstablishmentRequest', ''), 2, 'both received');
    t.is(count('tx', 'SessionEstablishmentResponse', '1'), 2, 'both answered');
    t.is(count('tx', 'AssociationSetupResponse', '1'), 1);
    t.is((await node.metrics.sessions.get()).values[0]?.value, 1);
    t.is((await node.metrics.associations.get()).values[0]?.value, 1);
  } finally {
    await node.close();
  }
});

test.serial('modification is all or nothing: cause 73 names the failing rule, nothing changes', async (t) => {
  const sessions = new UpfSessionsTestDouble();
  const { node, to } = await startNode(sessions);
  try {
    const { seid } = await established(to, 0x55n);
    const before = sessions.get(BigInt(seid));
    const bad = `PFCP(S=1, seid=${seid}, seq=10)/PFCPSessionModificationRequest(IE_list=[
      IE_UpdateFAR(IE_list=[IE_FAR_Id(id=2), IE_ApplyAction(FORW=1),
        IE_UpdateForwardingParameters(IE_list=[IE_DestinationInterface(interface=0), IE_OuterHeaderCreation(GTPUUDPIPV4=1, TEID=0x99, ipv4='192.0.2.50')])]),
      IE_CreatePDR(IE_list=[IE_PDR_Id(id=3), IE_Precedence(precedence=10), IE_PDI(IE_list=[IE_SourceInterface(interface=1)]), IE_FAR_Id(id=9)])])`.replace(/\n\s*/g, ' ');
    const r = await smf.request(to, bad);
    expectResponse(t, r, 53, 10, 73);
    t.is(r.msg.seid, String(0x55));
    t.is(field(scapyIe(r.msg.ies, T.FailedRuleId), 'type'), 0, 'a PDR');
    t.is(field(scapyIe(r.msg.ies, T.FailedRuleId), 'pdr_id'), 3);
    t.deepEqual(sessions.get(BigInt(seid)), before, 'the FAR update was not applied either');

    // Valid, and with a new CP F-SEID: the response and what follows carry the new SEID.
    const good = bad
      .replace('IE_FAR_Id(id=9)', 'IE_FAR_Id(id=1)')
      .replace('seq=10', 'seq=11')
      .replace('IE_list=[', "IE_list=[IE_FSEID(v4=1, seid=0x56, ipv4='127.0.0.1'), ");
    const ok = await smf.request(to, good);
    expectResponse(t, ok, 53, 11, 1);
    t.is(ok.msg.seid, String(0x56));
    const after = sessions.get(BigInt(seid));
    t.deepEqual(after?.fars.find((f) => f.farId === 2)?.forwardingParameters, { destinationInterface: 'access', outerHeaderCreation: { teid: 0x99, ipv4: '192.0.2.50' } });
    t.is(after?.pdrs.length, 3);

    const unknown = await smf.request(to, 'PFCP(S=1, seid=12345, seq=12)/PFCPSessionModificationRequest()');
    expectResponse(t, unknown, 53, 12, 65);
    t.is(unknown.msg.seid, '0');
  } finally {
    await node.close();
  }
});

test.serial('causes 66, 67, 69, 75 with Offending IE; unknown optional IEs ignored', async (t) => {
  const sessions = new UpfSessionsTestDouble();
  const { node, to } = await startNode(sessions);
  try {
    expectOk(await smf.request(to, associationSetup(1)));
    const noFseid = establishment(2, 1).replace("IE_FSEID(v4=1, seid=1, ipv4='127.0.0.1'),", '');
    const r66 = await smf.request(to, noFseid);
    expectResponse(t, r66, 51, 2, 66);
    t.is(field(scapyIe(r66.msg.ies, T.OffendingIe), 'type'), T.FSeid);

    const noPdrId = establishment(3, 2).replace('IE_PDR_Id(id=2), ', '');
    const r66b = await smf.request(to, noPdrId);
    expectResponse(t, r66b, 51, 3, 66);
    t.is(field(scapyIe(r66b.msg.ies, T.OffendingIe), 'type'), T.PdrId);

    const noForwarding = establishment(4, 3).replace(
      "IE_ApplyAction(FORW=1), IE_ForwardingParameters(IE_list=[IE_DestinationInterface(interface=1), IE_NetworkInstance(instance='internet')])",
      'IE_ApplyAction(FORW=1)',
    );
    const r67 = await smf.request(to, noForwarding);
    expectResponse(t, r67, 51, 4, 67);
    t.is(field(scapyIe(r67.msg.ies, T.OffendingIe), 'type'), T.ForwardingParameters);

    const r69 = await smf.request(to, establishment(5, 4).replace('IE_ApplyAction(FORW=1)', 'IE_ApplyAction(FORW=1, DROP=1)'));
    expectResponse(t, r69, 51, 5, 69);
    t.is(field(scapyIe(r69.msg.ies, T.OffendingIe), 'type'), T.ApplyAction);

    const r73 = await smf.request(to, establishment(6, 5).replace("flow_description='permit out 17", "flow_description='deny out 17"));
    expectResponse(t, r73, 51, 6, 73);
    t.is(field(scapyIe(r73.msg.ies, T.FailedRuleId), 'pdr_id'), 1);

    t.is(sessions.size, 0, 'no rejected establishment left anything behind');

    // An IE type no release defines, an enterprise IE: ignored.
    const extra = ", IE_NotImplemented(ietype=250, data=b'\\x01\\x02'), IE_EnterpriseSpecific(ietype=32770, enterprise_id=18681, data=b'x')";
    expectResponse(t, await smf.request(to, establishment(7, 6, { extraIes: extra })), 51, 7, 1);

    sessions.capacity = 1;
    const r75 = await smf.request(to, establishment(8, 7));
    expectResponse(t, r75, 51, 8, 75);
    t.is(sessions.size, 1);
  } finally {
    await node.close();
  }
});

test.serial('usage: threshold report over a Session Report Request, query, final report on deletion', async (t) => {
  const sessions = new UpfSessionsTestDouble();
  const { node, to } = await startNode(sessions);
  try {
    const { seid } = await established(to, 0x99n);
    const s = BigInt(seid);
    sessions.count(s, 1, 'uplink', 10, 6000);
    sessions.count(s, 1, 'downlink', 5, 5000); // total 11000 >= 10000: VOLTH
    const report = await smf.recv(2);
    if (!report) return t.fail('no Session Report Request');
    t.is(report.msg.message_type, 56);
    t.is(report.msg.seid, String(0x99));
    t.is(field(scapyIe(report.msg.ies, T.ReportType), 'USAR'), 1);
    const ur = scapyIe(report.msg.ies, T.UsageReportSessionReportRequest);
    t.is(field(scapyIe(ur?.ies ?? [], T.UrrId), 'id'), 1);
    t.is(field(scapyIe(ur?.ies ?? [], T.UrSeqn), 'number'), 1);
    t.is(field(scapyIe(ur?.ies ?? [], T.UsageReportTrigger), 'VOLTH'), 1);
    const vol = scapyIe(ur?.ies ?? [], T.VolumeMeasurement);
    t.is(field(vol, 'total'), 11000);
    t.is(field(vol, 'uplink'), 6000);
    t.is(field(vol, 'downlink'), 5000);
    t.true(scapyIe(ur?.ies ?? [], T.DurationMeasurement) !== undefined);
    await smf.send(to, { build: `PFCP(S=1, seid=${seid}, seq=${report.msg.seq})/PFCPSessionReportResponse(IE_list=[IE_Cause(cause=1)])` });

    sessions.count(s, 1, 'uplink', 1, 100);
    const q = await smf.request(to, `PFCP(S=1, seid=${seid}, seq=20)/PFCPSessionModificationRequest(IE_list=[IE_QueryURR(IE_list=[IE_URR_Id(id=1)])])`);
    expectResponse(t, q, 53, 20, 1);
    const qur = scapyIe(q.msg.ies, T.UsageReportSessionModificationResponse);
    t.is(field(scapyIe(qur?.ies ?? [], T.UsageReportTrigger), 'IMMER'), 1);
    t.is(field(scapyIe(qur?.ies ?? [], T.UrSeqn), 'number'), 2);
    t.is(field(scapyIe(qur?.ies ?? [], T.VolumeMeasurement), 'uplink'), 100, 'only what came after the last report');

    sessions.count(s, 1, 'downlink', 3, 3000);
    const d = await smf.request(to, deletion(21, seid));
    expectResponse(t, d, 55, 21, 1);
    t.is(d.msg.seid, String(0x99));
    const fin = scapyIe(d.msg.ies, T.UsageReportSessionDeletionResponse);
    t.is(field(scapyIe(fin?.ies ?? [], T.UsageReportTrigger), 'TERMR'), 1);
    t.is(field(scapyIe(fin?.ies ?? [], T.VolumeMeasurement), 'downlink'), 3000);
    t.is(field(scapyIe(fin?.ies ?? [], T.VolumeMeasurement), 'uplink'), 0);
    t.is(field(scapyIe(fin?.ies ?? [], T.UrSeqn), 'number'), 3);
    t.is(sessions.size, 0);
    expectResponse(t, await smf.request(to, deletion(22, seid)), 55, 22, 65);
  } finally {
    await node.close();
  }
});

test.serial('periodic report; an unanswered Session Report Request is sent again after T1', async (t) => {
  const sessions = new UpfSessionsTestDouble();
  const { node, to } = await startNode(sessions);
  try {
    const urr = 'IE_CreateURR(IE_list=[IE_URR_Id(id=1), IE_MeasurementMethod(VOLUM=1), IE_ReportingTriggers(periodic_reporting=1), IE_MeasurementPeriod(period=1)])';
    const { seid } = await established(to, 0x5n, { urr });
    sessions.count(BigInt(seid), 1, 'downlink', 2, 1234);
    const first = await smf.recv(3);
    if (!first) return t.fail('no periodic report');
    const ur = scapyIe(first.msg.ies, T.UsageReportSessionReportRequest);
    t.is(field(scapyIe(ur?.ies ?? [], T.UsageReportTrigger), 'PERIO'), 1);
    t.is(field(scapyIe(ur?.ies ?? [], T.VolumeMeasurement), 'downlink'), 1234);
    // Not answered: the same request (same sequence, same bytes) again after T1 (200 ms).
    const again = await smf.recv(1);
    t.is(again?.hex, first.hex);
    await smf.send(to, { build: `PFCP(S=1, seid=${seid}, seq=${first.msg.seq})/PFCPSessionReportResponse(IE_list=[IE_Cause(cause=1)])` });
    t.is((await node.metrics.retransmissions.get()).values.find((v) => v.labels['type'] === 'SessionReportRequest')?.value, 1);
    // The next period reports nothing new.
    const next = await smf.recv(2);
    t.is(field(scapyIe(scapyIe(next?.msg.ies ?? [], T.UsageReportSessionReportRequest)?.ies ?? [], T.VolumeMeasurement), 'total'), 0);
    await smf.send(to, { build: `PFCP(S=1, seid=${seid}, seq=${next?.msg.seq})/PFCPSessionReportResponse(IE_list=[IE_Cause(cause=65)])` });
    await new Promise((r) => setTimeout(r, 100));
    t.is(sessions.size, 0, 'cause 65 in the response: the SMF forgot the session, so it goes');
  } finally {
    await node.close();
  }
});

test.serial('downlink data report after the BAR’s notification delay; error indication report', async (t) => {
  const sessions = new UpfSessionsTestDouble();
  const { node, to } = await startNode(sessions);
  try {
    const { seid } = await established(to, 0x6n, { bar: true });
    t.deepEqual(sessions.get(BigInt(seid))?.bar, { barId: 1 });
    const raisedAt = Date.now();
    sessions.raise({ type: 'downlink-data', seid: BigInt(seid), pdrId: 2, qfi: 9 });
    const r = await smf.recv(2);
    t.true(Date.now() - raisedAt >= 95, 'DDN delay 2 × 50 ms');
    t.is(r?.msg.message_type, 56);
    t.is(field(scapyIe(r?.msg.ies ?? [], T.ReportType), 'DLDR'), 1);
    const dl = scapyIe(r?.msg.ies ?? [], T.DownlinkDataReport);
    t.is(field(scapyIe(dl?.ies ?? [], T.PdrId), 'id'), 2);
    t.is(field(scapyIe(dl?.ies ?? [], T.DownlinkDataServiceInformation), 'qfi_val'), 9);
    await smf.send(to, { build: `PFCP(S=1, seid=${seid}, seq=${r?.msg.seq})/PFCPSessionReportResponse(IE_list=[IE_Cause(cause=1)])` });

    expectOk(
      await smf.request(
        to,
        `PFCP(S=1, seid=${seid}, seq=30)/PFCPSessionModificationRequest(IE_list=[IE_UpdateFAR(IE_list=[IE_FAR_Id(id=2), IE_ApplyAction(FORW=1), IE_UpdateForwardingParameters(IE_list=[IE_DestinationInterface(interface=0), IE_OuterHeaderCreation(GTPUUDPIPV4=1, TEID=0x1234, ipv4='192.0.2.9')])])])`,
      ),
    );
    sessions.raise({ type: 'error-indication', remote: { teid: 0x1234, ipv4: '192.0.2.9' } });
    const e = await smf.recv(2);
    t.is(field(scapyIe(e?.msg.ies ?? [], T.ReportType), 'ERIR'), 1);
    const eir = scapyIe(e?.msg.ies ?? [], T.ErrorIndicationReport);
    t.is(field(scapyIe(eir?.ies ?? [], T.FTeid), 'TEID'), 0x1234);
    t.is(field(scapyIe(eir?.ies ?? [], T.FTeid), 'ipv4'), '192.0.2.9');
    await smf.send(to, { build: `PFCP(S=1, seid=${seid}, seq=${e?.msg.seq})/PFCPSessionReportResponse(IE_list=[IE_Cause(cause=1)])` });
  } finally {
    await node.close();
  }
});

test.serial('heartbeats from the UPF; N1 unanswered heartbeats lose the SMF (sessions kept as configured)', async (t) => {
  const sessions = new UpfSessionsTestDouble();
  const { node, to, log } = await startNode(sessions, { timers: { heartbeatIntervalMs: 300, t1Ms: 100, n1: 2 }, onSmfLost: 'keep' });
  try {
    await established(to, 0x7n);
    const hb = await smf.recv(2);
    t.is(hb?.msg.message_type, 1);
    t.is(field(scapyIe(hb?.msg.ies ?? [], T.RecoveryTimeStamp), 'timestamp'), node.recoveryTimeStamp);
    await smf.send(to, { build: `PFCP(S=0, seq=${hb?.msg.seq})/PFCPHeartbeatResponse(IE_list=[IE_RecoveryTimeStamp(timestamp=${SMF_RTS})])` });
    // Now silence: the next heartbeat and its N1 = 2 retransmissions go unanswered.
    for (let i = 0; i < 3; i++) t.is((await smf.recv(2))?.msg.message_type, 1);
    await new Promise((r) => setTimeout(r, 200));
    t.truthy(log.lines.find((l) => l.msg === 'SMF lost' && String(l.fields['reason']).includes('unanswered') && l.fields['action'] === 'keep'));
    t.is(sessions.size, 1, 'kept');
    t.true((await node.metrics.heartbeatRtt.get()).values.some((v) => v.metricName === 'pfcp_heartbeat_rtt_seconds_count' && v.value === 1));
  } finally {
    await node.close();
  }
});

test.serial('a changed SMF Recovery Time Stamp: its sessions removed as configured, association gone', async (t) => {
  const sessions = new UpfSessionsTestDouble();
  const { node, to, log } = await startNode(sessions, { onSmfLost: 'remove' });
  try {
    await established(to, 0x8n);
    t.is(sessions.size, 1);
    const r = await smf.request(to, `PFCP(S=0, seq=40)/PFCPHeartbeatRequest(IE_list=[IE_RecoveryTimeStamp(timestamp=${SMF_RTS + 60})])`);
    t.is(r.msg.message_type, 2);
    t.is(sessions.size, 0);
    t.is(node.associations().length, 0);
    t.truthy(log.lines.find((l) => l.msg === 'SMF lost' && String(l.fields['reason']).includes('restart')));
  } finally {
    await node.close();
  }
});

test.serial('association release from the SMF removes its sessions', async (t) => {
  const sessions = new UpfSessionsTestDouble();
  const { node, to } = await startNode(sessions);
  try {
    await established(to, 0x9n);
    const r = await smf.request(to, `PFCP(S=0, seq=50)/PFCPAssociationReleaseRequest(IE_list=[IE_NodeId(id_type=2, id='smf.test')])`);
    expectResponse(t, r, 10, 50, 1);
    t.truthy(scapyIe(r.msg.ies, T.NodeId));
    t.is(sessions.size, 0);
    t.is(node.associations().length, 0);
  } finally {
    await node.close();
  }
});

test.serial('association setup, update (SARR) and release from the UPF', async (t) => {
  const sessions = new UpfSessionsTestDouble();
  const { node, to } = await startNode(sessions);
  try {
    const setup = node.associate(smf.address, smf.port);
    const req = await smf.recv(2);
    if (!req) return t.fail('no Association Setup Request');
    t.is(req.msg.message_type, 5);
    t.is(field(scapyIe(req.msg.ies, T.RecoveryTimeStamp), 'timestamp'), node.recoveryTimeStamp);
    t.is(field(scapyIe(req.msg.ies, T.UpFunctionFeatures), 'FTUP'), 1);
    await smf.send(to, { build: `PFCP(S=0, seq=${req.msg.seq})/PFCPAssociationSetupResponse(IE_list=[IE_NodeId(id_type=2, id='smf.test'), IE_Cause(cause=1), IE_RecoveryTimeStamp(timestamp=${SMF_RTS})])` });
    const a = await setup;
    t.deepEqual(a.nodeId, { kind: 'fqdn', value: 'smf.test' });
    // Sessions may now be established over it.
    expectOk(await smf.request(to, establishment(2, 0xan)));

    const update = node.updateAssociation('fqdn:smf.test', { releaseRequest: true, gracefulReleaseSeconds: 120 });
    const u = await smf.recv(2);
    t.is(u?.msg.message_type, 7);
    t.is(field(scapyIe(u?.msg.ies ?? [], T.PfcpAssociationReleaseRequest), 'SARR'), 1);
    t.is(field(scapyIe(u?.msg.ies ?? [], T.GracefulReleasePeriod), 'release_timer_value'), 2);
    await smf.send(to, { build: `PFCP(S=0, seq=${u?.msg.seq})/PFCPAssociationUpdateResponse(IE_list=[IE_NodeId(id_type=2, id='smf.test'), IE_Cause(cause=1)])` });
    t.is(await update, 1);

    const release = node.releaseAssociation('fqdn:smf.test');
    const rel = await smf.recv(2);
    t.is(rel?.msg.message_type, 9);
    t.truthy(scapyIe(rel?.msg.ies ?? [], T.NodeId));
    await smf.send(to, { build: `PFCP(S=0, seq=${rel?.msg.seq})/PFCPAssociationReleaseResponse(IE_list=[IE_NodeId(id_type=2, id='smf.test'), IE_Cause(cause=1)])` });
    t.is(await release, 1);
    t.is(node.associations().length, 0);
    t.is(sessions.size, 0);
  } finally {
    await node.close();
  }
});

test.serial('the control socket lists sessions with their SMF, rules and usage (fastlane upf sessions)', async (t) => {
  const sessions = new UpfSessionsTestDouble();
  const dir = mkdtempSync(join(tmpdir(), 'pfcp-control-'));
  const controlSocket = join(dir, 'upf.sock');
  const { node, to } = await startNode(sessions, { controlSocket });
  try {
    const { seid } = await established(to, 0x4242n);
    sessions.count(BigInt(seid), 1, 'uplink', 3, 456);
    t.is(statSync(controlSocket).mode & 0o777, 0o600, 'only the UPF’s user may list sessions');
    const list = await fetchSessions(controlSocket);
    t.is(list.length, 1);
    t.is(list[0]?.seid, seid);
    t.is(list[0]?.cpSeid, String(0x4242));
    t.is(list[0]?.smf, 'fqdn:smf.test');
    t.is(list[0]?.rules.pdrs.length, 2);
    t.deepEqual(list[0]?.usage[0]?.uplink, { packets: '3', bytes: '456' } as unknown as { packets: bigint; bytes: bigint });
    const text = formatSessions(list);
    t.is(text[0], '1 session');
    t.true(text.some((l) => /^ {2}pdr 1 prec 100: access, teid \d+ 198\.51\.100\.1, qfi 9, 1 sdf filter\(s\) -> far 1 qer 1 urr 1$/.test(l)), text.join('\n'));
    t.true(text.some((l) => l === '  urr 1: uplink 3 pkts 456 B, downlink 0 pkts 0 B'), text.join('\n'));
  } finally {
    await node.close();
    rmSync(dir, { recursive: true, force: true });
  }
  await t.throwsAsync(fetchSessions(controlSocket), { message: /is the UPF running/ });
});

test.serial('START and time-threshold reports; quota used up switches the PDRs to the FAR for quota action (QUOAC)', async (t) => {
  const sessions = new UpfSessionsTestDouble();
  const { node, to } = await startNode(sessions, { startPollMs: 50 });
  try {
    const urr =
      'IE_CreateURR(IE_list=[IE_URR_Id(id=1), IE_MeasurementMethod(VOLUM=1, DURAT=1), IE_ReportingTriggers(start_of_traffic=1, time_threshold=1, volume_quota=1), IE_TimeThreshold(threshold=1), IE_VolumeQuota(TOVOL=1, total=5000), IE_FAR_Id(id=1)])';
    const { seid } = await established(to, 0xbn, { urr });
    const s = BigInt(seid);
    const answer = async (r: Received | undefined): Promise<void> => {
      await smf.send(to, { build: `PFCP(S=1, seid=${seid}, seq=${r?.msg.seq})/PFCPSessionReportResponse(IE_list=[IE_Cause(cause=1)])` });
    };
    const trigger = (r: Received | undefined, name: string): unknown => field(scapyIe(scapyIe(r?.msg.ies ?? [], T.UsageReportSessionReportRequest)?.ies ?? [], T.UsageReportTrigger), name);
    sessions.count(s, 1, 'downlink', 1, 100);
    const start = await smf.recv(2);
    t.is(trigger(start, 'START'), 1);
    await answer(start);
    const timth = await smf.recv(3);
    t.is(trigger(timth, 'TIMTH'), 1);
    await answer(timth);
    t.is(sessions.get(s)?.pdrs.find((p) => p.pdrId === 2)?.farId, 2);
    sessions.count(s, 1, 'downlink', 10, 6000); // past the 5000-byte quota
    let volqu: Received | undefined;
    for (let i = 0; i < 3 && trigger(volqu, 'VOLQU') !== 1; i++) {
      volqu = await smf.recv(3);
      if (trigger(volqu, 'VOLQU') !== 1) await answer(volqu); // a time-threshold report in between
    }
    t.is(trigger(volqu, 'VOLQU'), 1);
    await answer(volqu);
    const rules = sessions.get(s);
    t.deepEqual(rules?.pdrs.map((p) => p.farId), [1, 1], 'both PDRs counting into the URR now use the quota action FAR');
    t.deepEqual(rules?.urrs?.[0]?.volumeQuota, {}, 'and the quota is lifted so that FAR applies');
  } finally {
    await node.close();
  }
});

test.serial('the UPF sets up the association with a configured SMF by itself', async (t) => {
  const { node, to } = await startNode(new UpfSessionsTestDouble(), { smfPeers: [{ address: smf.address, port: smf.port }] });
  try {
    const req = await smf.recv(2);
    t.is(req?.msg.message_type, 5);
    await smf.send(to, { build: `PFCP(S=0, seq=${req?.msg.seq})/PFCPAssociationSetupResponse(IE_list=[IE_NodeId(id_type=2, id='smf.test'), IE_Cause(cause=1), IE_RecoveryTimeStamp(timestamp=${SMF_RTS})])` });
    for (let i = 0; i < 50 && node.associations().length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    t.is(node.associations()[0]?.nodeId.value, 'smf.test');
  } finally {
    await node.close();
  }
});

test.serial('N4 over IPv6: IPv6 UP F-SEID, IPv6 CHOOSE F-TEID and a CHV6 prefix', async (t) => {
  const smf6 = await ScapySmf.start('::1');
  const sessions = new UpfSessionsTestDouble();
  const { node } = await startNode(sessions, { addresses: ['::1'] });
  const to = node.ports()[0] as { address: string; port: number };
  try {
    t.is(to.address, '::1');
    expectOk(await smf6.request(to, associationSetup(1)));
    const ipv6 = establishment(2, 0xcn)
      .replace("IE_FTEID(V4=1, CH=1, CHID=1, choose_id=1)", 'IE_FTEID(V6=1, CH=1)')
      .replace(`IE_UE_IP_Address(spare=${CHV4}, SD=1)`, 'IE_UE_IP_Address(spare=4, SD=1)')
      .replace("IE_FSEID(v4=1, seid=12, ipv4='127.0.0.1')", "IE_FSEID(v6=1, seid=12, ipv6='::1')");
    const r = await smf6.request(to, ipv6);
    expectOk(r);
    t.is(field(scapyIe(r.msg.ies, T.FSeid), 'ipv6'), '::1');
    const fteid = scapyIe(r.msg.ies, T.FTeid, true);
    t.is(field(fteid, 'V6'), 1);
    t.is(field(fteid, 'ipv6'), '2001:db8:3::1');
    const ue = scapyIes(r.msg.ies, T.CreatedPdr).map((c) => scapyIe(c.ies, T.UeIpAddress)).find(Boolean);
    t.is(field(ue, 'ipv6'), '2001:db8:45::');
    const rules = sessions.get(BigInt(String(field(scapyIe(r.msg.ies, T.FSeid), 'seid'))));
    t.deepEqual(rules?.pdrs.find((p) => p.pdrId === 2)?.pdi.ueIpAddress, { ipv6Prefix: '2001:db8:45::/64' });
  } finally {
    smf6.close();
    await node.close();
  }
});
