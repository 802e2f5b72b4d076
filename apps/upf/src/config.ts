// The UPF's config: a Fastlane config plus a `upf` section (config/upf.schema.json, whose types
// are generated into generated/config.ts). Validated like `fastlane validate` does a Fastlane
// config — the schema, then the UPF's own checks, then the framework's checks of the Fastlane
// config derived from it, every error named by its JSON path in the UPF file — and turned into
// the Fastlane config that runs it: the N3 port's fast path is GTP-U, the N6 port's everything
// to the UE pools, the rest (ARP, ICMP, PFCP, TCP to the UPF's own addresses) the kernel's.

import * as fs from 'node:fs';
import { isIP } from 'node:net';
import * as path from 'node:path';

import {
  ConfigError,
  schemaIssues,
  validateConfig,
  type ConfigIssue,
  type FastlaneConfig,
  type PortConfig,
} from 'fastlane-dataplane';

import type { FastlaneUPFConfig, UpfCapacity } from './generated/config';

export type { N3Interface, N6Interface, PfcpEndpoint, UpfCapacity, UpfSection } from './generated/config';
export type UpfConfig = FastlaneUPFConfig;

/** The UPF config's schema: `config/` at the package root (three levels above src/ and dist/). */
export const UPF_SCHEMA_PATH = path.join(__dirname, '..', '..', '..', 'config', 'upf.schema.json');

/** The capacities the schema defaults to, filled in. */
export type Capacity = Required<UpfCapacity>;
export const DEFAULT_CAPACITY: Capacity = {
  sessions: 10000,
  pdrs: 20000,
  fars: 20000,
  qers: 10000,
  urrs: 20000,
  next_hops: 1024,
};
export const DEFAULT_GTPU_PORT = 2152;
export const DEFAULT_PFCP_PORT = 8805;
/** The derived Fastlane config's port of each UPF interface. */
export const N3_PORT = 0;
export const N6_PORT = 1;

/** An address with its prefix length, parsed. */
export interface Cidr {
  address: string;
  prefix: number;
  family: 4 | 6;
}

/** Parses `a.b.c.d/n` or `x::y/n`; undefined when it is not one. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.lastIndexOf('/');
  if (slash < 0) {
    return undefined;
  }
  const address = text.slice(0, slash);
  const family = isIP(address);
  const digits = text.slice(slash + 1);
  const prefix = Number(digits);
  if ((family !== 4 && family !== 6) || !/^[0-9]{1,3}$/.test(digits) || prefix > (family === 4 ? 32 : 128)) {
    return undefined;
  }
  return { address, prefix, family };
}

/** The UPF's own checks on a config of the right shape (the schema's come first). */
function upfIssues(config: UpfConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const { upf } = config;
  const addresses = (list: string[], at: string): void => {
    const families = new Set<number>();
    list.forEach((text, i) => {
      const cidr = parseCidr(text);
      if (cidr === undefined) {
        issues.push({ path: `${at}/${i}`, message: `${JSON.stringify(text)} is not an address with prefix length` });
      } else if (families.has(cidr.family)) {
        issues.push({ path: `${at}/${i}`, message: `a second IPv${cidr.family} address: give at most one per family` });
      } else {
        families.add(cidr.family);
      }
    });
  };
  addresses(upf.n3.addresses, '/upf/n3/addresses');
  addresses(upf.n6.addresses ?? [], '/upf/n6/addresses');
  if (upf.n3.interface === upf.n6.interface) {
    issues.push({ path: '/upf/n6/interface', message: `N3 and N6 are both ${JSON.stringify(upf.n3.interface)}: they must be two interfaces` });
  }
  if (upf.pfcp !== undefined && isIP(upf.pfcp.address) === 0) {
    issues.push({ path: '/upf/pfcp/address', message: `${JSON.stringify(upf.pfcp.address)} is not an IP address` });
  }
  const own = [...upf.n3.addresses, ...(upf.n6.addresses ?? [])].map(parseCidr).filter((c) => c !== undefined);
  upf.ue_pools.forEach((text, i) => {
    const pool = parseCidr(text);
    const clash = pool === undefined ? undefined : own.find((a) => a.family === pool.family && contains(pool, a.address));
    if (clash !== undefined) {
      issues.push({ path: `/upf/ue_pools/${i}`, message: `contains the UPF's own address ${clash.address}` });
    }
  });
  return issues;
}

