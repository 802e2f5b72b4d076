// One side of scripts/test-package's shared-memory check, run from an app directory that has
// fastlane-dataplane installed: `write NAME` creates region NAME and fills a table and a channel,
// `read NAME` (another process, possibly another architecture's binding) checks every record and
// message and removes the region. Exits 1 naming the first difference.
'use strict';

const { createRequire } = require('node:module');
const { SharedRegion } = createRequire(`${process.cwd()}/`)('fastlane-dataplane');

const LAYOUT = {
  tables: [{ name: 'rules', keySize: 8, valueSize: 64, capacity: 1024 }],
  channels: [{ name: 'events', messageSize: 64, capacity: 16 }],
};
const KEYS = 200;
const MESSAGES = 5;

const key = (k) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(k));
  return b;
};
const value = (k) => Buffer.alloc(64, `value ${k};`);
const message = (m) => Buffer.alloc(64, `message ${m};`);

function fail(what) {
  console.error(`shm ${process.arch}: ${what}`);
  process.exit(1);
}

const [mode, name] = process.argv.slice(2);
if (mode === 'write') {
  const region = SharedRegion.create(name, LAYOUT);
  const table = region.table('rules');
  for (let k = 0; k < KEYS; k++) table.set(key(k), value(k));
  const channel = region.channel('events');
  for (let m = 0; m < MESSAGES; m++) {
    if (!channel.send(message(m))) fail(`channel full at message ${m}`);
  }
  region.close();
} else if (mode === 'read') {
  const region = SharedRegion.open(name, LAYOUT);
  const table = region.table('rules');
  if (table.size !== KEYS) fail(`table holds ${table.size} records, expected ${KEYS}`);
  for (let k = 0; k < KEYS; k++) {
    const got = table.get(key(k));
    if (got === undefined || !got.equals(value(k))) fail(`record ${k} is ${got?.toString()}`);
  }
  const got = region.channel('events').receive(MESSAGES + 1);
  if (got.length !== MESSAGES) fail(`received ${got.length} messages, expected ${MESSAGES}`);
  got.forEach((m, i) => {
    if (!m.equals(message(i))) fail(`message ${i} is ${m.toString()}`);
  });
  region.close();
  SharedRegion.unlink(name);
} else {
  fail(`usage: test-package-shm.js write|read NAME`);
}
console.log(`shm ${process.arch}: ${mode} ${name}: ${KEYS} records, ${MESSAGES} messages`);
