// Shared regions from TypeScript, and across languages and processes: a TypeScript writer killed
// with SIGKILL while the Rust fast path's reader (the fastlane-shm example `shm_peer`, built here
// with cargo) checks every record it reads; channels consumed with `for await`.

import test from 'ava';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { SharedRegion, type ShmLayout } from '../src-ts/shm';
import { ROOT } from './helpers';

/** The layout `shm_peer` declares. */
const PEER_LAYOUT: ShmLayout = {
  tables: [{ name: 'rules', keySize: 8, valueSize: 64, capacity: 1024 }],
  channels: [{ name: 'events', messageSize: 64, capacity: 16 }],
};
const KEYS = 200;

function regionName(tag: string): string {
  return `fastlane-shm-ava-${tag}-${process.pid}`;
}

function removeRegion(name: string): void {
  fs.rmSync(path.join('/dev/shm', name), { force: true });
}

function key(k: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(k));
  return b;
}

/** The value `shm_peer` expects: the unit (key u32, counter u32) repeated. */
function pattern(k: number, counter: number): Buffer {
  const b = Buffer.alloc(64);
  for (let i = 0; i < 64; i += 8) {
    b.writeUInt32LE(k, i);
    b.writeUInt32LE(counter, i + 4);
  }
  return b;
}

let peerPath: string | undefined;

/** Builds the Rust peer once per test file; returns its path. */
function peer(): string {
  if (peerPath === undefined) {
    const out = execFileSync(
      'cargo',
      ['build', '-q', '-p', 'fastlane-shm', '--example', 'shm_peer', '--message-format=json'],
      { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 },
    );
    for (const line of out.split('\n')) {
      if (!line.startsWith('{')) continue;
      const message = JSON.parse(line);
      if (message.reason === 'compiler-artifact' && message.target?.name === 'shm_peer' && message.executable) {
        peerPath = message.executable as string;
      }
    }
    if (peerPath === undefined) {
      throw new Error('cargo built no shm_peer executable');
    }
  }
  return peerPath;
}

/** Runs `child` to its end; its stdout, or a rejection carrying its stderr. */
async function finished(child: ChildProcess): Promise<string> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  if (code !== 0) {
    throw new Error(`exited with ${code ?? signal}: ${stderr}`);
  }
  return stdout;
}

test('a table: set, get, delete, entries, size; a full table refuses', (t) => {
  const name = regionName('table');
  removeRegion(name);
  t.teardown(() => removeRegion(name));
  const region = SharedRegion.create(name, { tables: [{ name: 'far', keySize: 4, valueSize: 16, capacity: 8 }] });
  t.teardown(() => region.close());
  t.true(region.created);
  const far = region.table('far');
  for (let i = 0; i < 8; i++) {
    far.set(Buffer.from([0, 0, 0, i]), Buffer.alloc(16, i));
  }
  t.is(far.size, 8);
  t.throws(() => far.set(Buffer.from([1, 0, 0, 0]), Buffer.alloc(16)), { message: /is full \(8 entries\)/ });
  t.throws(() => far.set(Buffer.from([1, 0, 0]), Buffer.alloc(16)), { message: /ERR_INVALID_ARG_VALUE.*key of "far" is 3 bytes, the layout says 4/ });
  t.deepEqual(far.get(Buffer.from([0, 0, 0, 5])), Buffer.alloc(16, 5));
  t.is(far.get(Buffer.from([9, 9, 9, 9])), undefined);
  t.true(far.delete(Buffer.from([0, 0, 0, 5])));
  t.false(far.delete(Buffer.from([0, 0, 0, 5])));
  t.is(far.size, 7);
  const seen = [...far.entries()].map(([k, v]) => [k[3], v[0]]).sort((a, b) => a[0]! - b[0]!);
  t.deepEqual(seen, [0, 1, 2, 3, 4, 6, 7].map((i) => [i, i]));
  t.throws(() => region.table('nope'), { message: /no table named "nope"/ });
});

