// Hostile N4 input against the running node: truncated headers, lengths past the end, wrong
// nesting, unknown types, other versions, huge messages, random mutations and an establishment
// flood. Each gets the cause TS 29.244 clause 7.6 asks for or is dropped, each is counted, and the
// node keeps answering.
import * as dgram from 'node:dgram';

import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';

import { IeType as T, MessageType as M, type PfcpMessage, decodeMessage, encodeMessage, getValue, ie } from '../src/pfcp/index';
import type { PfcpNode } from '../src/node/index';
import { associationSetup, establishment, startNode } from './pfcp-node-helpers';
import { runScapy } from './scapy';
import { UpfSessionsTestDouble } from './upf-sessions-double';

const built = runScapy([associationSetup(1), establishment(2, 0x10), 'PFCP(S=0, seq=3)/PFCPHeartbeatRequest(IE_list=[IE_RecoveryTimeStamp(timestamp=1)])'], []).built.map(
  (h) => Buffer.from(h, 'hex'),
);
const [setupBytes, establishmentBytes, heartbeatBytes] = built as [Buffer, Buffer, Buffer];

/** A plain UDP client: raw bytes out, whatever comes back within `ms`. */
class Client {
  readonly socket = dgram.createSocket('udp4');
  readonly inbox: Buffer[] = [];
  constructor(readonly to: { address: string; port: number }) {
    this.socket.on('message', (m) => this.inbox.push(m));
  }
  async ready(): Promise<void> {
    await new Promise<void>((r) => this.socket.bind(0, '127.0.0.1', () => r()));
  }
  send(b: Uint8Array): void {
    this.socket.send(b, this.to.port, this.to.address);
  }
  /** What comes back: waits up to `ms` for a first datagram, then a little for any second one. */
  async exchange(b: Uint8Array, ms = 2000): Promise<Buffer[]> {
    this.inbox.length = 0;
    this.send(b);
    const deadline = Date.now() + ms;
    while (this.inbox.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    if (this.inbox.length) await new Promise((r) => setTimeout(r, 30));
    return this.inbox.splice(0);
  }
  /** Whether the node answers `b` with a message of `type` within `ms` (late others ignored). */
  async answers(b: Uint8Array, type: number, ms = 20_000): Promise<boolean> {
    this.inbox.length = 0;
    this.send(b);
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (this.inbox.some((m) => decodeMessage(m).type === type)) return true;
      await new Promise((r) => setTimeout(r, 2));
    }
    return false;
  }
  close(): void {
    this.socket.close();
  }
}

async function withNode(t: ExecutionContext, f: (c: Client, node: PfcpNode, sessions: UpfSessionsTestDouble) => Promise<void>, options = {}): Promise<void> {
  const sessions = new UpfSessionsTestDouble();
  const { node, to } = await startNode(sessions, options);
  const c = new Client(to);
  await c.ready();
  try {
    const [setup] = await c.exchange(setupBytes);
    t.is(getValue(decodeMessage(setup as Buffer).ies, T.Cause)?.cause, 1);
    await f(c, node, sessions);
    // Whatever came before, the node still answers.
    t.true(await c.answers(heartbeatBytes, M.HeartbeatResponse), 'the node still answers a heartbeat');
  } finally {
    c.close();
    await node.close();
  }
}

/** The count of `reason`, once the node has handled everything sent before (a heartbeat's
 * response comes after them: one socket, handled in order). */
async function malformed(node: PfcpNode, reason: string, c?: Client): Promise<number> {
  if (c) await c.answers(heartbeatBytes, M.HeartbeatResponse);
  return (await node.metrics.malformed.get()).values.find((v) => v.labels['reason'] === reason)?.value ?? 0;
}

function only(t: ExecutionContext, replies: Buffer[]): PfcpMessage {
  t.is(replies.length, 1, 'one response');
  return decodeMessage(replies[0] as Buffer);
}

test('truncated headers are dropped and counted', async (t) => {
  await withNode(t, async (c, node) => {
    for (const n of [0, 1, 3, 7, 12]) t.deepEqual(await c.exchange(establishmentBytes.subarray(0, n), 100), [], `cut at ${n}`);
    t.is(await malformed(node, 'truncated-header', c), 5);
  });
});

test('a request whose length runs past the datagram: cause 68 (invalid length)', async (t) => {
  await withNode(t, async (c, node, sessions) => {
    const r = only(t, await c.exchange(establishmentBytes.subarray(0, establishmentBytes.length - 10)));
    t.is(r.type, M.SessionEstablishmentResponse);
    t.is(r.sequence, 2);
    t.is(getValue(r.ies, T.Cause)?.cause, 68);
    t.is(sessions.size, 0);
    t.is(await malformed(node, 'invalid-message-length', c), 1);
  });
});

test('an IE length past the end, and wrong grouped nesting: cause 69 naming the IE', async (t) => {
  await withNode(t, async (c, node, sessions) => {
    const past = Buffer.from(establishmentBytes);
    // The Node ID is the first IE after the 16-byte header: make its length overrun the message.
    past.writeUInt16BE(0xfff0, 18);
    const r = only(t, await c.exchange(past));
    t.is(getValue(r.ies, T.Cause)?.cause, 69);
    t.is(getValue(r.ies, T.OffendingIe)?.ieType, T.NodeId);

    // A Create PDR whose body ends in 3 bytes that are no IE.
    let pdr = 16;
    while (establishmentBytes.readUInt16BE(pdr) !== T.CreatePdr) pdr += 4 + establishmentBytes.readUInt16BE(pdr + 2);
    const len = establishmentBytes.readUInt16BE(pdr + 2);
    const nested = Buffer.concat([establishmentBytes.subarray(0, pdr + 4 + len), Buffer.from([0, 56, 0]), establishmentBytes.subarray(pdr + 4 + len)]);
    nested.writeUInt16BE(len + 3, pdr + 2);
    nested.writeUInt16BE(nested.length - 4, 2);
    const r2 = only(t, await c.exchange(nested));
    t.is(getValue(r2.ies, T.Cause)?.cause, 69);
    t.is(getValue(r2.ies, T.OffendingIe)?.ieType, T.CreatePdr);
    t.is(sessions.size, 0);
    t.is(await malformed(node, 'ie-length-past-parent', c), 1);
    t.is(await malformed(node, 'bad-grouped-nesting', c), 1);
  });
});

