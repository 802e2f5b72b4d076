// The PFCP node's parts on their own: the IPFilterRule parser, the allocators, the state store.
import test from 'ava';

import { TeidAllocator, UeAddressAllocator } from '../src/node/allocators';
import { IpFilterRuleError, parseIpFilterRule } from '../src/node/ipfilter';
import { jsonLogger } from '../src/node/log';
import { NodeStore, memoryStateRegion } from '../src/node/store';

test('IPFilterRule: out rules name the remote end first, in rules the UE first', (t) => {
  t.deepEqual(parseIpFilterRule('permit out ip from any to assigned'), [{}]);
  t.deepEqual(parseIpFilterRule('permit out 6 from 203.0.113.0/24 443 to 10.45.0.7 1000-2000'), [
    { protocol: 6, remote: { prefix: '203.0.113.0/24', ports: { from: 443, to: 443 } }, ue: { prefix: '10.45.0.7', ports: { from: 1000, to: 2000 } } },
  ]);
  t.deepEqual(parseIpFilterRule('permit in udp from assigned 5060 to 2001:DB8:0:0::1/64'), [
    { protocol: 17, ue: { ports: { from: 5060, to: 5060 } }, remote: { prefix: '2001:db8::1/64' } },
  ]);
});

test('IPFilterRule: a port list becomes one filter per combination', (t) => {
  const f = parseIpFilterRule('permit out 17 from any 53,5353 to assigned 1-2,7');
  t.is(f.length, 4);
  t.deepEqual(
    f.map((x) => [x.remote?.ports?.from, x.ue?.ports?.from, x.ue?.ports?.to]),
    [
      [53, 1, 2],
      [53, 7, 7],
      [5353, 1, 2],
      [5353, 7, 7],
    ],
  );
});

test('IPFilterRule: what cannot be enforced or parsed is refused, naming the fault', (t) => {
  const cases: [string, RegExp][] = [
    ['deny out ip from any to assigned', /only "permit"/],
    ['permit sideways ip from any to any', /direction/],
    ['permit out 300 from any to any', /protocol/],
    ['permit out ip from !10.0.0.0/8 to any', /negated/],
    ['permit out ip from 10.0.0.0/33 to any', /prefix length/],
    ['permit out ip from 10.0.0 to any', /not IPv4 or IPv6/],
    ['permit out 6 from any 70000 to any', /port range/],
    ['permit out 6 from any 9-1 to any', /low to high/],
    ['permit out ip from any 80 to any', /protocol without ports/],
    ['permit out ip from any to any frag', /options/],
    ['permit out ip from any', /ends where/],
    ['permit out ip any to any', /"from" expected/],
  ];
  for (const [rule, why] of cases) {
    const e = t.throws(() => parseIpFilterRule(rule), { instanceOf: IpFilterRuleError }, rule);
    t.regex(e?.message ?? '', why, rule);
  }
});

test('TEIDs: unique, wrap around, refuse another session’s, exhaustion is an error', (t) => {
  const a = new TeidAllocator(10, 12);
  t.is(a.allocate(1n), 10);
  t.is(a.allocate(1n), 11);
  a.claim(2n, 12);
  t.throws(() => a.allocate(3n), { message: /all 3 TEIDs/ });
  t.throws(() => a.claim(3n, 11), { message: /belongs to session 1/ });
  a.release(11, 2n); // not its owner: kept
  t.is(a.owner(11), 1n);
  a.release(11, 1n);
  t.is(a.allocate(3n), 11);
});

test('UE addresses: IPv4 skips network and broadcast, IPv6 hands out prefixes, per network instance', (t) => {
  const u = new UeAddressAllocator([
    { prefix: '10.0.0.0/30' },
    { prefix: '10.9.0.0/24', networkInstance: 'ims' },
    { prefix: '2001:db8:1::/62', prefixLength: 64 },
  ]);
  t.is(u.allocate(4, undefined, 1n), '10.0.0.1');
  t.is(u.allocate(4, undefined, 2n), '10.0.0.2');
  t.throws(() => u.allocate(4, 'internet', 3n), { message: /used up/ });
  t.is(u.allocate(4, 'ims', 3n), '10.9.0.1');
  t.is(u.allocate(6, undefined, 1n), '2001:db8:1::/64');
  t.is(u.allocate(6, undefined, 2n), '2001:db8:1:1::/64');
  u.claim(9n, '2001:db8:1:2::/64');
  t.is(u.allocate(6, undefined, 3n), '2001:db8:1:3::/64');
  t.throws(() => u.claim(4n, '10.0.0.1'), { message: /belongs to session 1/ });
  u.release('10.0.0.1', 1n);
  t.is(u.allocate(4, undefined, 4n), '10.0.0.1');
  t.throws(() => new UeAddressAllocator([{ prefix: '10.0.0.1/24' }]), { message: /host bits/ });
  t.false(new UeAddressAllocator([{ prefix: '10.0.0.0/24' }]).serves(6, undefined));
});

test('store: records read back as written', (t) => {
  const region = memoryStateRegion();
  const s = new NodeStore(region);
  t.false(s.kept);
  s.setRecoveryTimeStamp(3_900_000_123);
  s.putAssociation({ nodeId: { kind: 'fqdn', value: 'smf.example.org' }, address: '::1', port: 8805, peerRecoveryTimeStamp: 7, cpFeatures: ['LOAD'], setupAtMs: 1.5 });
  s.putSession({ seid: 0xffffffffffffffffn, cpSeid: 5n, cpIpv6: '2001:db8::5', association: 'fqdn:smf.example.org', ddnDelayMs: 100 });
  const urr = { seid: 1n, urrId: 0xffffffff, nextSequence: 9, measurementStartMs: 1700000000123, reported: { ulBytes: 2n ** 63n, dlBytes: 1n, ulPackets: 2n, dlPackets: 3n }, quotaFarId: 4, started: true };
  s.putUrr(urr);
  t.is(s.recoveryTimeStamp(), 3_900_000_123);
  t.deepEqual([...s.associations()], [{ nodeId: { kind: 'fqdn', value: 'smf.example.org' }, address: '::1', port: 8805, peerRecoveryTimeStamp: 7, cpFeatures: ['LOAD'], setupAtMs: 1.5 }]);
  t.deepEqual([...s.sessions(['fqdn:smf.example.org'])], [{ seid: 0xffffffffffffffffn, cpSeid: 5n, cpIpv6: '2001:db8::5', association: 'fqdn:smf.example.org', ddnDelayMs: 100 }]);
  t.deepEqual([...s.urrs()], [urr]);
  s.deleteUrr(1n, 0xffffffff);
  t.is([...s.urrs()].length, 0);
});

test('logs: one JSON object per line, 64-bit values as decimal text, below the level dropped', (t) => {
  const lines: string[] = [];
  const log = jsonLogger({ write: (l: string) => lines.push(l) }, 'info');
  log.log('debug', 'not shown');
  log.log('warn', 'SMF lost', { smf: 'fqdn:smf', seid: 0xffffffffffffffffn, sessions: 3, gone: undefined });
  t.is(lines.length, 1);
  t.true(lines[0]?.endsWith('\n'));
  const entry = JSON.parse(lines[0] as string) as Record<string, unknown>;
  t.like(entry, { level: 'warn', msg: 'SMF lost', smf: 'fqdn:smf', seid: '18446744073709551615', sessions: 3 });
  t.false('gone' in entry);
  t.regex(String(entry['time']), /^\d{4}-\d\d-\d\dT/);
});