/** The bits of an address, as a bigint. */
function bits(address: string, family: 4 | 6): bigint {
  if (family === 4) {
    return address.split('.').reduce((v, octet) => (v << 8n) | BigInt(Number(octet)), 0n);
  }
  const [head = '', tail = ''] = address.includes('::') ? address.split('::') : [address, ''];
  const groups = (s: string): string[] => (s === '' ? [] : s.split(':'));
  let h = groups(head);
  let t = groups(tail);
  // An embedded IPv4 tail (::ffff:1.2.3.4) is two groups.
  const v4 = (list: string[]): string[] => {
    const last = list.at(-1);
    if (last?.includes('.') === true) {
      const n = bits(last, 4);
      return [...list.slice(0, -1), (n >> 16n).toString(16), (n & 0xffffn).toString(16)];
    }
    return list;
  };
  h = v4(h);
  t = v4(t);
  const all = address.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  return all.reduce((v, g) => (v << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** Whether `address` (of the pool's family) lies inside `pool`. */
export function contains(pool: Cidr, address: string): boolean {
  const width = pool.family === 4 ? 32n : 128n;
  const shift = width - BigInt(pool.prefix);
  return bits(pool.address, pool.family) >> shift === bits(address, pool.family) >> shift;
}

/** What the derived Fastlane config needs besides the UPF config: the fast path's plugin stage. */
export interface PluginStage {
  /** Absolute path of the UPF plugin's shared object. */
  path: string;
  /** Its config (JSON). */
  config: Record<string, unknown>;
}

/** The Fastlane config that runs the UPF: two ports with their filters and kernel paths, one plugin stage. */
export function deriveFastlaneConfig(config: UpfConfig, plugin: PluginStage): FastlaneConfig {
  const { upf } = config;
  const dpdk = config.backend === 'dpdk';
  // The kernel's side of each port: DPDK's TAP twin holds the UPF's addresses (moved from the
  // interface for the run); af_xdp and af_packet leave them on the interface and punt through a
  // TAP, so the fast path's Kernel verdicts (next-hop misses, packets for the UPF) reach the kernel.
  const kernelSide = (addresses: string[]): Partial<PortConfig> => (dpdk ? { tap: { addresses } } : { punt: 'tap' });
  const derived: FastlaneConfig = {
    ...(config.name === undefined ? {} : { name: config.name }),
    backend: config.backend,
    ...(config.netns === undefined ? {} : { netns: config.netns }),
    ...(config.deployment === undefined ? {} : { deployment: config.deployment }),
    ...(config.threads === undefined ? {} : { threads: config.threads }),
    ...(config.af_xdp === undefined ? {} : { af_xdp: config.af_xdp }),
    ...(config.af_packet === undefined ? {} : { af_packet: config.af_packet }),
    ...(config.dpdk === undefined ? {} : { dpdk: config.dpdk }),
    ports: [
      {
        interface: upf.n3.interface,
        queues: upf.n3.queues,
        filter: { udp_ports: [upf.n3.gtpu_port ?? DEFAULT_GTPU_PORT] },
        ...kernelSide(upf.n3.addresses),
      },
      {
        interface: upf.n6.interface,
        queues: upf.n6.queues,
        filter: { dst_prefixes: upf.ue_pools },
        ...kernelSide(upf.n6.addresses ?? []),
      },
    ],
    pipeline: [{ type: 'plugin', path: plugin.path, config: plugin.config }],
  };
  return derived;
}

/** Where each path of the derived config comes from in the UPF config. */
function upfPath(derivedPath: string): string {
  const rules: Array<[RegExp, string]> = [
    [/^\/ports\/0\/filter\/udp_ports(\/.*)?$/, '/upf/n3/gtpu_port'],
    [/^\/ports\/1\/filter\/dst_prefixes(\/.*)?$/, '/upf/ue_pools$1'],
    [/^\/ports\/0\/tap\/addresses(\/.*)?$/, '/upf/n3/addresses$1'],
    [/^\/ports\/1\/tap\/addresses(\/.*)?$/, '/upf/n6/addresses$1'],
    [/^\/ports\/0(\/.*)?$/, '/upf/n3$1'],
    [/^\/ports\/1(\/.*)?$/, '/upf/n6$1'],
    [/^\/ports$/, '/upf'],
    [/^\/pipeline(\/.*)?$/, '/upf'],
  ];
  for (const [pattern, replacement] of rules) {
    if (pattern.test(derivedPath)) {
      return derivedPath.replace(pattern, replacement);
    }
  }
  return derivedPath;
}

/**
 * Every error in a UPF config document: the schema's, else the UPF's checks', else the
 * framework's checks of the Fastlane config derived with `plugin` (paths mapped back into the
 * UPF file). Empty when valid.
 */
export function validateUpfConfig(document: unknown, plugin: PluginStage = { path: '/upf-plugin.so', config: {} }): ConfigIssue[] {
  const shape = schemaIssues(document, UPF_SCHEMA_PATH);
  if (shape.length > 0) {
    return shape;
  }
  const config = document as UpfConfig;
  const own = upfIssues(config);
  if (own.length > 0) {
    return own;
  }
  // The framework's messages about the derived document's JSON text do not apply to the UPF file.
  return validateConfig(deriveFastlaneConfig(config, plugin)).map((i) => ({
    path: upfPath(i.path),
    message: i.message.replace(/ at line \d+ column \d+$/, ''),
  }));
}

/** Parses and validates a UPF config document; throws ConfigError naming every path. */
export function parseUpfConfig(text: string, source?: string): UpfConfig {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (e) {
    throw new ConfigError([{ path: '', message: `invalid JSON: ${(e as Error).message}` }], source);
  }
  const issues = validateUpfConfig(document);
  if (issues.length > 0) {
    throw new ConfigError(issues, source);
  }
  return document as UpfConfig;
}

/** Reads, parses and validates a UPF config file. */
export function loadUpfConfig(file: string): UpfConfig {
  return parseUpfConfig(fs.readFileSync(file, 'utf8'), file);
}

/** The capacities of a config, defaults filled in. */
export function capacityOf(config: UpfConfig): Capacity {
  return { ...DEFAULT_CAPACITY, ...config.upf.capacity };
}
