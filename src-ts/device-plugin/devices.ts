// The devices a plugin offers, their health as the kernel reports it, and the allocation the
// plugin prefers when the kubelet asks.

import * as fs from 'node:fs';
import * as path from 'node:path';

import type { DevicePluginConfig } from './config';

/** The kubelet's two health values (k8s.io/kubelet constants.go). */
export type Health = 'Healthy' | 'Unhealthy';

export type Device =
  | { kind: 'queue'; id: string; interface: string; queue: number }
  | { kind: 'vf'; id: string; pciAddress: string };

/** Every device of the config, in config order: `IF-qN` per queue, the PCI address per VF. */
export function configuredDevices(config: DevicePluginConfig): Device[] {
  const devices: Device[] = [];
  for (const i of config.interfaces) {
    for (let q = i.queues.first; q < i.queues.first + i.queues.count; q++) {
      devices.push({ kind: 'queue', id: `${i.name}-q${q}`, interface: i.name, queue: q });
    }
  }
  for (const vf of config.vfs) {
    devices.push({ kind: 'vf', id: vf.pci_address, pciAddress: vf.pci_address });
  }
  return devices;
}

export function pciDeviceDir(sysfs: string, pciAddress: string): string {
  return path.join(sysfs, 'bus', 'pci', 'devices', pciAddress);
}

/**
 * A queue is healthy while its link is up ("unknown" is what drivers without carrier reporting,
 * such as dummy, show when up); a VF while its PCI device exists.
 */
export function deviceHealth(sysfs: string, device: Device): Health {
  if (device.kind === 'vf') {
    return fs.existsSync(pciDeviceDir(sysfs, device.pciAddress)) ? 'Healthy' : 'Unhealthy';
  }
  let state: string;
  try {
    state = fs.readFileSync(path.join(sysfs, 'class', 'net', device.interface, 'operstate'), 'utf8').trim();
  } catch {
    return 'Unhealthy'; // the interface does not exist (any more)
  }
  return state === 'up' || state === 'unknown' ? 'Healthy' : 'Unhealthy';
}

/** The VF's IOMMU group number, the N of /dev/vfio/N. */
export function iommuGroup(sysfs: string, pciAddress: string): string {
  const link = path.join(pciDeviceDir(sysfs, pciAddress), 'iommu_group');
  let target: string;
  try {
    target = fs.readlinkSync(link);
  } catch (e) {
    throw new Error(`VF ${pciAddress} has no IOMMU group: readlink ${link}: ${(e as NodeJS.ErrnoException).code}`);
  }
  return path.basename(target);
}

/**
 * `size` devices from `available` including every `mustInclude`: queues of the interface the
 * required ones are on first, then of the interface that fits the rest with the fewest left over,
 * and within an interface the run of queues with the smallest span (contiguous when possible).
 */
export function preferredAllocation(
  devices: ReadonlyMap<string, Device>,
  available: readonly string[],
  mustInclude: readonly string[],
  size: number,
): string[] {
  const chosen = [...new Set(mustInclude)];
  const taken = new Set(chosen);
  // Candidates grouped by interface (all VFs form one group), in queue or address order.
  const groups = new Map<string, { id: string; order: number }[]>();
  for (const id of new Set(available)) {
    const d = devices.get(id);
    if (d === undefined || taken.has(id)) {
      continue;
    }
    const key = d.kind === 'queue' ? d.interface : '';
    const group = groups.get(key) ?? [];
    // A fixed-width PCI address read as one hex number sorts as the address does.
    group.push({ id, order: d.kind === 'queue' ? d.queue : parseInt(d.pciAddress.replace(/[:.]/g, ''), 16) });
    groups.set(key, group);
  }
  // The queues already chosen on each interface: a run next to them keeps the span small.
  const requiredGroups = new Map<string, number[]>();
  for (const d of chosen.map((id) => devices.get(id))) {
    if (d !== undefined) {
      const key = d.kind === 'queue' ? d.interface : '';
      requiredGroups.set(key, [...(requiredGroups.get(key) ?? []), d.kind === 'queue' ? d.queue : 0]);
    }
  }
  let missing = size - chosen.length;
  const rank = (key: string, n: number): [number, number] => {
    if (requiredGroups.has(key)) {
      return [0, 0];
    }
    return n >= missing ? [1, n] : [2, -n]; // best fit, else the largest first
  };
  const order = [...groups.entries()].sort(([ka, a], [kb, b]) => {
    const [ra, sa] = rank(ka, a.length);
    const [rb, sb] = rank(kb, b.length);
    return ra - rb || sa - sb;
  });
  for (const [key, group] of order) {
    if (missing <= 0) {
      break;
    }
    group.sort((a, b) => a.order - b.order);
    const k = Math.min(missing, group.length);
    const required = key === '' ? [] : (requiredGroups.get(key) ?? []);
    const span = (s: number): number =>
      Math.max(group[s + k - 1]!.order, ...required) - Math.min(group[s]!.order, ...required);
    let best = 0;
    for (let start = 1; start + k <= group.length; start++) {
      if (span(start) < span(best)) {
        best = start;
      }
    }
    for (const { id } of group.slice(best, best + k)) {
      chosen.push(id);
    }
    missing -= k;
  }
  return chosen;
}
