// Which implementations the UPF runs with: the rules' shared-memory sessions and the PFCP node.

import * as fs from 'node:fs';
import { isIP } from 'node:net';
import * as path from 'node:path';

import { SharedRegion } from 'fastlane-dataplane';

import type { UpfOptions, UserPlane } from './app';
import { capacityOf, DEFAULT_PFCP_PORT, parseCidr, type UpfConfig } from './config';
import { type PfcpNode, pfcpStateLayout, startPfcpNode } from './node';
import type { NodeId } from './pfcp';
import { ShmUpfSessions, UpfNextHops } from './sessions';

/** Where control sockets of running UPFs are (`fastlane upf sessions` asks there). */
export const CONTROL_DIR = '/run/fastlane';

/** The PFCP node's control socket for the UPF a config runs: one per config `name`. */
export function controlSocketOf(config: UpfConfig): string {
  return path.join(CONTROL_DIR, `upf-${config.name ?? 'upf'}.sock`);
}

/** The config's node id as PFCP's Node ID IE. */
function nodeIdOf(text: string): NodeId {
  const family = isIP(text);
  return { kind: family === 4 ? 'ipv4' : family === 6 ? 'ipv6' : 'fqdn', value: text };
}

/** The N3 addresses, one per family, without their prefix lengths. */
function n3Addresses(config: UpfConfig): { ipv4?: string; ipv6?: string } {
  const out: { ipv4?: string; ipv6?: string } = {};
  for (const cidr of config.upf.n3.addresses.map(parseCidr)) {
    if (cidr !== undefined) {
      out[cidr.family === 4 ? 'ipv4' : 'ipv6'] = cidr.address;
    }
  }
  return out;
}

/**
 * The PFCP node's state region beside the rules' region `region`: associations, allocations and
 * what each session reported, which a restarted node takes over (its Recovery Time Stamp kept).
 */
export function pfcpStateRegionOf(region: string): string {
  return `${region}-pfcp`;
}

/** Removes a region that may not exist. */
function unlinkIfThere(name: string): void {
  try {
    SharedRegion.unlink(name);
  } catch {
    // Never made (no PFCP node ran), or already gone.
  }
}

/** The sessions and next hops over `sessions`' region; `close` detaches, then `remove()`s. */
function userPlaneOf(sessions: ShmUpfSessions, remove: () => void): UserPlane {
  let nextHops: UpfNextHops;
  try {
    nextHops = new UpfNextHops(sessions.region);
  } catch (e) {
    sessions.close();
    remove();
    throw e;
  }
  return {
    sessions,
    nextHops,
    close: () => {
      nextHops.close();
      sessions.close();
      remove();
    },
  };
}

export function wiring(): UpfOptions {
  return {
    // The owner of the rules' region owns the PFCP state beside it: a new rules region starts a
    // fresh state (a crashed run's would name sessions it does not have), and both go at close.
    userPlane: (name, capacities) => {
      unlinkIfThere(pfcpStateRegionOf(name));
      return userPlaneOf(ShmUpfSessions.create(name, capacities), () => {
        SharedRegion.unlink(name);
        unlinkIfThere(pfcpStateRegionOf(name));
      });
    },
    // A control process takes the region over (and its tables' writer locks on its first write).
    attachUserPlane: (name, capacities) => userPlaneOf(ShmUpfSessions.open(name, capacities), () => {}),
    pfcpNode: async (config, sessions, region) => {
      const pfcp = config.upf.pfcp!;
      fs.mkdirSync(CONTROL_DIR, { recursive: true, mode: 0o755 });
      const state = SharedRegion.create(pfcpStateRegionOf(region), pfcpStateLayout(capacityOf(config).sessions), { reuse: true });
      let node: PfcpNode;
      try {
        node = await startPfcpNode(
          {
            addresses: [pfcp.address],
            port: pfcp.port ?? DEFAULT_PFCP_PORT,
            nodeId: nodeIdOf(config.upf.node_id),
            fTeidAddresses: n3Addresses(config),
            uePools: config.upf.ue_pools.map((prefix) => ({ prefix })),
            controlSocket: controlSocketOf(config),
            state,
          },
          sessions,
        );
      } catch (e) {
        state.close();
        throw e;
      }
      return {
        recoveryTimeStamp: node.recoveryTimeStamp,
        stateKept: node.stateKept,
        stop: async () => {
          await node.close();
          state.close();
        },
      };
    },
  };
}
