// TEST stand-in for the fast path's counting: adds packets and bytes to a URR's counters in the
// shared-memory region the UpfSessions implementation (ShmUpfSessions) writes, where the fast
// path would. It finds each URR's counter cell through the published records, read-only.
import type { SharedRegion } from 'fastlane-dataplane';

import { CONSTANTS as C } from '../src/generated/layout';
import { readRuleKey, readSessionRecord, readUrrRecord } from '../src/sessions/records';

export type Count = (seid: bigint, urrId: number, direction: 'uplink' | 'downlink', packets: number, bytes: number) => void;

/** A counter over the region's URRs as they are now (take a new one after sessions change). */
export function shmTraffic(region: SharedRegion): Count {
  const slotOf = new Map<number, bigint>();
  for (const [key, value] of region.table('sessions').entries()) slotOf.set(readRuleKey(key).slot, readSessionRecord(value).seid);
  const cellOf = new Map<string, number>();
  for (const [key, value] of region.table('urrs').entries()) {
    const k = readRuleKey(key);
    const seid = slotOf.get(k.slot);
    if (seid !== undefined) cellOf.set(`${seid}/${k.id}`, readUrrRecord(value).limits.cell);
  }
  const cells = region.cells('urr_state');
  return (seid, urrId, direction, packets, bytes) => {
    const cell = cellOf.get(`${seid}/${urrId}`);
    if (cell === undefined) throw new Error(`shm traffic: no URR ${urrId} in session ${seid}`);
    const w = cells.load(cell);
    const [p, b] = direction === 'uplink' ? [C.URR_UPLINK_PACKETS, C.URR_UPLINK_BYTES] : [C.URR_DOWNLINK_PACKETS, C.URR_DOWNLINK_BYTES];
    w[p] = (w[p] as bigint) + BigInt(packets);
    w[b] = (w[b] as bigint) + BigInt(bytes);
    cells.store(cell, w);
  };
}
