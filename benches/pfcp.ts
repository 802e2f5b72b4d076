// PFCP session establishments per second from one SMF-side client over loopback, and their
// latency. The UPF's PFCP node runs in a process of its own (this file with --upf); the client
// pre-encodes every request, keeps --window requests outstanding, and times each from send to
// response. A second pass with one request at a time gives the unloaded latency.
//
//   npx tsx benches/pfcp.ts [--sessions 20000] [--window 64] [--test-double]
//
// The user plane behind the node is the shared-memory UpfSessions (ShmUpfSessions, as `fastlane
// upf run` has it), or with --test-double the in-memory test double of apps/upf/test, which leaves
// the PFCP node's own share (decode, rules, allocation, encode, UDP).
import { type ChildProcess, spawn } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as os from 'node:os';
import { createInterface } from 'node:readline';

import { IeType as T, decodeMessage, encodeMessage, getValue } from '../apps/upf/src/pfcp/index';
import { SharedRegion } from 'fastlane-dataplane';

import { pfcpStateLayout, startPfcpNode } from '../apps/upf/src/node/index';
import { ShmUpfSessions } from '../apps/upf/src/sessions/index';
import { jsonLogger } from '../apps/upf/src/node/log';
import { associationSetupMessage, establishmentMessage } from '../apps/upf/test/pfcp-node-helpers';
import { UpfSessionsTestDouble } from '../apps/upf/test/upf-sessions-double';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function upf(sessions: number, testDouble: boolean): Promise<void> {
  const region = `fastlane-bench-pfcp-${process.pid}`;
  const caps = { sessions, pdrs: 2 * sessions, fars: 2 * sessions, qers: 16, urrs: sessions };
  const userPlane = testDouble ? new UpfSessionsTestDouble() : ShmUpfSessions.create(`${region}-upf`, caps);
  const state = SharedRegion.create(`${region}-state`, pfcpStateLayout(sessions));
  // On SIGTERM: the CPU time the UPF process used since it was up (user + system, µs), then exit.
  let upAt: NodeJS.CpuUsage | undefined;
  const cleanup = (): void => {
    const cpu = process.cpuUsage(upAt);
    process.stdout.write(`${cpu.user + cpu.system}\n`);
    for (const name of [`${region}-upf`, `${region}-state`]) {
      try {
        SharedRegion.unlink(name);
      } catch {
        // not created
      }
    }
    process.exit(0);
  };
  process.on('SIGTERM', cleanup);
  const node = await startPfcpNode(
    {
      addresses: ['127.0.0.1'],
      port: 0,
      nodeId: { kind: 'ipv4', value: '127.0.0.1' },
      fTeidAddresses: { ipv4: '198.51.100.1' },
      uePools: [{ prefix: '10.0.0.0/8' }],
      state,
      logger: jsonLogger(process.stderr, 'warn'),
    },
    userPlane,
  );
  upAt = process.cpuUsage();
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
  const sessions = arg('sessions', 20_000);
  const window = arg('window', 64);
  const testDouble = process.argv.includes('--test-double');
  // Room for the unloaded pass's sessions too.
  if (process.argv.includes('--upf')) return upf(sessions + 2000, testDouble);
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', __filename, '--upf', '--sessions', String(sessions), ...(testDouble ? ['--test-double'] : [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
    const port = Number((await lines.next()).value);
    const cpuAt = async (): Promise<number> => {
      child.kill('SIGTERM');
      return Number((await lines.next()).value);
    };
    // Association first (sequence 1), then the establishments, each its own CP SEID and sequence.
    const setup = await run(port, [encodeMessage({ ...associationSetupMessage(), sequence: 1 })], 1);
    if (setup.accepted !== 1) throw new Error('association setup refused');
    const make = (from: number, n: number): Uint8Array[] =>
      Array.from({ length: n }, (_, i) => encodeMessage({ ...establishmentMessage(BigInt(from + i)), sequence: from + i }));
    const loaded = await run(port, make(2, sessions), window);
    const unloaded = await run(port, make(2 + sessions, 2000), 1);
    const cpuMicros = await cpuAt();
    const out = {
      userPlane: testDouble ? 'UpfSessions test double (memory)' : 'ShmUpfSessions (shared memory)',
      sessions,
      window,
      establishmentsPerSecond: Math.round(sessions / loaded.seconds),
      accepted: loaded.accepted,
      loadedLatencyMs: { p50: percentile(loaded.latenciesMs, 50), p99: percentile(loaded.latenciesMs, 99) },
      unloadedLatencyMs: { p50: percentile(unloaded.latenciesMs, 50), p99: percentile(unloaded.latenciesMs, 99) },
      // What the machine's load changes less: the UPF process's CPU time per request once up, and
      // what one core of its own would therefore sustain.
      upfCpuMicrosPerEstablishment: Math.round(cpuMicros / (sessions + 2000)),
      establishmentsPerUpfCpuSecond: Math.round((sessions + 2000) / (cpuMicros / 1e6)),
      loadAverage: os.loadavg().map((x) => Number(x.toFixed(2))),
    };
    console.log(JSON.stringify(out, null, 2));
    if (loaded.accepted !== sessions) throw new Error(`${sessions - loaded.accepted} establishments not accepted`);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  }
}

void main().catch((e: Error) => {
  console.error(e.message);
  process.exitCode = 1;
});
