// The generated TypeScript says what the Rust it is generated from says (scripts/generate --check,
// run by scripts/test, also fails when a checked-in generated file is stale).

import test from 'ava';

import * as arena from '../src-ts/generated/arena';
import { Verdict } from '../src-ts/batch';
import { native } from '../src-ts/native';

test('the arena constants TypeScript reads by are the addon\'s', (t) => {
  const layout = native('arenaLayout')();
  const generated = arena as Record<string, number>;
  const keys = Object.keys(layout);
  t.true(keys.length >= 20);
  t.deepEqual(keys.map((k) => k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()).sort(), Object.keys(generated).sort());
  for (const [key, value] of Object.entries(layout)) {
    t.is(generated[key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()], value, key);
  }
  t.is(Verdict.TRANSMIT as number, layout.verdictTransmit);
  t.is(Verdict.transmitOn(7), layout.verdictTransmitOn | 7);
});
