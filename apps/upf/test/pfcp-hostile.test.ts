// Hostile PFCP input: every fault gives a PfcpDecodeError naming the IE and byte offset with a
// reason the node maps to a cause, or a correct decode; nothing else is ever thrown.
import test, { type ExecutionContext } from 'ava';

import {
  type Ie,
  IeType as T,
  MessageType as M,
  PfcpCause,
  PfcpDecodeError,
  type PfcpDecodeReason,
  type PfcpMessage,
  decodeDatagram,
  decodeMessage,
  encodeMessage,
  findAll,
  findIe,
  getAllValues,
  getGroups,
  getValue,
  group,
  ie,
} from '../src/pfcp/index';

const sessionRequest: PfcpMessage = {
  type: M.SessionEstablishmentRequest,
  sequence: 42,
  seid: 0x0102030405060708n,
  ies: [
    ie(T.NodeId, { kind: 'fqdn', value: 'smf.example.org' }),
    group(T.CreatePdr, [
      ie(T.PdrId, { ruleId: 7 }),
      group(T.Pdi, [
        ie(T.SourceInterface, { interface: 0 }),
        ie(T.FTeid, { v4: true, v6: true, ch: true, chooseId: 1 }),
        ie(T.UeIpAddress, { destination: true, chooseV4: true, chooseV6: true, ipv6PrefixLength: 64 }),
      ]),
    ]),
  ],
};
const bytes = encodeMessage(sessionRequest);

const u16 = (v: number): number[] => [v >> 8, v & 0xff];

function expectError(
  t: ExecutionContext,
  input: Uint8Array,
  want: { reason: PfcpDecodeReason; offset: number; ieType?: number; ieName?: string; cause?: number },
  options: Parameters<typeof decodeMessage>[1] = {},
): void {
  const err = t.throws(() => decodeMessage(input, options), { instanceOf: PfcpDecodeError });
  if (!err) return;
  t.is(err.reason, want.reason, err.message);
  t.is(err.offset, want.offset, err.message);
  t.is(err.ie?.type, want.ieType, err.message);
  if (want.ieName !== undefined) t.is(err.ie?.name, want.ieName);
  t.is(err.causeValue, want.cause, err.message);
}

/** Offset of the first IE of `type` (depth-first) in an encoded message, for expected offsets. */
function ieOffset(buf: Uint8Array, type: number, start = 16): number {
  for (let pos = start; pos + 4 <= buf.length; ) {
    const t = ((buf[pos] as number) << 8) | (buf[pos + 1] as number);
    const len = ((buf[pos + 2] as number) << 8) | (buf[pos + 3] as number);
    if (t === type) return pos;
    if ([T.CreatePdr, T.Pdi].includes(t as 1)) {
      const inner = ieOffset(buf.subarray(0, pos + 4 + len), type, pos + 4);
      if (inner >= 0) return inner;
    }
    pos += 4 + len;
  }
  return -1;
}

test('the hostile tests start from a message that decodes', (t) => {
  t.deepEqual(decodeMessage(bytes), sessionRequest);
});

test('truncated at every length: truncated header, then invalid length', (t) => {
  for (let n = 0; n < bytes.length; n++) {
    const cut = bytes.subarray(0, n);
    if (n < 16) expectError(t, cut, { reason: 'truncated-header', offset: n });
    else expectError(t, cut, { reason: 'invalid-message-length', offset: 2, cause: PfcpCause.InvalidLength });
  }
});

test('a node message (S=0) truncated at every length', (t) => {
  const hb = encodeMessage({ type: M.HeartbeatRequest, sequence: 1, ies: [ie(T.RecoveryTimeStamp, { ntpSeconds: 1 })] });
  for (let n = 0; n < hb.length; n++) {
    expectError(t, hb.subarray(0, n), n < 8 ? { reason: 'truncated-header', offset: n } : { reason: 'invalid-message-length', offset: 2, cause: 68 });
  }
});

