// The device plugin's config: which devices it offers under which resource name, and where it
// keeps its sockets and state. Every error is named by its JSON Pointer, like the data plane's.

import * as fs from 'node:fs';
import * as path from 'node:path';

import { ConfigError, type ConfigIssue } from '../validate';

export interface DevicePluginConfig {
  /** The extended resource pods request, `DOMAIN/NAME` (e.g. `fastlane.io/af_xdp`). */
  resource_name: string;
  /** Where the kubelet's `kubelet.sock` is and the plugin's own socket goes. */
  kubelet_dir: string;
  /** Persisted allocations and the per-allocation socket directories (host side). */
  state_dir: string;
  /** Where a pod sees its allocation's socket directory. */
  container_dir: string;
  /** The sysfs the health checks and VF lookups read (another root only in tests). */
  sysfs: string;
  /** How often link and VF health is read. */
  health_poll_ms: number;
  /** AF_XDP / AF_PACKET: each queue of each interface is one device, `IF-qN`. */
  interfaces: InterfaceDevices[];
  /** DPDK: each SR-IOV VF, by PCI address, is one device. */
  vfs: VfDevice[];
  /**
   * The uids a pod's process may have to get its descriptors (SO_PEERCRED of its connection);
   * empty: any uid, the one-time token alone decides.
   */
  allowed_uids: number[];
}

export interface InterfaceDevices {
  name: string;
  queues: { first: number; count: number };
}

export interface VfDevice {
  pci_address: string;
}

export const DEFAULTS = {
  kubelet_dir: '/var/lib/kubelet/device-plugins',
  state_dir: '/var/lib/fastlane/device-plugin',
  container_dir: '/run/fastlane',
  sysfs: '/sys',
  health_poll_ms: 1000,
} as const;

// Kubernetes' extended resource names: a DNS subdomain prefix, a slash, a qualified name.
const RESOURCE_NAME = /^(?=.{1,253}\/)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
// The kernel's interface names: at most 15 bytes, no '/', no whitespace, not "." or "..".
const INTERFACE_NAME = /^(?!\.\.?$)[^/\s]{1,15}$/;
const PCI_ADDRESS = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;
/** The kernel's limit on queues of one net device. */
const MAX_QUEUES = 4096;

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown, min: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min;
}

