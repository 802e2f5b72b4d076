// Sessions for the UpfSessions tests and the install benchmark: session i has an uplink PDR on
// TEID 0x1000 + i and a downlink PDR on UE 10.(45 + i / 65536).(i / 256 % 256).(i % 256), each
// with its FAR, one QER and one URR.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

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

/** The storm's session `i` with `tag`, as fastlane-upf-rules' `check_storm_session` expects it. */
export function stormSession(i: number, tag: number): SessionRules {
  const teid = 0x10_0000 + i;
  const ue = `10.77.${(i >>> 8) & 255}.${i & 255}`;
  const uplink = (pdrId: number, precedence: number) => ({
    pdrId,
    precedence,
    pdi: { sourceInterface: 'access' as const, localFTeid: { teid, ipv4: '10.0.0.1' } },
    outerHeaderRemoval: 'gtpu-udp-ipv4' as const,
    farId: 1,
  });
  const downlink = (pdrId: number) => ({ pdrId, precedence: 10, pdi: { sourceInterface: 'core' as const, ueIpAddress: { ipv4: ue } }, farId: 2 });
  const pdrs =
    tag % 2 === 0
      ? [{ ...uplink(1, 10), pdi: { ...uplink(1, 10).pdi, sdfFilters: [{ protocol: 6 }] } }, { ...uplink(2, 20), qerIds: [1] }, downlink(4)]
      : [{ ...uplink(3, 5), qerIds: [1] }, downlink(5)];
  return {
    pdrs,
    fars: [
      { farId: 1, applyAction: { forward: true }, forwardingParameters: { destinationInterface: 'core' } },
      {
        farId: 2,
        applyAction: { forward: true },
        forwardingParameters: { destinationInterface: 'access', outerHeaderCreation: { teid: tag, ipv4: '192.168.1.2' } },
      },
    ],
    qers: [{ qerId: 1, mbr: { uplinkKbps: tag, downlinkKbps: tag } }],
  };
}

const built = new Map<string, string>();

/** Builds example `name` of fastlane-upf-rules (once per test file) and returns its path. */
export function rulesExample(name: string): string {
  let found = built.get(name);
  if (found === undefined) {
    const root = path.join(__dirname, '..', '..', '..');
    const out = execFileSync('cargo', ['build', '-q', '-p', 'fastlane-upf-rules', '--example', name, '--message-format=json'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 64 << 20,
    });
    for (const line of out.split('\n')) {
      if (!line.startsWith('{')) continue;
      const message = JSON.parse(line) as { reason?: string; target?: { name?: string }; executable?: string | null };
      if (message.reason === 'compiler-artifact' && message.target?.name === name && message.executable) {
        found = message.executable;
      }
    }
    if (found === undefined) {
      throw new Error(`cargo built no executable for the example ${name}`);
    }
    built.set(name, found);
  }
  return found;
}