test('version other than 1 is named (for a Version Not Supported Response), no cause', (t) => {
  const v2 = Uint8Array.from(bytes);
  v2[0] = ((v2[0] as number) & 0x1f) | (2 << 5);
  expectError(t, v2, { reason: 'unsupported-version', offset: 0 });
});

test('S flag inconsistent with the length', (t) => {
  // S=1 but the length covers only an S=0 header.
  expectError(t, Uint8Array.from([0x21, 50, 0, 4, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]), {
    reason: 'invalid-message-length',
    offset: 2,
    cause: 68,
  });
  expectError(t, Uint8Array.from([0x20, 1, 0, 2, 0, 0]), { reason: 'invalid-message-length', offset: 2, cause: 68 });
});

test('trailing bytes without FO are an invalid length; with FO the next message is decoded', (t) => {
  const hb = encodeMessage({ type: M.HeartbeatRequest, sequence: 9, ies: [] });
  expectError(t, Buffer.concat([bytes, Uint8Array.from([0, 0])]), { reason: 'invalid-message-length', offset: 2, cause: 68 });
  const first = encodeMessage({ ...sessionRequest, followOn: true });
  t.deepEqual(decodeDatagram(Buffer.concat([first, hb])), [{ ...sessionRequest, followOn: true }, { type: M.HeartbeatRequest, sequence: 9, ies: [] }]);
  t.throws(() => decodeDatagram(Buffer.concat([first, hb.subarray(0, 5)])), { instanceOf: PfcpDecodeError });
});

test('an IE length past the end of the message names the IE and its length field', (t) => {
  const bad = Uint8Array.from(bytes);
  const at = ieOffset(bad, T.NodeId);
  bad[at + 3] = 200;
  expectError(t, bad, { reason: 'ie-length-past-parent', offset: at + 2, ieType: T.NodeId, ieName: 'NodeId', cause: 69 });
});

test('an IE length past the end of its grouped parent names the inner IE', (t) => {
  const bad = Uint8Array.from(bytes);
  const at = ieOffset(bad, T.UeIpAddress);
  bad[at + 3] = (bad[at + 3] as number) + 1; // one byte more than the PDI holds
  expectError(t, bad, { reason: 'ie-length-past-parent', offset: at + 2, ieType: T.UeIpAddress, ieName: 'UeIpAddress', cause: 69 });
  const err = t.throws(() => decodeMessage(bad), { instanceOf: PfcpDecodeError });
  t.regex(err?.message ?? '', /parent IE 2 \(Pdi\)/);
});

test('a grouped IE whose body is not whole IEs names the grouped IE', (t) => {
  const m: PfcpMessage = { type: M.SessionDeletionRequest, sequence: 1, seid: 1n, ies: [group(T.RemovePdr, [ie(T.PdrId, { ruleId: 1 })])] };
  const b = encodeMessage(m);
  // Grow Remove PDR (at 16) and the message by 3 bytes of junk: not a whole IE header.
  const bad = Buffer.concat([b, Uint8Array.from([0, 56, 0])]);
  bad.writeUInt16BE(b.length - 4 + 3, 2);
  bad.writeUInt16BE(bad.readUInt16BE(18) + 3, 18);
  expectError(t, bad, { reason: 'bad-grouped-nesting', offset: b.length, ieType: T.RemovePdr, ieName: 'RemovePdr', cause: 69 });
});

test('a known IE too short for what its flags announce names it and the offset', (t) => {
  const m = encodeMessage({ type: M.SessionEstablishmentResponse, sequence: 1, seid: 2n, ies: [ie(T.FTeid, { v4: true, v6: false, ch: false, teid: 5, ipv4: '192.0.2.1' })] });
  // Cut the IPv4 address off: F-TEID length 5 (flags + TEID), V4 still set.
  const bad = Buffer.from(m.subarray(0, m.length - 4));
  bad.writeUInt16BE(bad.length - 4, 2);
  bad.writeUInt16BE(5, 18);
  expectError(t, bad, { reason: 'ie-body-invalid', offset: 16 + 4 + 5, ieType: T.FTeid, ieName: 'FTeid', cause: PfcpCause.MandatoryIeIncorrect });
});

