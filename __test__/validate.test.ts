import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ConfigError, parseConfig, schemaIssues, validateConfig } from '../src-ts/validate';
import { EXAMPLES, macswapConfig } from './helpers';

/** A valid config changed by `edit`, as a plain JSON value. */
function broken(edit: (c: any) => void): unknown {
  const config: any = macswapConfig();
  edit(config);
  return config;
}

const paths = (config: unknown): string[] => validateConfig(config).map((i) => i.path);

test('every example config validates', (t) => {
  const files = fs.readdirSync(EXAMPLES).filter((f) => f.endsWith('.json'));
  t.true(files.length >= 3);
  for (const file of files) {
    const config: unknown = JSON.parse(fs.readFileSync(path.join(EXAMPLES, file), 'utf8'));
    t.deepEqual(validateConfig(config), [], file);
  }
});

test('an unknown key is named by its path, key included', (t) => {
  const issues = validateConfig(broken((c) => (c.ports[0].queues[0].colour = 'blue')));
  t.is(issues.length, 1);
  t.is(issues[0]?.path, '/ports/0/queues/0/colour');
  t.regex(issues[0]?.message ?? '', /unknown key "colour"/);
});

test('a key with / or ~ is escaped in the pointer', (t) => {
  t.deepEqual(paths(broken((c) => (c['a/b~c'] = 1))), ['/a~1b~0c']);
});

test('a wrong type is named by its path', (t) => {
  const issues = validateConfig(broken((c) => (c.ports[0].queues[0].id = 'zero')));
  t.deepEqual(issues, [{ path: '/ports/0/queues/0/id', message: 'expected an integer, got "zero"' }]);
});

test('an unknown backend is reported at /backend', (t) => {
  const issues = validateConfig(broken((c) => (c.backend = 'carrier_pigeon')));
  t.is(issues.length, 1);
  t.is(issues[0]?.path, '/backend');
  t.regex(issues[0]?.message ?? '', /carrier_pigeon/);
});

test('a core that does not exist is found by the native check', (t) => {
  const config = broken((c) => (c.ports[0].queues[0].core = 65535));
  t.deepEqual(schemaIssues(config), [], 'the schema alone accepts any u16 core');
  const issues = validateConfig(config);
  t.is(issues.length, 1);
  t.is(issues[0]?.path, '/ports/0/queues/0/core');
  t.regex(issues[0]?.message ?? '', /65535 does not exist/);
});

test('several schema errors are reported at once', (t) => {
  const config = broken((c) => {
    c.backend = 'carrier_pigeon';
    c.ports[0].queues[0].colour = 1;
    c.ports[0].interface = 'an-interface-name-too-long';
    c.af_xdp = { bind_mode: 'fast' };
    delete c.pipeline;
  });
  t.deepEqual(paths(config).sort(), [
    '',
    '/af_xdp/bind_mode',
    '/backend',
    '/ports/0/interface',
    '/ports/0/queues/0/colour',
  ]);
});

test('several native errors are reported at once', (t) => {
  const config = broken((c) => {
    c.af_xdp = { rx_ring_size: 1000 };
    c.ports[0].queues.push({ id: 0, core: 0 });
    c.pipeline = [{ type: 'l2fwd', pairs: [[0, 3]] }];
  });
  t.deepEqual(paths(config).sort(), ['/af_xdp/rx_ring_size', '/pipeline/0/pairs/0/1', '/ports/0/queues/1/id']);
});

test('a bad processor name is one message, not the oneOf noise', (t) => {
  const issues = validateConfig(broken((c) => (c.pipeline = ['macswapp'])));
  t.is(issues.length, 1);
  t.is(issues[0]?.path, '/pipeline/0');
  t.regex(issues[0]?.message ?? '', /"macswap", "drop", "count" or an object, got "macswapp"/);
});

test('an object processor is explained by its own branch', (t) => {
  t.deepEqual(validateConfig(broken((c) => (c.pipeline = [{ type: 'l2fwd' }]))), [
    { path: '/pipeline/0', message: 'missing required key "pairs"' },
  ]);
  t.deepEqual(paths(broken((c) => (c.pipeline = [{ type: 'macswap', pairs: [[0, 1]] }]))), ['/pipeline/0/pairs']);
  t.deepEqual(paths(broken((c) => (c.pipeline = [{ type: 'l2fwdd' }]))), ['/pipeline/0/type']);
  t.deepEqual(paths(broken((c) => (c.pipeline = [{ type: 'l2fwd', pairs: [[0, 70000]], x: 1 }]))).sort(), [
    '/pipeline/0/pairs/0/1',
    '/pipeline/0/x',
  ]);
});

