// Prometheus metrics: the exposition from a fake stats source (every metric's name, labels and
// value), the HTTP endpoint, and, as root on a veth test bed, exact counters from a running
// macswap data plane, through the API and through `fastlane run --metrics`.

import test from 'ava';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ConfigBuilder } from '../src-ts/builder';
import type { FastlaneConfig } from '../src-ts/config';
import { Dataplane } from '../src-ts/dataplane';
import { createMetricsRegistry, parseListenAddress, serveMetrics, type MetricsSource } from '../src-ts/metrics';
import type { DataplaneStats } from '../src-ts/native';
import { Testbed, type TestbedEnd } from '../src-ts/testbed';
import { exchangeFrames, udpFrame } from '../src-ts/traffic';
import { CLI, ROOT, macswapConfig, uniquePrefix } from './helpers';

const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

function fakeStats(): DataplaneStats {
  return {
    queues: [
      {
        port: 0,
        interface: 'fl-a0',
        queue: 0,
        core: 0,
        zeroCopy: false,
        rxPackets: 1000,
        rxBytes: 64000,
        txPackets: 990,
        txBytes: 63360,
        kernelPackets: 7,
        fromKernelPackets: 5,
        rxBatches: 40,
        dropped: { tx_ring_full: 3, processor: 0 },
        socket: { rx_dropped: 1, rx_ring_full: 2, rx_fill_ring_empty_descs: 4 },
      },
      {
        port: 1,
        interface: 'fl-b0',
        queue: 3,
        core: 1,
        zeroCopy: true,
        rxPackets: 0,
        rxBytes: 0,
        txPackets: 0,
        txBytes: 0,
        kernelPackets: 0,
        fromKernelPackets: 0,
        rxBatches: 0,
        dropped: {},
        socket: {},
      },
    ],
    ports: [
      { port: 0, interface: 'fl-a0', xdp: { attachMode: 'native', redirected: 1000, noSocket: 2, passed: { no_match: 6, vlan: 1 } }, device: {} },
      { port: 1, interface: 'fl-b0', device: { rx_packets: 11, rx_missed: 12 } },
    ],
    pipeline: [
      { stage: 0, packets: 1000, bytes: 64000 },
      { stage: 2, packets: 995, bytes: 63680 },
    ],
    plugins: [{ stage: 2, plugin: 'acl', counters: { allowed: 5, denied: 2 }, drops: { denied_port: 2, denied_source: 0 } }],
  };
}

class FakeSource implements MetricsSource {
  readonly config: Pick<FastlaneConfig, 'backend'> = { backend: 'af_xdp' };
  running = true;
  reads = 0;
  current: DataplaneStats | Error = fakeStats();

  stats(): DataplaneStats {
    this.reads++;
    if (this.current instanceof Error) {
      throw this.current;
    }
    return this.current;
  }
}

interface Exposition {
  /** `name{a="x",b="y"}` (labels sorted) → value. */
  samples: Map<string, number>;
  help: Map<string, string>;
  type: Map<string, string>;
}

// Values as Prometheus parses them (Go's ParseFloat: NaN and Inf in any case; prom-client writes "Nan").
const SAMPLE =
  /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*)\})? (-?\d+(?:\.\d+)?(?:e[+-]?\d+)?|nan|[+-]?inf)$/i;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"/g;

/** Parses the text exposition format, failing on any line that is not HELP, TYPE or a sample. */
function parseExposition(text: string): Exposition {
  const out: Exposition = { samples: new Map(), help: new Map(), type: new Map() };
  for (const line of text.split('\n')) {
    if (line === '') {
      continue;
    }
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta !== null) {
      (meta[1] === 'HELP' ? out.help : out.type).set(meta[2] ?? '', meta[3] ?? '');
      continue;
    }
    const sample = SAMPLE.exec(line);
    if (sample === null) {
      throw new Error(`not a line of the exposition format: ${JSON.stringify(line)}`);
    }
    const labels = [...(sample[2] ?? '').matchAll(LABEL)].map((m) => `${m[1]}="${m[2]}"`).sort();
    const key = labels.length === 0 ? `${sample[1]}` : `${sample[1]}{${labels.join(',')}}`;
    if (out.samples.has(key)) {
      throw new Error(`duplicate series ${key}`);
    }
    out.samples.set(key, Number(sample[3]));
  }
  return out;
}

