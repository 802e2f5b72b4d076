// Needs root (CI is root): builds real namespaces and a veth pair.

import test from 'ava';
import { execFileSync } from 'node:child_process';

import { Testbed, testbedNames } from '../src-ts/testbed';
import { uniquePrefix } from './helpers';

const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;

test.serial('up builds two namespaces joined by a veth pair; down removes them', (t) => {
  const prefix = uniquePrefix('a');
  t.teardown(() => Testbed.down(prefix));
  const bed = Testbed.up({ prefix, subnet: 203 });

  t.true(Testbed.namespaces().includes(`${prefix}-gen`));
  t.true(Testbed.namespaces().includes(`${prefix}-fwd`));
  t.deepEqual({ ...bed.gen, mac: '' }, { netns: `${prefix}-gen`, interface: `${prefix}-g0`, address: '10.77.203.1', mac: '' });
  t.deepEqual({ ...bed.fwd, mac: '' }, { netns: `${prefix}-fwd`, interface: `${prefix}-f0`, address: '10.77.203.2', mac: '' });
  t.regex(bed.gen.mac, MAC);
  t.regex(bed.fwd.mac, MAC);
  t.not(bed.gen.mac, bed.fwd.mac);
  const ping = execFileSync('ip', ['netns', 'exec', bed.gen.netns, 'ping', '-c', '1', '-W', '2', bed.fwd.address], {
    encoding: 'utf8',
  });
  t.regex(ping, / 0% packet loss/);

  bed.down();
  t.false(Testbed.namespaces().some((ns) => ns.startsWith(`${prefix}-`)));
  t.notThrows(() => bed.down(), 'a second down finds nothing and does not throw');
});

test.serial('down cleans up a partial test bed without throwing', (t) => {
  const prefix = uniquePrefix('b');
  const { gen, fwd } = testbedNames(prefix);
  t.teardown(() => Testbed.down(prefix));
  execFileSync('ip', ['netns', 'add', gen.netns]);
  execFileSync('ip', ['link', 'add', gen.interface, 'type', 'veth', 'peer', 'name', fwd.interface]);

  t.notThrows(() => Testbed.down(prefix));
  t.false(Testbed.namespaces().includes(gen.netns));
  t.throws(() => execFileSync('ip', ['link', 'show', gen.interface], { stdio: 'ignore' }));
});

test.serial('up refuses names in use and leaves them alone', (t) => {
  const prefix = uniquePrefix('c');
  const { fwd } = testbedNames(prefix);
  t.teardown(() => Testbed.down(prefix));
  execFileSync('ip', ['netns', 'add', fwd.netns]);

  t.throws(() => Testbed.up({ prefix }), { message: /File exists/ });
  t.true(Testbed.namespaces().includes(fwd.netns), 'the namespace it did not create is still there');
  t.false(Testbed.namespaces().includes(`${prefix}-gen`), 'the namespace it created is gone');
});

test('up rejects a prefix that would make veth names too long', (t) => {
  t.throws(() => Testbed.up({ prefix: 'much-too-long-prefix' }), { message: /1 to 12/ });
});
