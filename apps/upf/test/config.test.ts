// The UPF config: schema and checks with JSON-path errors, the derived Fastlane config, and the
// `fastlane upf validate|run` commands on good and bad files.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { deriveFastlaneConfig, validateUpfConfig, type UpfConfig } from '../src/config';

const ROOT = path.join(__dirname, '..', '..', '..');
const EXAMPLES = path.join(ROOT, 'apps', 'upf', 'config');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const BACKENDS = ['af_xdp', 'af_packet', 'dpdk'] as const;

function example(backend: string): UpfConfig {
  return JSON.parse(fs.readFileSync(path.join(EXAMPLES, `upf-${backend}.json`), 'utf8')) as UpfConfig;
}

test('the example configs are valid and differ only in their backend line', (t) => {
  const texts = BACKENDS.map((b) => fs.readFileSync(path.join(EXAMPLES, `upf-${b}.json`), 'utf8'));
  for (const [i, backend] of BACKENDS.entries()) {
    t.deepEqual(validateUpfConfig(example(backend)), [], backend);
    t.is(texts[i]!.replace(`"backend": "${backend}"`, '"backend": "X"'), texts[0]!.replace('"backend": "af_xdp"', '"backend": "X"'));
  }
});

test('errors name their JSON path: schema, UPF checks, and the framework checks mapped back', (t) => {
  const shape = example('af_xdp') as unknown as { upf: Record<string, unknown> & { n3: Record<string, unknown> } };
  shape.upf.colour = 'blue';
  shape.upf.n3.gtpu_port = 0;
  delete shape.upf.node_id;
  t.deepEqual(validateUpfConfig(shape), [
    { path: '/upf', message: 'missing required key "node_id"' },
    { path: '/upf/colour', message: 'unknown key "colour" (known: node_id, n3, n6, ue_pools, capacity, pfcp, region)' },
    { path: '/upf/n3/gtpu_port', message: '0 is below the minimum 1' },
  ]);

  const own = example('af_xdp');
  own.upf.n3.addresses = ['10.0.0.2/24', '10.0.0.3/24', '300.1.1.1/24'];
  own.upf.n6.interface = own.upf.n3.interface;
  own.upf.ue_pools = ['10.0.0.0/16'];
  own.upf.pfcp = { address: 'upf.local' };
  t.deepEqual(validateUpfConfig(own), [
    { path: '/upf/n3/addresses/1', message: 'a second IPv4 address: give at most one per family' },
    { path: '/upf/n3/addresses/2', message: '"300.1.1.1/24" is not an address with prefix length' },
    { path: '/upf/n6/interface', message: 'N3 and N6 are both "n3": they must be two interfaces' },
    { path: '/upf/pfcp/address', message: '"upf.local" is not an IP address' },
    { path: '/upf/ue_pools/0', message: 'contains the UPF\'s own address 10.0.0.2' },
  ]);

  const core = example('af_xdp');
  core.upf.n6.queues = [{ id: 0, core: 4096 }];
  t.like(validateUpfConfig(core), [{ path: '/upf/n6/queues/0/core' }]);
  t.regex(validateUpfConfig(core)[0]?.message ?? '', /core 4096/);
  const pool = example('af_xdp');
  pool.upf.ue_pools = ['10.45.0.0/16', '10.46.0.1/16'];
  t.deepEqual(validateUpfConfig(pool), [
    { path: '/upf/ue_pools/1', message: '"10.46.0.1/16" has host bits set (the prefix is 10.46.0.0/16)' },
  ]);
});

test('the derived Fastlane config: GTP-U fast on N3, the UE pools fast on N6, kernel sides, one plugin stage', (t) => {
  const plugin = { path: '/x/libupf_fastpath.so', config: { region: 'r' } };
  const xdp = deriveFastlaneConfig(example('af_xdp'), plugin);
  t.like(xdp, { backend: 'af_xdp', netns: 'upf', pipeline: [{ type: 'plugin', path: plugin.path, config: plugin.config }] });
  t.deepEqual(xdp.ports[0], { interface: 'n3', queues: [{ id: 0, core: 0 }], filter: { udp_ports: [2152] }, punt: 'tap' });
  t.deepEqual(xdp.ports[1], {
    interface: 'n6',
    queues: [{ id: 0, core: 0 }],
    filter: { dst_prefixes: ['10.45.0.0/16', '2001:db8:45::/48'] },
    punt: 'tap',
  });
  const dpdk = deriveFastlaneConfig(example('dpdk'), plugin);
  t.deepEqual(dpdk.ports[0]?.tap, { addresses: ['192.0.2.2/24', '2001:db8:3::2/64'] });
  t.is(dpdk.ports[0]?.punt, undefined);
  t.deepEqual(dpdk.dpdk, example('dpdk').dpdk);
});

test('fastlane upf validate and run: exit 1 with JSON paths for a bad file, nothing started', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'upf-config-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const bad = path.join(dir, 'bad.json');
  const config = example('af_xdp') as unknown as { upf: { ue_pools: unknown } };
  config.upf.ue_pools = [];
  fs.writeFileSync(bad, JSON.stringify(config));

  const ok = spawnSync('node', [CLI, 'upf', 'validate', path.join(EXAMPLES, 'upf-af_xdp.json')], { encoding: 'utf8' });
  t.is(ok.status, 0, ok.stderr);
  const validate = spawnSync('node', [CLI, 'upf', 'validate', bad], { encoding: 'utf8' });
  t.is(validate.status, 1);
  t.regex(validate.stderr, /\/upf\/ue_pools: needs at least 1 item/);

  const run = spawnSync('node', [CLI, 'upf', 'run', bad], { encoding: 'utf8', env: { ...process.env, FASTLANE_UPF_PLUGIN: CLI } });
  t.is(run.status, 1);
  t.regex(run.stderr, /cannot start: invalid config .*bad\.json:\n {2}\/upf\/ue_pools: needs at least 1 item/);
  // The config names no region: the default one would have been fastlane-upf-<pid>.
  t.false(fs.readdirSync('/dev/shm').some((f) => f.startsWith(`fastlane-upf-${run.pid}`)), 'no region made');
});