test('a port match is explained by the branch it resembles', (t) => {
  const issues = validateConfig(broken((c) => (c.filter.udp_ports = [70000, { from: 1 }, '9'])));
  t.deepEqual(issues, [
    { path: '/filter/udp_ports/0', message: '70000 is above the maximum 65535' },
    { path: '/filter/udp_ports/1', message: 'missing required key "to"' },
    { path: '/filter/udp_ports/2', message: 'expected an integer or an object, got "9"' },
  ]);
});

test('parseConfig throws a ConfigError listing every error', (t) => {
  const text = JSON.stringify(broken((c) => ((c.backend = 'x'), (c.ports[0].queues[0].colour = 1))));
  const error = t.throws(() => parseConfig(text, 'bad.json'), { instanceOf: ConfigError });
  t.deepEqual(error?.issues.map((i) => i.path), ['/backend', '/ports/0/queues/0/colour']);
  t.regex(error?.message ?? '', /bad\.json/);
  t.regex(error?.message ?? '', /\/backend: /);
  t.regex(error?.message ?? '', /\/ports\/0\/queues\/0\/colour: /);
});

test('invalid JSON is a ConfigError for the whole document', (t) => {
  const error = t.throws(() => parseConfig('{ "backend": '), { instanceOf: ConfigError });
  t.is(error?.issues.length, 1);
  t.is(error?.issues[0]?.path, '');
  t.regex(error?.issues[0]?.message ?? '', /invalid JSON/);
});

test('an unknown processor type lists the types there are', (t) => {
  t.deepEqual(validateConfig(broken((c) => (c.pipeline = [{ type: 'l2fwdd' }]))), [
    { path: '/pipeline/0/type', message: 'expected "macswap", "drop", "count", "l2fwd", "plugin" or "js", got "l2fwdd"' },
  ]);
  t.deepEqual(validateConfig(broken((c) => (c.pipeline = [{}]))), [{ path: '/pipeline/0', message: 'missing required key "type"' }]);
});

test('a TAP MAC that is not one is explained as the native check would', (t) => {
  t.deepEqual(validateConfig(broken((c) => (c.ports[0].tap = { mac: '02:00:00:00:00' }))), [
    { path: '/ports/0/tap/mac', message: '"02:00:00:00:00" is not a MAC address (aa:bb:cc:dd:ee:ff)' },
  ]);
});

test('the schema carries the Rust defaults and descriptions', (t) => {
  const schema = JSON.parse(fs.readFileSync(path.join(EXAMPLES, '..', 'fastlane.schema.json'), 'utf8'));
  t.is(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  const afXdp = schema.$defs.AfXdpConfig.properties;
  t.is(afXdp.umem_frames.default, 8192);
  t.regex(afXdp.umem_frames.description, /UMEM frames per thread/);
  t.is(schema.$defs.ThreadsConfig.properties.batch_size.default, 64);
  t.is(schema.$defs.BusyPollConfig.properties.budget.default, 64);
});

test('a port filter is checked like the top-level one, by its own path', (t) => {
  t.deepEqual(paths(broken((c) => (c.ports[0].filter = { udp_ports: [2152], colour: 1 }))), ['/ports/0/filter/colour']);
  const empty = validateConfig(broken((c) => (c.ports[0].filter = { udp_ports: [{ from: 9, to: 8 }] })));
  t.deepEqual(empty, [{ path: '/ports/0/filter/udp_ports/0', message: 'range from 9 to 8 is empty' }]);
  t.deepEqual(validateConfig(broken((c) => (c.ports[0].filter = { dst_prefixes: ['10.45.0.0/16', '2001:db8:1::/48'] }))), []);
});

test('a bad destination prefix is named by its path and says what is wrong', (t) => {
  for (const [prefix, says] of [
    ['10.45.0.1/16', /host bits set \(the prefix is 10\.45\.0\.0\/16\)/],
    ['2001:db8::/129', /prefix length "129" is not a number from 0 to 128/],
    ['10.45.0.0', /is not a prefix/],
    ['10.45.0/16', /is not an IPv4 or IPv6 address/],
  ] as const) {
    const issues = validateConfig(broken((c) => (c.ports[0].filter = { dst_prefixes: ['10.0.0.0/8', prefix] })));
    t.is(issues.length, 1, prefix);
    t.is(issues[0]?.path, '/ports/0/filter/dst_prefixes/1', prefix);
    t.regex(issues[0]?.message ?? '', says, prefix);
  }
  const many = Array.from({ length: 65 }, (_, i) => `10.${i}.0.0/16`);
  t.deepEqual(validateConfig(broken((c) => (c.filter.dst_prefixes = many))), [
    { path: '/filter/dst_prefixes', message: '65 IPv4 prefixes; a filter holds at most 64' },
  ]);
});