test('cells: words stored and loaded by any handle; out of range and closed refuse', (t) => {
  const name = regionName('cells');
  removeRegion(name);
  t.teardown(() => removeRegion(name));
  const layout: ShmLayout = { tables: [{ name: 't', keySize: 4, valueSize: 4, capacity: 2 }], cells: [{ name: 'counters', words: 4, capacity: 3 }] };
  const region = SharedRegion.create(name, layout);
  t.teardown(() => region.close());
  const other = SharedRegion.open(name, layout);
  t.teardown(() => other.close());
  const cells = region.cells('counters');
  t.is(cells.words, 4);
  t.is(cells.capacity, 3);
  cells.store(2, BigUint64Array.from([1n, 2n, (1n << 64n) - 1n]));
  other.cells('counters').storeWord(2, 3, 42n);
  t.deepEqual([...other.cells('counters').load(2)], [1n, 2n, (1n << 64n) - 1n, 42n]);
  t.deepEqual([...cells.load(0)], [0n, 0n, 0n, 0n]);
  t.throws(() => cells.load(3), { message: /ERR_INVALID_ARG_VALUE.*cell 3 of "counters": it has 3 cells/ });
  t.throws(() => cells.store(0, new BigUint64Array(5)), { message: /5 words for a cell of 4/ });
  t.throws(() => cells.storeWord(0, 4, 1n), { message: /word 4 of a cell of 4/ });
  t.throws(() => cells.storeWord(0, 0, -1n), { message: /a cell word is a bigint from 0/ });
  t.throws(() => SharedRegion.open(name, { ...layout, cells: [{ name: 'counters', words: 2, capacity: 3 }] }), {
    message: /cells "counters": cell size 32 in the region, 16 in the layout/,
  });
  cells.close();
  t.throws(() => cells.load(0), { message: /ERR_FASTLANE_SHM_CLOSED/ });
});

test('create refuses an existing name unless reused; open refuses another layout, naming the difference', (t) => {
  const name = regionName('layout');
  removeRegion(name);
  t.teardown(() => removeRegion(name));
  const first = SharedRegion.create(name, PEER_LAYOUT);
  t.teardown(() => first.close());
  t.throws(() => SharedRegion.create(name, PEER_LAYOUT), { message: /ERR_FASTLANE_SHM_EXISTS/ });
  const reused = SharedRegion.create(name, PEER_LAYOUT, { reuse: true });
  t.false(reused.created);
  t.false(reused.unlinkIfCreated());
  reused.close();
  const other: ShmLayout = {
    tables: [{ name: 'rules', keySize: 16, valueSize: 64, capacity: 1024 }],
    channels: [{ name: 'events', messageSize: 64, capacity: 16 }],
  };
  t.throws(() => SharedRegion.open(name, other), {
    message: /ERR_FASTLANE_SHM_LAYOUT.*table "rules": key size 8 in the region, 16 in the layout/,
  });
  t.throws(() => SharedRegion.create('../etc/x', PEER_LAYOUT), { message: /invalid region name/ });
  t.true(first.unlinkIfCreated());
  t.throws(() => SharedRegion.open(name, PEER_LAYOUT), { message: /ERR_FASTLANE_SHM_NOT_FOUND/ });
  t.throws(() => SharedRegion.unlink(name), { message: /does not exist/ });
});

