import test from 'ava';

import { ConfigBuilder } from '../src-ts/builder';
import { ConfigError, validateConfig } from '../src-ts/validate';

test('a macswap config from the builder validates and has the expected shape', (t) => {
  const config = new ConfigBuilder()
    .name('macswap')
    .netns('fl-fwd')
    .port('fl-f0', { id: 0, core: 0 })
    .udpPorts(9000, { from: 9100, to: 9199 })
    .udpPorts(2152)
    .ipProtocols(132)
    .etherTypes(0x88b5)
    .afXdp({ bind_mode: 'copy' })
    .afXdp({ attach_mode: 'native', rx_ring_size: 4096 })
    .threads({ batch_size: 32 })
    .process('count')
    .process('macswap')
    .build();
  t.deepEqual(validateConfig(config), []);
  t.deepEqual(config, {
    backend: 'af_xdp',
    name: 'macswap',
    netns: 'fl-fwd',
    ports: [{ interface: 'fl-f0', queues: [{ id: 0, core: 0 }] }],
    filter: { udp_ports: [9000, { from: 9100, to: 9199 }, 2152], ip_protocols: [132], ether_types: [0x88b5] },
    af_xdp: { bind_mode: 'copy', attach_mode: 'native', rx_ring_size: 4096 },
    threads: { batch_size: 32 },
    pipeline: ['count', 'macswap'],
  });
});

test('an l2fwd config from the builder validates', (t) => {
  const config = new ConfigBuilder('af_xdp')
    .port('fl-f0', { id: 0, core: 0 })
    .port('fl-f1', { id: 0, core: 0 }, { id: 1, core: 0 })
    .tcpPorts({ from: 1, to: 1023 })
    .l2fwd([0, 1])
    .build();
  t.deepEqual(validateConfig(config), []);
  t.deepEqual(config.pipeline, [{ type: 'l2fwd', pairs: [[0, 1]] }]);
  t.is(config.ports[1]?.queues.length, 2);
});

test('build() rejects what the checks reject, with every path', (t) => {
  const builder = new ConfigBuilder().port('fl-f0', { id: 0, core: 0 }).afXdp({ umem_frames: 1000 }).l2fwd([0, 2]);
  const error = t.throws(() => builder.build(), { instanceOf: ConfigError });
  t.deepEqual(error?.issues.map((i) => i.path).sort(), ['/af_xdp/umem_frames', '/pipeline/0/pairs/0/1']);
});

test('an empty builder fails the schema', (t) => {
  const error = t.throws(() => new ConfigBuilder().build(), { instanceOf: ConfigError });
  t.deepEqual(error?.issues.map((i) => i.path).sort(), ['/pipeline', '/ports']);
});

test('a built config does not change when the builder goes on', (t) => {
  const builder = new ConfigBuilder().port('fl-f0', { id: 0, core: 0 }).udpPorts(9000).process('drop');
  const first = builder.build();
  builder.udpPorts(9001).process('count');
  t.deepEqual(first.filter, { udp_ports: [9000] });
  t.deepEqual(first.pipeline, ['drop']);
});
