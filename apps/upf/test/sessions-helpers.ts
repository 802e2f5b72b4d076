// Sessions for the UpfSessions tests and the install benchmark: session i has an uplink PDR on
// TEID 0x1000 + i and a downlink PDR on UE 10.(45 + i / 65536).(i / 256 % 256).(i % 256), each
// with its FAR, one QER and one URR.
import { SharedRegion } from 'fastlane-dataplane';

import type { SessionRules } from '../src/sessions/types';

export function ueAddress(i: number): string {
  return `10.${45 + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}`;
}

export function teidOf(i: number): number {
  return 0x1000 + i;
}

export function basicSession(i: number, tag = 1): SessionRules {
  return {
    pdrs: [
      {
        pdrId: 1,
        precedence: 100,
        pdi: { sourceInterface: 'access', localFTeid: { teid: teidOf(i), ipv4: '10.0.0.1' }, qfi: 9 },
        outerHeaderRemoval: 'gtpu-udp-ipv4',
        farId: 1,
        qerIds: [1],
        urrIds: [1],
      },
      {
        pdrId: 2,
        precedence: 100,
        pdi: { sourceInterface: 'core', ueIpAddress: { ipv4: ueAddress(i) } },
        farId: 2,
        qerIds: [1],
        urrIds: [1],
      },
    ],
    fars: [
      { farId: 1, applyAction: { forward: true }, forwardingParameters: { destinationInterface: 'core' } },
      {
        farId: 2,
        applyAction: { forward: true },
        forwardingParameters: {
          destinationInterface: 'access',
          outerHeaderCreation: { teid: 0x8000_0000 + tag, ipv4: '192.168.1.2' },
        },
      },
    ],
    qers: [{ qerId: 1, gateStatus: { uplink: 'open', downlink: 'open' }, mbr: { uplinkKbps: 100_000, downlinkKbps: 200_000 }, qfi: 9 }],
    urrs: [{ urrId: 1, measurementMethod: { volume: true }, reportingTriggers: { volumeThreshold: true }, volumeThreshold: { total: 1_000_000n } }],
  };
}

/** A region name no other test uses, removed by `cleanup`. */
export function regionName(tag: string): string {
  const name = `upf-sessions-test-${tag}-${process.pid}`;
  try {
    SharedRegion.unlink(name);
  } catch {
    // Not there: as wanted.
  }
  return name;
}

export function unlink(name: string): void {
  try {
    SharedRegion.unlink(name);
  } catch {
    // Already gone.
  }
}