test('unknown message types and unknown IEs are kept raw and re-encode identically', (t) => {
  const unknownIe: Ie = { kind: 'raw', type: 250, data: Uint8Array.from([9, 8, 7]) };
  const hb = encodeMessage({ type: M.HeartbeatRequest, sequence: 3, ies: [unknownIe, ie(T.RecoveryTimeStamp, { ntpSeconds: 7 })] });
  const m = decodeMessage(hb);
  t.deepEqual(m.ies[0], unknownIe);
  t.deepEqual(encodeMessage(m), hb);
  const odd = Uint8Array.from([0x20, 200, 0, 6, 0, 0, 1, 0, 0xde, 0xad]);
  const u = decodeMessage(odd);
  t.is(u.type, 200);
  t.deepEqual(u.raw, Uint8Array.from([0xde, 0xad]));
  t.deepEqual(encodeMessage(u), odd);
});

test('enterprise IEs keep their Enterprise ID and data; too short for the ID is named', (t) => {
  const ent: Ie = { kind: 'enterprise', type: 0x8001, enterpriseId: 10415, data: Uint8Array.from([1, 2, 3]) };
  const b = encodeMessage({ type: M.HeartbeatResponse, sequence: 3, ies: [ent] });
  t.deepEqual(decodeMessage(b).ies, [ent]);
  const bad = Uint8Array.from([0x20, 2, 0, 9, 0, 0, 3, 0, 0x80, 0x01, 0, 1, 0x28]);
  expectError(t, bad, { reason: 'ie-body-invalid', offset: 12, ieType: 0x8001, ieName: 'EnterpriseSpecific', cause: 69 });
});

test('octets after a known IE’s fields are kept as extra and re-encoded', (t) => {
  const b = Uint8Array.from([0x20, 1, 0, 14, 0, 0, 1, 0, 0, 96, 0, 6, 0xe8, 0x75, 0x47, 0, 0xaa, 0xbb]);
  const m = decodeMessage(b);
  t.deepEqual(m.ies, [{ kind: 'value', type: T.RecoveryTimeStamp, value: { ntpSeconds: 3_900_000_000 }, extra: Uint8Array.from([0xaa, 0xbb]) }]);
  t.deepEqual(encodeMessage(m), b);
});

test('a 64 KiB message: over the default maximum it is refused, under a raised one it decodes', (t) => {
  const big: PfcpMessage = { type: M.NodeReportRequest, sequence: 1, ies: [{ kind: 'raw', type: 250, data: new Uint8Array(0xffff - 4 - 4).fill(7) }] };
  const b = encodeMessage(big);
  t.is(b.length, 0xffff + 4);
  expectError(t, b, { reason: 'message-too-large', offset: 2, cause: 68 });
  t.deepEqual(decodeMessage(b, { maxMessageBytes: 0x10003 }), big);
  expectError(t, b.subarray(0, 1500), { reason: 'message-too-large', offset: 2, cause: 68 }, { maxMessageBytes: 1400 });
});

