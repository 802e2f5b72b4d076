// PFCP session establishments per second from one SMF-side client over loopback, and their
// latency. The UPF's PFCP node runs in a process of its own (this file with --upf); the client
// pre-encodes every request, keeps --window requests outstanding, and times each from send to
// response. A second pass with one request at a time gives the unloaded latency.
//
//   npx tsx benches/pfcp.ts [--sessions 20000] [--window 64]
//
// The user plane behind the node is the in-memory UpfSessions test double of apps/upf/test, so
// the figures are the PFCP node's own (decode, rules, allocation, encode, UDP), not shared memory's.
import { type ChildProcess, spawn } from 'node:child_process';
import * as dgram from 'node:dgram';
import { createInterface } from 'node:readline';

import { IeType as T, decodeMessage, encodeMessage, getValue } from '../apps/upf/src/pfcp/index';
import { startPfcpNode } from '../apps/upf/src/node/index';
import { jsonLogger } from '../apps/upf/src/node/log';
import { associationSetupMessage, establishmentMessage } from '../apps/upf/test/pfcp-node-helpers';
import { UpfSessionsTestDouble } from '../apps/upf/test/upf-sessions-double';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function upf(): Promise<void> {
  const node = await startPfcpNode(
    {
      addresses: ['127.0.0.1'],
      port: 0,
      nodeId: { kind: 'ipv4', value: '127.0.0.1' },
      fTeidAddresses: { ipv4: '198.51.100.1' },
      uePools: [{ prefix: '10.0.0.0/8' }],
      logger: jsonLogger(process.stderr, 'warn'),
    },
    new UpfSessionsTestDouble(),
  );
  process.stdout.write(`${node.ports()[0]?.port}\n`);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function run(port: number, requests: Uint8Array[], window: number): Promise<{ seconds: number; latenciesMs: number[]; accepted: number }> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  const sentAt = new Map<number, bigint>();
  const latencies: number[] = [];
  let accepted = 0;
  let next = 0;
  const start = process.hrtime.bigint();
  await new Promise<void>((done) => {
    const send = (): void => {
      const b = requests[next++] as Uint8Array;
      const at = (b[0] as number) & 1 ? 12 : 4; // S flag: the sequence follows the SEID
      const seq = ((b[at] as number) << 16) | ((b[at + 1] as number) << 8) | (b[at + 2] as number);
      sentAt.set(seq, process.hrtime.bigint());
      socket.send(b, port, '127.0.0.1');
    };
    socket.on('message', (m) => {
      const r = decodeMessage(m);
      const at = sentAt.get(r.sequence);
      if (at === undefined) return;
      sentAt.delete(r.sequence);
      latencies.push(Number(process.hrtime.bigint() - at) / 1e6);
      if (getValue(r.ies, T.Cause)?.cause === 1) accepted++;
      if (next < requests.length) send();
      else if (sentAt.size === 0) done();
    });
    for (let i = 0; i < window && next < requests.length; i++) send();
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  socket.close();
  return { seconds, latenciesMs: latencies.sort((a, b) => a - b), accepted };
}

async function main(): Promise<void> {
  if (process.argv.includes('--upf')) return upf();
  const sessions = arg('sessions', 20_000);
  const window = arg('window', 64);
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', __filename, '--upf'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const first = await createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]().next();
    const port = Number(first.value);
    // Association first (sequence 1), then the establishments, each its own CP SEID and sequence.
    const setup = await run(port, [encodeMessage({ ...associationSetupMessage(), sequence: 1 })], 1);
    if (setup.accepted !== 1) throw new Error('association setup refused');
    const make = (from: number, n: number): Uint8Array[] =>
      Array.from({ length: n }, (_, i) => encodeMessage({ ...establishmentMessage(BigInt(from + i)), sequence: from + i }));
    const loaded = await run(port, make(2, sessions), window);
    const unloaded = await run(port, make(2 + sessions, 2000), 1);
    const out = {
      sessions,
      window,
      establishmentsPerSecond: Math.round(sessions / loaded.seconds),
      accepted: loaded.accepted,
      loadedLatencyMs: { p50: percentile(loaded.latenciesMs, 50), p99: percentile(loaded.latenciesMs, 99) },
      unloadedLatencyMs: { p50: percentile(unloaded.latenciesMs, 50), p99: percentile(unloaded.latenciesMs, 99) },
    };
    console.log(JSON.stringify(out, null, 2));
    if (loaded.accepted !== sessions) throw new Error(`${sessions - loaded.accepted} establishments not accepted`);
  } finally {
    child.kill('SIGKILL');
  }
}

void main().catch((e: Error) => {
  console.error(e.message);
  process.exitCode = 1;
});
