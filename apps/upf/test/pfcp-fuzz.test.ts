// Property-based fuzzing of the PFCP decoder (fast-check): mutations of the kept corpus
// (apps/upf/test/corpus/pfcp/, built by scapy) and of messages our encoder builds never throw
// anything but PfcpDecodeError, and whatever decodes re-encodes to bytes that decode the same.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';

import test from 'ava';
import fc from 'fast-check';

import { IeType as T, MessageType as M, PfcpDecodeError, decodeDatagram, decodeMessage, encodeMessage, group, ie } from '../src/pfcp/index';

const corpusDir = join(__dirname, 'corpus', 'pfcp');
const corpus = readdirSync(corpusDir)
  .filter((f) => f.endsWith('.bin'))
  .sort()
  .map((f) => ({ name: f, bytes: new Uint8Array(readFileSync(join(corpusDir, f))) }));

// Seeds only our encoder makes: enterprise and unknown IEs, extra octets, two messages with FO.
const ours = [
  encodeMessage({
    type: M.HeartbeatRequest,
    sequence: 77,
    priority: 5,
    followOn: true,
    ies: [
      ie(T.RecoveryTimeStamp, { ntpSeconds: 3_900_000_000 }),
      { kind: 'enterprise', type: 0x8005, enterpriseId: 10415, data: Uint8Array.from([1, 2]) },
      { kind: 'raw', type: 300, data: Uint8Array.from([3]) },
    ],
  }),
  encodeMessage({
    type: M.SessionEstablishmentRequest,
    sequence: 5,
    seid: 9n,
    ies: [
      group(T.CreatePdr, [
        group(T.Pdi, [
          ie(T.UeIpAddress, { destination: true, chooseV4: false, chooseV6: true, ipv6: '2001:db8::', ipv6PrefixDelegationBits: 3, ipv6PrefixLength: 56 }),
          ie(T.SdfFilter, { flowDescription: 'permit out 17 from 10.0.0.0/8 to assigned', tosTrafficClass: { value: 1, mask: 2 }, securityParameterIndex: 3, flowLabel: 4, sdfFilterId: 5 }),
          ie(T.NetworkInstance, { raw: Uint8Array.from([0, 1, 2]) }),
        ]),
      ]),
      ie(T.OuterHeaderCreation, { description: 0x0c00, ipv4: '192.0.2.1', ipv6: '2001:db8::1', port: 2152 }),
      ie(T.ApplyAction, { flags: ['FORW', 'DUPL', 'EDRT'] }),
      ie(T.DownlinkDataServiceInformation, { pagingPolicyIndication: 3, qfi: 5 }),
    ],
  }),
];
const seeds = [...corpus.map((c) => c.bytes), ...ours];

test('the corpus is there and replays: each seed decodes and re-encodes to the same bytes', (t) => {
  t.true(corpus.length >= 19, `${corpus.length} corpus files in ${corpusDir}`);
  for (const c of corpus) t.deepEqual(encodeMessage(decodeMessage(c.bytes)), c.bytes, c.name);
  for (const b of ours) t.deepEqual(encodeMessage(decodeMessage(b)), b);
});

type Mutation =
  | { kind: 'flip'; at: number; mask: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: number[] }
  | { kind: 'delete'; at: number; count: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
);

function mutate(seed: Uint8Array, ms: Mutation[]): Uint8Array {
  let b = Array.from(seed);
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % b.length;
    if (m.kind === 'flip') b[at] = (b[at] ?? 0) ^ m.mask;
    else if (m.kind === 'set') b[at] = m.value;
    else if (m.kind === 'truncate') b = b.slice(0, at);
    else if (m.kind === 'insert') b.splice(at, 0, ...m.bytes);
    else b.splice(at, m.count);
  }
  return Uint8Array.from(b);
}

/** Mutations that keep the outer length field right reach the IE decoder more often. */
function fixLength(b: Uint8Array): Uint8Array {
  if (b.length >= 4 && b.length - 4 <= 0xffff) {
    const c = Uint8Array.from(b);
    c[2] = (b.length - 4) >> 8;
    c[3] = (b.length - 4) & 0xff;
    return c;
  }
  return b;
}

test('mutated messages: only PfcpDecodeError, and decode(encode(decode(x))) equals decode(x)', (t) => {
  let decoded = 0;
  let refused = 0;
  fc.assert(
    fc.property(fc.nat({ max: seeds.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.boolean(), (i, ms, fix) => {
      const raw = mutate(seeds[i] as Uint8Array, ms);
      const input = fix ? fixLength(raw) : raw;
      let first;
      try {
        first = decodeDatagram(input);
      } catch (err) {
        if (!(err instanceof PfcpDecodeError)) throw err;
        refused++;
        return;
      }
      decoded++;
      for (const m of first) {
        const again = decodeMessage(encodeMessage(m));
        if (!isDeepStrictEqual(again, m)) {
          throw new Error(`re-encode changed ${fc.stringify(m)} into ${fc.stringify(again)}`);
        }
      }
    }),
    { numRuns: 20000, seed: Number(process.env['PFCP_FUZZ_SEED'] ?? 20261204) },
  );
  // Both outcomes must occur, or the mutations are not exercising the decoder.
  t.true(decoded > 200, `${decoded} mutated inputs decoded`);
  t.true(refused > 200, `${refused} mutated inputs refused`);
});

test('random bytes: only PfcpDecodeError', (t) => {
  let decoded = 0;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (b, fix) => {
      try {
        decoded += decodeDatagram(fix ? fixLength(Uint8Array.from([0x20 | ((b[0] ?? 0) & 0x1f), ...b.subarray(1)])) : b).length;
      } catch (err) {
        if (!(err instanceof PfcpDecodeError)) throw err;
      }
    }),
    { numRuns: 3000, seed: 7 },
  );
  t.true(decoded > 0, 'some random inputs are whole messages');
});