/** Every problem in `doc`; empty when it is a valid device-plugin config. */
export function devicePluginConfigIssues(doc: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const fail = (p: string, message: string): void => void issues.push({ path: p, message });
  const onlyKeys = (obj: Json, at: string, keys: readonly string[]): void => {
    for (const k of Object.keys(obj)) {
      if (!keys.includes(k)) {
        fail(`${at}/${k}`, `unknown field (expected one of: ${keys.join(', ')})`);
      }
    }
  };
  if (!isObject(doc)) {
    fail('', 'a device-plugin config is a JSON object');
    return issues;
  }
  onlyKeys(doc, '', ['resource_name', ...Object.keys(DEFAULTS), 'interfaces', 'vfs', 'allowed_uids']);
  if (doc.allowed_uids !== undefined) {
    if (!Array.isArray(doc.allowed_uids)) {
      fail('/allowed_uids', 'an array of uids (integers from 0 to 4294967294) is required');
    } else {
      doc.allowed_uids.forEach((uid: unknown, i) => {
        if (!isCount(uid, 0) || uid > 4294967294) {
          fail(`/allowed_uids/${i}`, 'a uid is an integer from 0 to 4294967294');
        }
      });
    }
  }
  if (typeof doc.resource_name !== 'string' || !RESOURCE_NAME.test(doc.resource_name)) {
    fail('/resource_name', 'an extended resource name "DOMAIN/NAME" is required, e.g. "fastlane.io/af_xdp"');
  }
  for (const key of ['kubelet_dir', 'state_dir', 'container_dir', 'sysfs'] as const) {
    const v = doc[key];
    if (v !== undefined && (typeof v !== 'string' || !path.isAbsolute(v))) {
      fail(`/${key}`, 'an absolute path is required');
    }
  }
  if (doc.health_poll_ms !== undefined && !(isCount(doc.health_poll_ms, 10) && doc.health_poll_ms <= 60_000)) {
    fail('/health_poll_ms', 'an integer from 10 to 60000 (milliseconds) is required');
  }
  const seenInterfaces = new Map<string, string>();
  if (doc.interfaces !== undefined && !Array.isArray(doc.interfaces)) {
    fail('/interfaces', 'an array of { "name", "queues": { "first", "count" } } is required');
  }
  (Array.isArray(doc.interfaces) ? doc.interfaces : []).forEach((entry: unknown, i) => {
    const at = `/interfaces/${i}`;
    if (!isObject(entry)) {
      fail(at, 'an object { "name", "queues": { "first", "count" } } is required');
      return;
    }
    onlyKeys(entry, at, ['name', 'queues']);
    if (typeof entry.name !== 'string' || !INTERFACE_NAME.test(entry.name)) {
      fail(`${at}/name`, 'an interface name (1 to 15 characters, no "/" or whitespace) is required');
    } else if (seenInterfaces.has(entry.name)) {
      fail(`${at}/name`, `interface "${entry.name}" is already listed at ${seenInterfaces.get(entry.name)}`);
    } else {
      seenInterfaces.set(entry.name, at);
    }
    const q = entry.queues;
    if (!isObject(q)) {
      fail(`${at}/queues`, 'an object { "first": N, "count": M } is required');
      return;
    }
    onlyKeys(q, `${at}/queues`, ['first', 'count']);
    if (!isCount(q.first, 0) || q.first >= MAX_QUEUES) {
      fail(`${at}/queues/first`, `a queue index from 0 to ${MAX_QUEUES - 1} is required`);
    }
    if (!isCount(q.count, 1)) {
      fail(`${at}/queues/count`, 'a queue count of at least 1 is required');
    } else if (isCount(q.first, 0) && q.first + q.count > MAX_QUEUES) {
      fail(`${at}/queues/count`, `queues ${q.first}..${q.first + q.count - 1} exceed the kernel's ${MAX_QUEUES} queues`);
    }
  });
  const seenVfs = new Map<string, string>();
  if (doc.vfs !== undefined && !Array.isArray(doc.vfs)) {
    fail('/vfs', 'an array of { "pci_address" } is required');
  }
  (Array.isArray(doc.vfs) ? doc.vfs : []).forEach((entry: unknown, i) => {
    const at = `/vfs/${i}`;
    if (!isObject(entry)) {
      fail(at, 'an object { "pci_address": "DDDD:BB:DD.F" } is required');
      return;
    }
    onlyKeys(entry, at, ['pci_address']);
    if (typeof entry.pci_address !== 'string' || !PCI_ADDRESS.test(entry.pci_address)) {
      fail(`${at}/pci_address`, 'a PCI address in lower-case hex "DDDD:BB:DD.F" is required, e.g. "0000:03:00.2"');
    } else if (seenVfs.has(entry.pci_address)) {
      fail(`${at}/pci_address`, `VF ${entry.pci_address} is already listed at ${seenVfs.get(entry.pci_address)}`);
    } else {
      seenVfs.set(entry.pci_address, at);
    }
  });
  const listed = (v: unknown): boolean => Array.isArray(v) && v.length > 0;
  if (!listed(doc.interfaces) && !listed(doc.vfs)) {
    fail('', 'no devices: list at least one entry in "interfaces" or "vfs"');
  }
  return issues;
}

/** The valid config in `doc` with its defaults filled in; throws a ConfigError otherwise. */
export function parseDevicePluginConfig(doc: unknown, source?: string): DevicePluginConfig {
  const issues = devicePluginConfigIssues(doc);
  if (issues.length > 0) {
    throw new ConfigError(issues, source);
  }
  const d = doc as Partial<DevicePluginConfig> & { resource_name: string };
  return {
    ...DEFAULTS,
    ...d,
    interfaces: d.interfaces ?? [],
    vfs: d.vfs ?? [],
    allowed_uids: d.allowed_uids ?? [],
  };
}

export function loadDevicePluginConfig(file: string): DevicePluginConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read device-plugin config ${file}: ${(e as Error).message}`);
  }
  return parseDevicePluginConfig(doc, file);
}