test('deep nesting stops at the configured depth, thousands of levels never overflow the stack', (t) => {
  const nest = (levels: number): Ie => {
    let x: Ie = ie(T.PdrId, { ruleId: 1 });
    for (let i = 0; i < levels; i++) x = group(T.CreatePdr, [x]);
    return x;
  };
  const ok: PfcpMessage = { type: M.SessionEstablishmentRequest, sequence: 1, seid: 1n, ies: [nest(8)] };
  t.deepEqual(decodeMessage(encodeMessage(ok)), ok);
  const deep = encodeMessage({ ...ok, ies: [nest(9)] });
  expectError(t, deep, { reason: 'nesting-too-deep', offset: 16 + 8 * 4, ieType: T.CreatePdr, cause: 69 });
  // Built by hand: 16,000 Create PDRs, one inside the other (the encoder recurses; the decoder
  // must stop at maxDepth, not at the stack's end).
  const levels = 16000;
  const deeper = Buffer.alloc(16 + levels * 4 + 6);
  const inner = deeper.length - 6;
  deeper.set([0, 56, 0, 2, 0, 1], inner);
  for (let i = 0; i < levels; i++) deeper.set([0, 1, ...u16(deeper.length - 16 - i * 4 - 4)], 16 + i * 4);
  deeper.set([0x21, M.SessionEstablishmentRequest, ...u16(deeper.length - 4), 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0], 0);
  expectError(t, deeper, { reason: 'nesting-too-deep', offset: 16 + 8 * 4, ieType: T.CreatePdr, cause: 69 });
  expectError(t, deeper, { reason: 'nesting-too-deep', offset: 16 + 2 * 4, ieType: T.CreatePdr, cause: 69 }, { maxDepth: 2 });
});

test('IPv6 prefix length, CHV4/CHV6 and S/D of the UE IP Address survive the round trip', (t) => {
  const m = decodeMessage(bytes);
  const pdi = (m.ies[1] as { ies: Ie[] }).ies[1] as { ies: Ie[] };
  t.deepEqual(pdi.ies[2], ie(T.UeIpAddress, { destination: true, chooseV4: true, chooseV6: true, ipv6PrefixLength: 64 }));
  const ueAt = ieOffset(bytes, T.UeIpAddress);
  t.is(bytes[ueAt + 4], 0x74, 'flags: IP6PL | CHV6 | CHV4 | S/D');
});

test('typed accessors find IEs by type inside groups', (t) => {
  const m = decodeMessage(bytes);
  t.deepEqual(getValue(m.ies, T.NodeId), { kind: 'fqdn', value: 'smf.example.org' });
  t.is(getValue(m.ies, T.Cause), undefined);
  const [pdr, ...others] = getGroups(m.ies, T.CreatePdr);
  t.is(others.length, 0);
  t.deepEqual(getValue(pdr ?? [], T.PdrId), { ruleId: 7 });
  const pdi = getGroups(pdr ?? [], T.Pdi)[0] ?? [];
  t.deepEqual(getValue(pdi, T.FTeid), { v4: true, v6: true, ch: true, chooseId: 1 });
  t.deepEqual(getAllValues(pdi, T.SourceInterface), [{ interface: 0 }]);
  t.is(findIe(pdi, T.UeIpAddress)?.kind, 'value');
  t.is(findAll(m.ies, T.CreateFar).length, 0);
});

test('encoding refuses values that do not fit, naming them', (t) => {
  t.throws(() => group(T.PdrId, []), { instanceOf: RangeError, message: /56 \(PdrId\) is not a grouped IE/ });
  const enc = (ies: Ie[]): Uint8Array => encodeMessage({ type: M.HeartbeatRequest, sequence: 1, ies });
  t.throws(() => enc([ie(T.PdrId, { ruleId: 70000 })]), { instanceOf: RangeError, message: /70000 is not a 16-bit/ });
  t.throws(() => enc([ie(T.FTeid, { v4: true, v6: false, ch: false, teid: 1 })]), { message: /F-TEID ipv4 \(V4 set\) is required/ });
  t.throws(() => enc([ie(T.NodeId, { kind: 'ipv4', value: '300.1.1.1' })]), { message: /not an IPv4 address/ });
  t.throws(() => enc([ie(T.ApplyAction, { flags: ['FLY'] })]), { message: /unknown flag "FLY"/ });
  t.throws(() => encodeMessage({ type: 1, sequence: 0x1000000, ies: [] }), { message: /not a 24-bit/ });
});