test('unknown message types, wrong S flags and stray responses are dropped and counted', async (t) => {
  await withNode(t, async (c, node) => {
    t.deepEqual(await c.exchange(encodeMessage({ type: 99, sequence: 5, ies: [], raw: Uint8Array.from([1, 2, 3]) }), 200), []);
    t.deepEqual(await c.exchange(encodeMessage({ type: M.HeartbeatRequest, sequence: 6, seid: 1n, ies: [ie(T.RecoveryTimeStamp, { ntpSeconds: 1 })] }), 200), []);
    t.deepEqual(await c.exchange(encodeMessage({ type: M.SessionDeletionRequest, sequence: 7, ies: [] }), 200), []);
    t.deepEqual(await c.exchange(encodeMessage({ type: M.HeartbeatResponse, sequence: 8, ies: [ie(T.RecoveryTimeStamp, { ntpSeconds: 1 })] }), 200), []);
    t.deepEqual(await c.exchange(encodeMessage({ type: M.SessionReportRequest, sequence: 9, seid: 1n, ies: [] }), 200), []);
    t.is(await malformed(node, 'unknown-message-type', c), 1);
    t.is(await malformed(node, 'wrong-s-flag', c), 2);
    t.is(await malformed(node, 'unmatched-response', c), 1);
    t.is(await malformed(node, 'unexpected-request', c), 1);
  });
});

test('another PFCP version: Version Not Supported Response with the sequence number', async (t) => {
  await withNode(t, async (c, node) => {
    const v2 = Buffer.from(heartbeatBytes);
    v2[0] = ((v2[0] as number) & 0x1f) | (2 << 5);
    const r = only(t, await c.exchange(v2));
    t.is(r.type, M.VersionNotSupportedResponse);
    t.is(r.sequence, 3);
    t.deepEqual(r.ies, []);
    t.is(await malformed(node, 'unsupported-version', c), 1);
  });
});

test('a message over the size limit: cause 68, nothing applied', async (t) => {
  await withNode(
    t,
    async (c, node, sessions) => {
      // The establishment with 4 KiB of an unknown IE: decodable, but over the 2 KiB limit.
      const big = Buffer.concat([establishmentBytes, Buffer.from([0, 250, 0x10, 0]), Buffer.alloc(4096)]);
      big.writeUInt16BE(big.length - 4, 2);
      const r = only(t, await c.exchange(big));
      t.is(getValue(r.ies, T.Cause)?.cause, 68);
      t.is(sessions.size, 0);
      t.is(await malformed(node, 'message-too-large', c), 1);
    },
    { maxMessageBytes: 2048 },
  );
});

test('random mutations of an establishment: a response or a drop, never a crash', async (t) => {
  await withNode(t, async (c, node) => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(establishmentBytes.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.nat(establishmentBytes.length), async (edits, cut) => {
        const b = Buffer.from(establishmentBytes.subarray(0, Math.max(cut, 8)));
        for (const [at, v] of edits) if (at < b.length) b[at] = v;
        const replies = await c.exchange(b, 5);
        for (const r of replies) decodeMessage(r); // every response is well-formed PFCP
      }),
      { numRuns: 300, seed: 9 },
    );
    await new Promise((r) => setTimeout(r, 100));
    await c.answers(heartbeatBytes, M.HeartbeatResponse);
    const counted = (await node.metrics.malformed.get()).values.reduce((n, v) => n + v.value, 0);
    t.true(counted > 0, 'malformed input was counted');
  });
});

test('an establishment flood past the user plane’s capacity: cause 75 for the rest, node keeps answering', async (t) => {
  await withNode(t, async (c, _node, sessions) => {
    sessions.capacity = 500;
    const base = decodeMessage(establishmentBytes);
    const requests = new Map<number, Uint8Array>();
    for (let i = 0; i < 2000; i++) {
      const m = { ...base, sequence: 1000 + i, ies: base.ies.map((x) => (x.type === T.FSeid ? ie(T.FSeid, { seid: BigInt(i + 1), ipv4: '127.0.0.1' }) : x)) };
      requests.set(m.sequence, encodeMessage(m));
    }
    // All at once; then, as an SMF does after T1, again whatever the kernel dropped on the way.
    const causes = new Map<number, number>();
    c.inbox.length = 0;
    for (let round = 0; round < 20 && requests.size > 0; round++) {
      for (const b of requests.values()) c.send(b);
      await new Promise((r) => setTimeout(r, 300));
      for (const r of c.inbox.splice(0)) {
        const m = decodeMessage(r);
        if (!requests.delete(m.sequence)) continue; // a second answer to a retransmission
        const cause = getValue(m.ies, T.Cause)?.cause as number;
        causes.set(cause, (causes.get(cause) ?? 0) + 1);
      }
    }
    t.is(requests.size, 0, 'every request answered in the end');
    t.is(causes.get(1), 500);
    t.is(causes.get(75), 1500);
    t.is(sessions.size, 500);
  });
});