test.serial('a TypeScript writer killed with SIGKILL: the Rust reader never sees a torn rule; a new writer takes over with the old rules', async (t) => {
  const name = regionName('kill');
  removeRegion(name);
  t.teardown(() => removeRegion(name));
  const region = SharedRegion.create(name, PEER_LAYOUT);
  t.teardown(() => region.close());
  const peerExe = peer();

  // The writer: another node process that installs every rule, says so, then rewrites them
  // with a rising counter until killed.
  const writerCode = `
    const { SharedRegion } = require(${JSON.stringify(path.join(ROOT, 'src-ts', 'shm.ts'))});
    const layout = ${JSON.stringify(PEER_LAYOUT)};
    const region = SharedRegion.open(${JSON.stringify(name)}, layout);
    const rules = region.table('rules');
    const key = (k) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(k)); return b; };
    const value = (k, c) => { const b = Buffer.alloc(64); for (let i = 0; i < 64; i += 8) { b.writeUInt32LE(k, i); b.writeUInt32LE(c, i + 4); } return b; };
    for (let k = 0; k < ${KEYS}; k++) rules.set(key(k), value(k, 1));
    process.stdout.write('ready\\n');
    for (let c = 2; ; c++) for (let k = 0; k < ${KEYS}; k++) rules.set(key(k), value(k, c));
  `;
  const writer = spawn(process.execPath, ['--import', 'tsx', '-e', writerCode], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => writer.kill('SIGKILL'));
  const [firstLine] = (await once(writer.stdout!, 'data')) as [Buffer];
  t.is(firstLine.toString().trim(), 'ready');

  const reader = spawn(peerExe, ['read', name, String(KEYS), '2500'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const readerDone = finished(reader);
  await new Promise((resolve) => setTimeout(resolve, 800));
  // Our own writer is refused while the other one lives.
  const rules = region.table('rules');
  t.throws(() => rules.set(key(0), pattern(0, 0)), { message: new RegExp(`ERR_FASTLANE_SHM_LOCKED.*held by process ${writer.pid}`) });
  writer.kill('SIGKILL');
  await once(writer, 'exit');

  // A new writer reattaches: the old rules are all there and whole, and it continues.
  const again = SharedRegion.create(name, PEER_LAYOUT, { reuse: true });
  t.teardown(() => again.close());
  const table = again.table('rules');
  t.is(table.size, KEYS);
  let maxCounter = 0;
  for (let k = 0; k < KEYS; k++) {
    const v = table.get(key(k));
    t.truthy(v, `rule ${k} lost`);
    const counter = v!.readUInt32LE(4);
    t.deepEqual(v, pattern(k, counter), `rule ${k} torn`);
    maxCounter = Math.max(maxCounter, counter);
  }
  t.true(maxCounter > 1, 'the killed writer had rewritten the rules');
  const next = maxCounter + 1000;
  for (let k = 0; k < KEYS; k++) {
    table.set(key(k), pattern(k, next));
  }

  const result = JSON.parse(await readerDone) as { reads: number; hits: number; maxCounter: number };
  t.is(result.hits, result.reads, 'every rule was present at every read');
  t.true(result.reads > 10_000, `${result.reads} reads`);
  t.is(result.maxCounter, next, 'the reader saw the new writer\'s rules');
});

test.serial('a channel from the Rust peer, consumed with for await until the region closes; a full channel counts drops', async (t) => {
  const name = regionName('channel');
  removeRegion(name);
  t.teardown(() => removeRegion(name));
  const region = SharedRegion.create(name, PEER_LAYOUT);
  t.teardown(() => region.close());
  const count = 100;
  const sender = finished(spawn(peer(), ['send', name, String(count)], { stdio: ['ignore', 'pipe', 'pipe'] }));

  const received: string[] = [];
  const events = region.channel('events', { pollIntervalMs: 2 });
  const consumer = (async () => {
    for await (const message of events) {
      received.push(message.toString());
      if (received.length === count) {
        region.close();
      }
    }
  })();
  const sent = JSON.parse(await sender) as { sent: number; drops: number };
  t.is(sent.sent, count);
  await consumer;
  t.deepEqual(received, Array.from({ length: count }, (_, i) => `message ${i}`));
  t.true(region.closed);

  // The peer has exited, so its producer end is free; nobody consumes now.
  const reopened = SharedRegion.open(name, PEER_LAYOUT);
  t.teardown(() => reopened.close());
  const producer = reopened.channel('events');
  const before = producer.drops;
  for (let i = 0; i < 16; i++) {
    t.true(producer.send(Buffer.from(`fill ${i}`)));
  }
  t.false(producer.send(Buffer.from('one too many')));
  t.false(producer.send(Buffer.from('two too many')));
  t.is(producer.drops, before + 2);
  t.throws(() => producer.send(Buffer.alloc(65)), { message: /message of "events" is 65 bytes, the layout says 64/ });
});