/** The samples of the fastlane_* metrics only. */
function fastlaneSamples(e: Exposition): Record<string, number> {
  return Object.fromEntries([...e.samples].filter(([k]) => k.startsWith('fastlane_')).sort(([a], [b]) => a.localeCompare(b)));
}

const q0 = 'core="0",port="fl-a0",queue="0"';
const q1 = 'core="1",port="fl-b0",queue="3"';

test('every fastlane metric, with its labels and value, from one stats() read per scrape', async (t) => {
  const source = new FakeSource();
  const registry = createMetricsRegistry(source, { defaultMetrics: false });
  const text = await registry.metrics();
  const exposition = parseExposition(text);
  t.is(source.reads, 1);
  // Map-valued counters come out sorted by key, whatever order the native side used.
  t.deepEqual(
    [...text.matchAll(/^fastlane_dropped_packets_total\{.*reason="(\w+)"/gm)].map((m) => m[1]),
    ['processor', 'tx_ring_full'],
  );
  const info = `fastlane_build_info{backend="af_xdp",node_version="${process.version}",version="${VERSION}"}`;
  const expected: Record<string, number> = {
    [`fastlane_rx_packets_total{${q0}}`]: 1000,
    [`fastlane_rx_packets_total{${q1}}`]: 0,
    [`fastlane_rx_bytes_total{${q0}}`]: 64000,
    [`fastlane_rx_bytes_total{${q1}}`]: 0,
    [`fastlane_tx_packets_total{${q0}}`]: 990,
    [`fastlane_tx_packets_total{${q1}}`]: 0,
    [`fastlane_tx_bytes_total{${q0}}`]: 63360,
    [`fastlane_tx_bytes_total{${q1}}`]: 0,
    [`fastlane_rx_batches_total{${q0}}`]: 40,
    [`fastlane_rx_batches_total{${q1}}`]: 0,
    [`fastlane_dropped_packets_total{${q0},reason="tx_ring_full"}`]: 3,
    [`fastlane_dropped_packets_total{${q0},reason="processor"}`]: 0,
    [`fastlane_slow_path_packets_total{core="0",direction="from_kernel",port="fl-a0",queue="0"}`]: 5,
    [`fastlane_slow_path_packets_total{core="0",direction="to_kernel",port="fl-a0",queue="0"}`]: 7,
    [`fastlane_slow_path_packets_total{core="1",direction="from_kernel",port="fl-b0",queue="3"}`]: 0,
    [`fastlane_slow_path_packets_total{core="1",direction="to_kernel",port="fl-b0",queue="3"}`]: 0,
    [`fastlane_socket_events_total{${q0.replace(',port', ',event="rx_dropped",port')}}`]: 1,
    [`fastlane_socket_events_total{${q0.replace(',port', ',event="rx_ring_full",port')}}`]: 2,
    [`fastlane_socket_events_total{${q0.replace(',port', ',event="rx_fill_ring_empty_descs",port')}}`]: 4,
    'fastlane_xdp_actions_total{action="redirect",port="fl-a0"}': 1000,
    'fastlane_xdp_actions_total{action="no_socket",port="fl-a0"}': 2,
    'fastlane_xdp_actions_total{action="pass",port="fl-a0",reason="no_match"}': 6,
    'fastlane_xdp_actions_total{action="pass",port="fl-a0",reason="vlan"}': 1,
    'fastlane_device_packets_total{counter="rx_missed",port="fl-b0"}': 12,
    'fastlane_device_packets_total{counter="rx_packets",port="fl-b0"}': 11,
    'fastlane_pipeline_packets_total{stage="0"}': 1000,
    'fastlane_pipeline_packets_total{stage="2"}': 995,
    'fastlane_pipeline_bytes_total{stage="0"}': 64000,
    'fastlane_pipeline_bytes_total{stage="2"}': 63680,
    'fastlane_plugin_events_total{counter="allowed",plugin="acl",stage="2"}': 5,
    'fastlane_plugin_events_total{counter="denied",plugin="acl",stage="2"}': 2,
    'fastlane_plugin_drops_total{plugin="acl",reason="denied_port",stage="2"}': 2,
    'fastlane_plugin_drops_total{plugin="acl",reason="denied_source",stage="2"}': 0,
    [`fastlane_batch_size_packets{${q0}}`]: 25,
    [`fastlane_batch_size_packets{${q1}}`]: 0,
    fastlane_up: 1,
    [info]: 1,
  };
  t.deepEqual(fastlaneSamples(exposition), fastlaneSamples({ ...exposition, samples: new Map(Object.entries(expected)) }));
});

test('each metric has HELP text and the right TYPE; counters end in _total', async (t) => {
  const registry = createMetricsRegistry(new FakeSource(), { defaultMetrics: false });
  const { help, type } = parseExposition(await registry.metrics());
  const gauges = ['fastlane_batch_size_packets', 'fastlane_up', 'fastlane_build_info'];
  const counters = [
    'fastlane_rx_packets_total',
    'fastlane_rx_bytes_total',
    'fastlane_tx_packets_total',
    'fastlane_tx_bytes_total',
    'fastlane_rx_batches_total',
    'fastlane_dropped_packets_total',
    'fastlane_slow_path_packets_total',
    'fastlane_xdp_actions_total',
    'fastlane_socket_events_total',
    'fastlane_device_packets_total',
    'fastlane_pipeline_packets_total',
    'fastlane_pipeline_bytes_total',
    'fastlane_plugin_events_total',
    'fastlane_plugin_drops_total',
  ];
  t.deepEqual([...type.keys()].sort(), [...counters, ...gauges].sort());
  for (const name of counters) {
    t.is(type.get(name), 'counter', name);
  }
  for (const name of gauges) {
    t.is(type.get(name), 'gauge', name);
  }
  for (const [name, text] of help) {
    t.true(text.length > 20, `${name}: ${text}`);
  }
});

test('counters follow the source and are still served, unchanged, once it has stopped', async (t) => {
  const source = new FakeSource();
  const registry = createMetricsRegistry(source, { defaultMetrics: false });
  const grown = fakeStats();
  grown.queues[0]!.rxPackets = 5000;
  grown.queues[0]!.rxBatches = 100;
  source.current = grown;
  let samples = fastlaneSamples(parseExposition(await registry.metrics()));
  t.is(samples[`fastlane_rx_packets_total{${q0}}`], 5000);
  t.is(samples[`fastlane_batch_size_packets{${q0}}`], 50);
  t.is(samples.fastlane_up, 1);

  source.running = false;
  samples = fastlaneSamples(parseExposition(await registry.metrics()));
  t.is(samples[`fastlane_rx_packets_total{${q0}}`], 5000);
  t.is(samples.fastlane_up, 0);
  t.is(source.reads, 2);
});

test('before the first start only fastlane_up (0) and fastlane_build_info are served', async (t) => {
  const source = new FakeSource();
  source.running = false;
  source.current = new Error('the data plane has not been started');
  const samples = fastlaneSamples(parseExposition(await createMetricsRegistry(source, { defaultMetrics: false }).metrics()));
  t.deepEqual(
    Object.keys(samples).map((k) => k.replace(/\{.*/, '')),
    ['fastlane_build_info', 'fastlane_up'],
  );
  t.is(samples.fastlane_up, 0);
});

test('a running source whose stats() throws fails the scrape instead of hiding the error', async (t) => {
  const source = new FakeSource();
  source.current = new Error('stats broke');
  await t.throwsAsync(createMetricsRegistry(source, { defaultMetrics: false }).metrics(), { message: 'stats broke' });
});

test("Node's default metrics are in the same registry unless turned off", async (t) => {
  const withDefaults = parseExposition(await createMetricsRegistry(new FakeSource()).metrics());
  t.is(withDefaults.type.get('process_cpu_user_seconds_total'), 'counter');
  t.is(withDefaults.type.get('nodejs_eventloop_lag_seconds'), 'gauge');
  t.is(withDefaults.type.get('fastlane_up'), 'gauge');
  const without = parseExposition(await createMetricsRegistry(new FakeSource(), { defaultMetrics: false }).metrics());
  t.false([...without.type.keys()].some((name) => !name.startsWith('fastlane_')));
});

test('parseListenAddress accepts host:port, [v6]:port, :port and port', (t) => {
  t.deepEqual(parseListenAddress('127.0.0.1:9464'), { host: '127.0.0.1', port: 9464 });
  t.deepEqual(parseListenAddress('[::1]:0'), { host: '::1', port: 0 });
  t.deepEqual(parseListenAddress('localhost:80'), { host: 'localhost', port: 80 });
  t.deepEqual(parseListenAddress(':9464'), { host: '127.0.0.1', port: 9464 });
  t.deepEqual(parseListenAddress('9464'), { host: '127.0.0.1', port: 9464 });
  for (const bad of ['', '127.0.0.1', '127.0.0.1:65536', '::1:9464', 'host:port', '[::1]', '1.2.3.4:-1']) {
    t.throws(() => parseListenAddress(bad), { message: /metrics address/ }, bad);
  }
});

for (const addr of ['127.0.0.1:0', '[::1]:0']) {
  test(`serveMetrics on ${addr}: GET /metrics, 404 elsewhere, 405 for other methods, close`, async (t) => {
    const registry = createMetricsRegistry(new FakeSource(), { defaultMetrics: false });
    const server = await serveMetrics(registry, addr);
    t.teardown(() => server.close());
    t.true(server.port > 0);
    t.is(server.url, addr.startsWith('[') ? `http://[::1]:${server.port}/metrics` : `http://127.0.0.1:${server.port}/metrics`);

    const res = await fetch(server.url);
    t.is(res.status, 200);
    t.is(res.headers.get('content-type'), registry.contentType);
    t.is(fastlaneSamples(parseExposition(await res.text()))[`fastlane_rx_packets_total{${q0}}`], 1000);

    const query = await fetch(`${server.url}?x=1`);
    t.is(query.status, 200);
    await query.arrayBuffer();
    const missing = await fetch(server.url.replace('/metrics', '/'));
    t.is(missing.status, 404);
    await missing.arrayBuffer();
    const post = await fetch(server.url, { method: 'POST' });
    t.is(post.status, 405);
    await post.arrayBuffer();

    await server.close();
    await t.throwsAsync(fetch(server.url));
  });
}

test('serveMetrics rejects an address in use', async (t) => {
  const registry = createMetricsRegistry(new FakeSource(), { defaultMetrics: false });
  const first = await serveMetrics(registry, '127.0.0.1:0');
  t.teardown(() => first.close());
  await t.throwsAsync(serveMetrics(registry, `127.0.0.1:${first.port}`), { code: 'EADDRINUSE' });
});

test('fastlane run --metrics with a bad address fails before starting anything', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fastlane-metrics-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify(macswapConfig()));
  const r = spawnSync(process.execPath, [CLI, 'run', file, '--metrics', '127.0.0.1:99999'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  t.is(r.status, 1, r.stdout + r.stderr);
  t.regex(r.stderr, /cannot start: metrics address "127\.0\.0\.1:99999"/);
  t.notRegex(r.stdout, /running/);
});

// --- As root, on a veth test bed ---

const FAST_PORT = 9000;

/** A test bed without the kernel's own IPv6 traffic, so that counters stay exact. */
function quietTestbed(t: { teardown(f: () => void): void }, tag: string, subnet: number): Testbed {
  const prefix = uniquePrefix(tag);
  t.teardown(() => Testbed.down(prefix));
  const bed = Testbed.up({ prefix, subnet });
  for (const ns of [bed.gen.netns, bed.fwd.netns]) {
    for (const knob of ['all', 'default']) {
      execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${knob}.disable_ipv6=1`]);
    }
  }
  return bed;
}

function macswapOn(fwd: TestbedEnd): FastlaneConfig {
  return new ConfigBuilder()
    .netns(fwd.netns)
    .port(fwd.interface, { id: 0, core: 1 })
    .udpPorts(FAST_PORT)
    .process('count')
    .process('macswap')
    .build();
}

async function sendUdp(gen: TestbedEnd, fwd: TestbedEnd, n: number): Promise<number> {
  const frame = udpFrame(
    { srcMac: gen.mac, dstMac: fwd.mac, srcIp: gen.address, dstIp: fwd.address, srcPort: FAST_PORT, dstPort: FAST_PORT },
    64,
  );
  const back = await exchangeFrames(gen.netns, gen.interface, Array(n).fill(frame), FAST_PORT, n, 3000);
  return back.length;
}

async function scrape(url: string): Promise<Record<string, number>> {
  const res = await fetch(url);
  if (res.status !== 200) {
    throw new Error(`GET ${url}: ${res.status}`);
  }
  return fastlaneSamples(parseExposition(await res.text()));
}

test.serial('a macswap data plane on a test bed: scraped counters equal the frames sent', async (t) => {
  const { gen, fwd } = quietTestbed(t, 'm', 206);
  const dataplane = new Dataplane(macswapOn(fwd));
  const server = await serveMetrics(createMetricsRegistry(dataplane), '127.0.0.1:0');
  t.teardown(() => server.close());
  t.teardown(() => dataplane.stop());

  const before = await scrape(server.url);
  t.is(before.fastlane_up, 0);
  t.is(before[`fastlane_rx_packets_total{core="1",port="${fwd.interface}",queue="0"}`], undefined);

  dataplane.start();
  const n = 50;
  t.is(await sendUdp(gen, fwd, n), n);
  const q = `core="1",port="${fwd.interface}",queue="0"`;
  const samples = await scrape(server.url);
  t.is(samples[`fastlane_rx_packets_total{${q}}`], n);
  t.is(samples[`fastlane_tx_packets_total{${q}}`], n);
  t.is(samples[`fastlane_rx_bytes_total{${q}}`], n * 64);
  t.is(samples[`fastlane_tx_bytes_total{${q}}`], n * 64);
  t.is(samples[`fastlane_xdp_actions_total{action="redirect",port="${fwd.interface}"}`], n);
  t.is(samples[`fastlane_xdp_actions_total{action="no_socket",port="${fwd.interface}"}`], 0);
  t.is(samples['fastlane_pipeline_packets_total{stage="0"}'], n);
  t.is(samples['fastlane_pipeline_bytes_total{stage="0"}'], n * 64);
  const batches = samples[`fastlane_rx_batches_total{${q}}`] ?? 0;
  t.true(batches >= 1 && batches <= n, String(batches));
  t.is(samples[`fastlane_batch_size_packets{${q}}`], n / batches);
  t.is(samples.fastlane_up, 1);
  t.is(samples[`fastlane_build_info{backend="af_xdp",node_version="${process.version}",version="${VERSION}"}`], 1);

  dataplane.stop();
  const after = await scrape(server.url);
  t.is(after.fastlane_up, 0);
  t.is(after[`fastlane_rx_packets_total{${q}}`], n, 'the final counters are still served after stop');
});

test.serial('fastlane run --metrics serves while running and exits 0 on SIGTERM', async (t) => {
  const { gen, fwd } = quietTestbed(t, 'n', 207);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fastlane-metrics-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify(macswapOn(fwd)));

  const child = spawn(process.execPath, [CLI, 'run', file, '--metrics', '127.0.0.1:0'], { cwd: ROOT });
  t.teardown(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no metrics URL in 20 s: ${stdout}${stderr}`)), 20_000);
    const look = (): void => {
      const m = /fastlane: metrics at (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(stdout);
      if (m?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout.on('data', look);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`fastlane run exited early: ${stdout}${stderr}`));
    });
  });

  const n = 20;
  t.is(await sendUdp(gen, fwd, n), n);
  const samples = await scrape(url);
  t.is(samples[`fastlane_rx_packets_total{core="1",port="${fwd.interface}",queue="0"}`], n);
  t.is(samples.fastlane_up, 1);

  child.kill('SIGTERM');
  t.is(await exited, 0, stdout + stderr);
  t.regex(stdout, /fastlane: stopped/);
  await t.throwsAsync(fetch(url), undefined, 'the server is closed');
});
