// Prometheus metrics for a data plane. Nothing is polled and nothing touches the packet path: the
// native counters live per thread and are summed when read, so every scrape reads `stats()` once
// and the collectors below only copy that snapshot into prom-client's metrics.

import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

import type { FastlaneConfig } from './config';
import type { DataplaneStats, QueueStats } from './native';

/** What the metrics read: a `Dataplane`, or anything shaped like one. */
export interface MetricsSource {
  readonly config: Pick<FastlaneConfig, 'backend'>;
  /** True while the data plane runs. */
  readonly running: boolean;
  /** Counters since start (after stop: the final ones); may throw while never started. */
  stats(): DataplaneStats;
}

export interface MetricsOptions {
  /** Also register Node's default process metrics (prom-client's collectDefaultMetrics); default true. */
  defaultMetrics?: boolean;
  /** Add to this registry instead of a new one. */
  registry?: Registry;
}

const QUEUE_LABELS = ['port', 'queue', 'core'] as const;

type QueueLabel = (typeof QUEUE_LABELS)[number];

/**
 * A registry whose fastlane_* metrics read `source.stats()` when scraped. After the data plane
 * stops, its final counters are still served, so the counters never go backwards.
 */
export function createMetricsRegistry(source: MetricsSource, options: MetricsOptions = {}): Registry {
  const registry = options.registry ?? new Registry();
  const snapshot = snapshotPerScrape(source);
  const registers = [registry];

  const perQueue = (name: string, help: string, value: (q: QueueStats) => number): void => {
    new Counter({
      name,
      help,
      labelNames: QUEUE_LABELS,
      registers,
      collect() {
        this.reset();
        for (const q of snapshot()?.queues ?? []) {
          this.inc(queueLabels(q), value(q));
        }
      },
    });
  };
  perQueue('fastlane_rx_packets_total', 'Packets received by the fast path, per queue.', (q) => q.rxPackets);
  perQueue('fastlane_rx_bytes_total', 'Bytes received by the fast path, per queue.', (q) => q.rxBytes);
  perQueue('fastlane_tx_packets_total', 'Packets sent by the fast path, per queue.', (q) => q.txPackets);
  perQueue('fastlane_tx_bytes_total', 'Bytes sent by the fast path, per queue.', (q) => q.txBytes);
  perQueue('fastlane_rx_batches_total', 'Non-empty receive batches, per queue.', (q) => q.rxBatches);

  // Per queue, one series per key of a named-counter map.
  const perQueueMap = (
    name: string,
    help: string,
    label: string,
    entries: (q: QueueStats) => Iterable<[string, number]>,
  ): void => {
    new Counter({
      name,
      help,
      labelNames: [...QUEUE_LABELS, label],
      registers,
      collect() {
        this.reset();
        for (const q of snapshot()?.queues ?? []) {
          for (const [key, n] of entries(q)) {
            this.inc({ ...queueLabels(q), [label]: key }, n);
          }
        }
      },
    });
  };
  perQueueMap(
    'fastlane_dropped_packets_total',
    'Packets the fast path dropped, per queue and reason.',
    'reason',
    (q) => byName(q.dropped),
  );
  perQueueMap(
    'fastlane_slow_path_packets_total',
    "Packets between the fast path and the kernel's slow path: to_kernel handed to the kernel, from_kernel sent out for it.",
    'direction',
    (q) => [
      ['to_kernel', q.kernelPackets],
      ['from_kernel', q.fromKernelPackets],
    ],
  );
  perQueueMap(
    'fastlane_socket_events_total',
    "The kernel's counters of a queue's socket (AF_XDP XDP_STATISTICS: rx ring full, fill ring empty, drops, invalid descriptors), per event.",
    'event',
    (q) => byName(q.socket),
  );

  new Counter({
    name: 'fastlane_xdp_actions_total',
    help: 'Verdicts of the XDP program splitting fast and slow path, per port: redirect to a socket, no_socket (fast-path packet without a socket on its queue), pass to the kernel by reason.',
    labelNames: ['port', 'action', 'reason'],
    registers,
    collect() {
      this.reset();
      for (const p of snapshot()?.ports ?? []) {
        if (p.xdp === undefined || p.xdp === null) {
          continue;
        }
        this.inc({ port: p.interface, action: 'redirect' }, p.xdp.redirected);
        this.inc({ port: p.interface, action: 'no_socket' }, p.xdp.noSocket);
        for (const [reason, n] of byName(p.xdp.passed)) {
          this.inc({ port: p.interface, action: 'pass', reason }, n);
        }
      }
    },
  });

  new Counter({
    name: 'fastlane_device_packets_total',
    help: "The device's own packet counters (DPDK ethdev stats: rx_packets, tx_packets, rx_missed, rx_errors, tx_errors, rx_no_mbuf), per port.",
    labelNames: ['port', 'counter'],
    registers,
    collect() {
      this.reset();
      for (const p of snapshot()?.ports ?? []) {
        for (const [counter, n] of byName(p.device)) {
          this.inc({ port: p.interface, counter }, n);
        }
      }
    },
  });

  const perStage = (name: string, help: string, value: (s: { packets: number; bytes: number }) => number): void => {
    new Counter({
      name,
      help,
      labelNames: ['stage'],
      registers,
      collect() {
        this.reset();
        for (const s of snapshot()?.pipeline ?? []) {
          this.inc({ stage: String(s.stage) }, value(s));
        }
      },
    });
  };
  perStage(
    'fastlane_pipeline_packets_total',
    'Packets seen by a count stage of the pipeline, summed over queues; stage is its index in the pipeline.',
    (s) => s.packets,
  );
  perStage(
    'fastlane_pipeline_bytes_total',
    'Bytes seen by a count stage of the pipeline, summed over queues; stage is its index in the pipeline.',
    (s) => s.bytes,
  );

  new Counter({
    name: 'fastlane_plugin_events_total',
    help: 'Counters a Rust plugin stage declares, summed over threads; stage is its index in the pipeline.',
    labelNames: ['stage', 'plugin', 'counter'],
    registers,
    collect() {
      this.reset();
      for (const p of snapshot()?.plugins ?? []) {
        for (const [counter, n] of byName(p.counters)) {
          this.inc({ stage: String(p.stage), plugin: p.plugin, counter }, n);
        }
      }
    },
  });

  new Counter({
    name: 'fastlane_plugin_drops_total',
    help: 'Packets a Rust plugin stage dropped for one of its own drop reasons, summed over threads; they are also in fastlane_dropped_packets_total{reason="plugin"}.',
    labelNames: ['stage', 'plugin', 'reason'],
    registers,
    collect() {
      this.reset();
      for (const p of snapshot()?.plugins ?? []) {
        for (const [reason, n] of byName(p.drops)) {
          this.inc({ stage: String(p.stage), plugin: p.plugin, reason }, n);
        }
      }
    },
  });

  new Gauge({
    name: 'fastlane_batch_size_packets',
    help: 'Mean packets per receive batch since start, per queue (rx packets / rx batches; 0 before the first batch).',
    labelNames: QUEUE_LABELS,
    registers,
    collect() {
      this.reset();
      for (const q of snapshot()?.queues ?? []) {
        this.set(queueLabels(q), q.rxBatches > 0 ? q.rxPackets / q.rxBatches : 0);
      }
    },
  });

  new Gauge({
    name: 'fastlane_up',
    help: 'Whether the data plane is running (1) or not (0).',
    registers,
    collect() {
      this.set(source.running ? 1 : 0);
    },
  });

  new Gauge({
    name: 'fastlane_build_info',
    help: 'Always 1; labels name the Fastlane version, the I/O backend and the Node.js version.',
    labelNames: ['version', 'backend', 'node_version'],
    registers,
  }).set({ version: packageVersion(), backend: source.config.backend, node_version: process.version }, 1);

  if (options.defaultMetrics ?? true) {
    collectDefaultMetrics({ register: registry });
  }
  return registry;
}

