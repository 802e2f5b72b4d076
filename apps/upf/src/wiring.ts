// Which implementations the UPF runs with: the rules' shared-memory sessions and the PFCP node.

import * as fs from 'node:fs';
import { isIP } from 'node:net';
import * as path from 'node:path';

import { SharedRegion } from 'fastlane-dataplane';

import type { UpfOptions } from './app';
import { DEFAULT_PFCP_PORT, parseCidr, type UpfConfig } from './config';
import { startPfcpNode } from './node';
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

export function wiring(): UpfOptions {
  return {
    userPlane: (name, capacities) => {
      const sessions = ShmUpfSessions.create(name, capacities);
      let nextHops: UpfNextHops;
      try {
        nextHops = new UpfNextHops(sessions.region);
      } catch (e) {
        sessions.close();
        SharedRegion.unlink(name);
        throw e;
      }
      return {
        sessions,
        nextHops,
        close: () => {
          nextHops.close();
          sessions.close();
          SharedRegion.unlink(name);
        },
      };
    },
    pfcpNode: async (config, sessions) => {
      const pfcp = config.upf.pfcp!;
      fs.mkdirSync(CONTROL_DIR, { recursive: true, mode: 0o755 });
      const node = await startPfcpNode(
        {
          addresses: [pfcp.address],
          port: pfcp.port ?? DEFAULT_PFCP_PORT,
          nodeId: nodeIdOf(config.upf.node_id),
          fTeidAddresses: n3Addresses(config),
          uePools: config.upf.ue_pools.map((prefix) => ({ prefix })),
          controlSocket: controlSocketOf(config),
        },
        sessions,
      );
      return { stop: () => node.close() };
    },
  };
}
