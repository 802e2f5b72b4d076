// The UPF's shared-memory region: its layout from the capacities (the generated object list of
// fastlane-upf-rules, so both sides declare the same region), and opening it.

import { SharedRegion, type ShmLayout } from 'fastlane-dataplane';

import { OBJECTS } from '../generated/layout';

/** How many of each the region holds (the UPF config's `capacity`, with the event channels). */
export interface UpfCapacities {
  sessions: number;
  pdrs: number;
  fars: number;
  qers: number;
  urrs: number;
  next_hops: number;
  /** One `events.N` channel per fast-path thread that raises events. */
  event_channels: number;
  /** Events each channel holds before the fast path drops them. */
  event_capacity: number;
}

export const DEFAULT_CAPACITIES: UpfCapacities = {
  sessions: 10_000,
  pdrs: 20_000,
  fars: 20_000,
  qers: 10_000,
  urrs: 20_000,
  next_hops: 1024,
  event_channels: 1,
  event_capacity: 4096,
};

export function capacities(given: Partial<UpfCapacities> = {}): UpfCapacities {
  const caps = { ...DEFAULT_CAPACITIES };
  for (const [key, value] of Object.entries(given) as [keyof UpfCapacities, unknown][]) {
    if (!(key in DEFAULT_CAPACITIES)) {
      throw new RangeError(`capacities.${key}: not a capacity (${Object.keys(DEFAULT_CAPACITIES).join(', ')})`);
    }
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 2 ** 31) {
      throw new RangeError(`capacities.${key}: ${JSON.stringify(value)} is not a whole number from 1 to 2^31`);
    }
    caps[key] = value;
  }
  return caps;
}

/** The region's layout for `caps`, as `fastlane_upf_rules::layout` makes it. */
export function upfLayout(caps: UpfCapacities): ShmLayout {
  const layout: Required<ShmLayout> = { tables: [], channels: [], cells: [] };
  for (const o of OBJECTS) {
    const base = o.basis === 'one' ? 1 : caps[o.basis];
    const capacity = base * o.times + o.plus;
    switch (o.kind) {
      case 'table':
        layout.tables.push({ name: o.name, keySize: o.keySize, valueSize: o.valueSize, capacity });
        break;
      case 'channel':
        if (o.perThread) {
          for (let n = 0; n < caps.event_channels; n++) {
            layout.channels.push({ name: `${o.name}.${n}`, messageSize: o.messageSize, capacity });
          }
        } else {
          layout.channels.push({ name: o.name, messageSize: o.messageSize, capacity });
        }
        break;
      case 'cells':
        layout.cells.push({ name: o.name, words: o.words, capacity });
        break;
    }
  }
  return layout;
}

/** Creates region `name` (or with `reuse`, attaches to one of the same layout). */
export function createUpfRegion(name: string, caps: UpfCapacities, reuse = false): SharedRegion {
  return SharedRegion.create(name, upfLayout(caps), { reuse });
}

export function openUpfRegion(name: string, caps: UpfCapacities): SharedRegion {
  return SharedRegion.open(name, upfLayout(caps));
}
