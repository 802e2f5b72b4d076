// A fluent, typed way to write a config in code. `build()` validates what it returns, so a config
// that comes out of the builder is one `Dataplane` accepts.

import type {
  AfPacketConfig,
  AfXdpConfig,
  Backend,
  DpdkConfig,
  FastlaneConfig,
  FilterConfig,
  PortMatch,
  QueueConfig,
  SimpleProcessor,
  ThreadsConfig,
} from './config';
import { assertValidConfig } from './validate';

export class ConfigBuilder {
  readonly #config: FastlaneConfig;

  constructor(backend: Backend = 'af_xdp') {
    this.#config = { backend, ports: [], pipeline: [] };
  }

  /** A label for logs and metrics. */
  name(name: string): this {
    this.#config.name = name;
    return this;
  }

  /** Opens the ports in this network namespace (a name under /run/netns or an absolute path). */
  netns(netns: string): this {
    this.#config.netns = netns;
    return this;
  }

  /** Adds a port; its index (for `l2fwd`) is the number of ports added before it. */
  port(iface: string, queue: QueueConfig, ...moreQueues: QueueConfig[]): this {
    this.#config.ports.push({
      interface: iface,
      queues: [queue, ...moreQueues].map((q) => ({ id: q.id, core: q.core })),
    });
    return this;
  }

  /** Sends these UDP destination ports (or inclusive ranges) to the fast path. */
  udpPorts(...ports: PortMatch[]): this {
    return this.#addToFilter('udp_ports', ports.map(copyMatch));
  }

  /** Sends these TCP destination ports (or inclusive ranges) to the fast path. */
  tcpPorts(...ports: PortMatch[]): this {
    return this.#addToFilter('tcp_ports', ports.map(copyMatch));
  }

  /** Sends these IPv4 protocol / IPv6 next-header numbers to the fast path. */
  ipProtocols(...protocols: number[]): this {
    return this.#addToFilter('ip_protocols', protocols);
  }

  /** Sends these outer EtherTypes to the fast path. */
  etherTypes(...etherTypes: number[]): this {
    return this.#addToFilter('ether_types', etherTypes);
  }

  /** Sets AF_XDP options; later calls override earlier ones key by key. */
  afXdp(options: AfXdpConfig): this {
    this.#config.af_xdp = { ...this.#config.af_xdp, ...options };
    return this;
  }

  /** Chooses the packet I/O mechanism; each keeps its own options section. */
  backend(backend: Backend): this {
    this.#config.backend = backend;
    return this;
  }

  /** Sets DPDK options; later calls override earlier ones key by key. */
  dpdk(options: DpdkConfig): this {
    this.#config.dpdk = { ...this.#config.dpdk, ...options };
    return this;
  }

  /** Sets AF_PACKET options; later calls override earlier ones key by key. */
  afPacket(options: AfPacketConfig): this {
    this.#config.af_packet = { ...this.#config.af_packet, ...options };
    return this;
  }

  /** Appends a Rust plugin stage. */
  plugin(path: string, config?: unknown): this {
    this.#config.pipeline.push(config === undefined ? { type: 'plugin', path } : { type: 'plugin', path, config });
    return this;
  }

  /** Sets threading options; later calls override earlier ones key by key. */
  threads(options: ThreadsConfig): this {
    this.#config.threads = { ...this.#config.threads, ...options };
    return this;
  }

  /** Appends a processor to the pipeline. */
  process(processor: SimpleProcessor): this {
    this.#config.pipeline.push(processor);
    return this;
  }

  /** Appends an l2fwd stage forwarding each pair of port indexes into each other. */
  l2fwd(pair: [number, number], ...morePairs: Array<[number, number]>): this {
    const pairs = [pair, ...morePairs].map(([a, b]): [number, number] => [a, b]);
    this.#config.pipeline.push({ type: 'l2fwd', pairs });
    return this;
  }

  /** The config, validated (schema and native checks); throws ConfigError listing every error. */
  build(): FastlaneConfig {
    const config = structuredClone(this.#config);
    assertValidConfig(config);
    return config;
  }

  #addToFilter<K extends keyof FilterConfig>(key: K, values: NonNullable<FilterConfig[K]>): this {
    const filter: FilterConfig = (this.#config.filter ??= {});
    filter[key] = [...(filter[key] ?? []), ...values] as FilterConfig[K];
    return this;
  }
}

function copyMatch(m: PortMatch): PortMatch {
  return typeof m === 'number' ? m : { from: m.from, to: m.to };
}