// The native maps come in no particular order; sorted, the exposition is the same from scrape to scrape.
function byName(counts: Record<string, number>): Array<[string, number]> {
  return Object.entries(counts).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function queueLabels(q: QueueStats): Record<QueueLabel, string> {
  return { port: q.interface, queue: String(q.queue), core: String(q.core) };
}

/**
 * `source.stats()` read once per scrape: prom-client calls every collector of a scrape in one
 * synchronous loop, so the first one reads and the snapshot is dropped as soon as that loop ends.
 * Null while the data plane has never been started.
 */
function snapshotPerScrape(source: MetricsSource): () => DataplaneStats | null {
  let current: DataplaneStats | null | undefined;
  return () => {
    if (current === undefined) {
      current = readStats(source);
      queueMicrotask(() => {
        current = undefined;
      });
    }
    return current;
  };
}

function readStats(source: MetricsSource): DataplaneStats | null {
  try {
    return source.stats();
  } catch (e) {
    // Not started yet: no counters to serve. A running data plane that cannot report is an error.
    if (source.running) {
      throw e;
    }
    return null;
  }
}

function packageVersion(): string {
  // package.json sits one level above both src-ts/ and dist/.
  return (require(path.join(__dirname, '..', 'package.json')) as { version: string }).version;
}

/** A listening metrics endpoint. */
export interface MetricsServer {
  /** The address bound (the port is the real one when 0 was asked for). */
  readonly host: string;
  readonly port: number;
  /** The scrape URL, e.g. http://127.0.0.1:9464/metrics. */
  readonly url: string;
  /** Stops listening and ends open connections; later calls return the same promise. */
  close(): Promise<void>;
}

/**
 * Parses `host:port`, `[v6]:port`, `:port` or `port` (host defaults to 127.0.0.1); port 0 asks for
 * an ephemeral one.
 */
export function parseListenAddress(addr: string): { host: string; port: number } {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]:|([^:[\]]*):)?(\d{1,5})$/.exec(addr.trim());
  const port = Number(match?.[3]);
  if (match === null || port > 65535) {
    throw new Error(`metrics address ${JSON.stringify(addr)}: use host:port, [ipv6]:port or port (0 to 65535)`);
  }
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port };
}

/** Serves `GET /metrics` from `registry` on `addr` (see parseListenAddress); 404 elsewhere. */
export async function serveMetrics(registry: Registry, addr: string): Promise<MetricsServer> {
  const { host, port } = parseListenAddress(addr);
  const server = http.createServer((req, res) => {
    void answer(registry, req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const urlHost = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  let closed: Promise<void> | undefined;
  return {
    host: bound.address,
    port: bound.port,
    url: `http://${urlHost}:${bound.port}/metrics`,
    close: () =>
      (closed ??= new Promise<void>((resolve, reject) => {
        server.close((e) => (e === undefined ? resolve() : reject(e)));
        server.closeAllConnections();
      })),
  };
}

async function answer(registry: Registry, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const pathname = (req.url ?? '').split('?', 1)[0];
  if (pathname !== '/metrics') {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found: try /metrics\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('use GET\n');
    return;
  }
  try {
    const body = await registry.metrics();
    res.writeHead(200, { 'Content-Type': registry.contentType }).end(req.method === 'HEAD' ? undefined : body);
  } catch (e) {
    res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`cannot collect metrics: ${(e as Error).message}\n`);
  }
}
