// The addon's errors carry their Fastlane code in `err.code`, so JavaScript can branch on the kind
// of failure without parsing messages; the message still starts with the code and says what failed.

import test from 'ava';

import { Dataplane } from '../src-ts/dataplane';
import { native } from '../src-ts/native';
import { ConfigError } from '../src-ts/validate';
import { macswapConfig, uniquePrefix } from './helpers';

/** What a caller would do with the error: one branch per code, by `err.code` alone. */
function reaction(error: unknown): string {
  switch ((error as { code?: unknown }).code) {
    case 'ERR_FASTLANE_CONFIG':
      return 'fix the config';
    case 'ERR_FASTLANE_START':
      return 'check the system';
    case 'ERR_FASTLANE_SHM_NOT_FOUND':
      return 'wait for the writer';
    case 'ERR_FASTLANE_SHM_CLOSED':
      return 'reopen';
    case 'ERR_FASTLANE_TESTBED':
      return 'rebuild the test bed';
    case 'ERR_INVALID_ARG_VALUE':
      return 'fix the call';
    default:
      return 'unknown';
  }
}

const LAYOUT = { tables: [{ name: 't', keySize: 4, valueSize: 4, capacity: 8 }] };

/** The error `run` throws, with its message checked against `message`. */
function thrown(t: import('ava').ExecutionContext, run: () => unknown, message: RegExp): unknown {
  const error = t.throws(run, { message });
  t.true(error instanceof Error);
  return error;
}

test('a config the addon rejects is ERR_FASTLANE_CONFIG', (t) => {
  const config = JSON.stringify({ ...macswapConfig(), backend: 'carrier_pigeon' });
  const error = thrown(t, () => new (native('NativeDataplane'))(config), /^\[ERR_FASTLANE_CONFIG\] invalid config:\n {2}\/backend: .*carrier_pigeon/);
  t.is(reaction(error), 'fix the config');
});

test('a config the schema rejects is ERR_FASTLANE_CONFIG too', (t) => {
  const error = t.throws(() => new Dataplane({ ...macswapConfig(), backend: 'carrier_pigeon' as 'af_xdp' }), {
    instanceOf: ConfigError,
  });
  t.is(reaction(error), 'fix the config');
});

test('starting on an interface that does not exist is ERR_FASTLANE_START', (t) => {
  const config = macswapConfig();
  const missing = `${uniquePrefix('nx')}x`;
  config.ports[0]!.interface = missing;
  const dataplane = new (native('NativeDataplane'))(JSON.stringify(config));
  const error = thrown(t, () => dataplane.start(), new RegExp(`^\\[ERR_FASTLANE_START\\] .*${missing}`));
  t.is(reaction(error), 'check the system');
  t.false(dataplane.running);
});

test('opening a shared region that does not exist is ERR_FASTLANE_SHM_NOT_FOUND', (t) => {
  const name = uniquePrefix('nf');
  const error = thrown(t, () => native('NativeSharedRegion').open(name, LAYOUT), /^\[ERR_FASTLANE_SHM_NOT_FOUND\] /);
  t.is(reaction(error), 'wait for the writer');
});

test('a closed shared-memory table is ERR_FASTLANE_SHM_CLOSED', (t) => {
  const name = uniquePrefix('cl');
  const region = native('NativeSharedRegion').create(name, LAYOUT);
  try {
    const table = region.table('t');
    table.close();
    const error = thrown(t, () => table.get(Buffer.alloc(4)), /^\[ERR_FASTLANE_SHM_CLOSED\] the table is closed$/);
    t.is(reaction(error), 'reopen');
  } finally {
    region.unlinkIfCreated();
    region.close();
  }
});

test('a bad argument is ERR_INVALID_ARG_VALUE', (t) => {
  const fields = { srcMac: 'nope', dstMac: '02:00:00:00:00:02', srcIp: '10.0.0.1', dstIp: '10.0.0.2', srcPort: 1, dstPort: 2 };
  const error = thrown(t, () => native('udpFrame')(fields, 60), /^\[ERR_INVALID_ARG_VALUE\] srcMac: "nope" is not a MAC address/);
  t.is(reaction(error), 'fix the call');
});

test('a rejected promise carries its code as well', async (t) => {
  const netns = uniquePrefix('ns');
  const error = await t.throwsAsync(native('exchangeFrames')(netns, 'eth0', [Buffer.alloc(60)], 9, 1, 10), {
    message: new RegExp(`^\\[ERR_FASTLANE_TESTBED\\] .*${netns}`),
  });
  t.is(reaction(error), 'rebuild the test bed');
});
