// `fastlane upf sessions`: every session of a running UPF with its SMF, rules and usage. The PFCP
// node is the one writer of the sessions, so it answers (GET /sessions on its control socket, a
// Unix socket of the config's choosing) and the command never reads shared memory half-written.
// The `fastlane upf` command registers `sessionsCommand(...)` with how it finds the socket.
import { chmodSync } from 'node:fs';
import * as http from 'node:http';

import type { Argv, CommandModule } from 'yargs';

import type { SessionRules, Usage } from '../sessions/types';

export interface SessionListing {
  seid: bigint;
  /** The SMF's Node ID (kind:value) and its SEID for the session. */
  smf: string;
  cpSeid: bigint;
  rules: SessionRules;
  usage: Usage[];
}

const toJson = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));

/** Serves GET /sessions (JSON, 64-bit numbers as decimal text) on a Unix socket. */
export async function serveSessions(path: string, list: () => SessionListing[]): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/sessions') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(toJson(list()));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      // The sessions are the operator's: only the UPF's user may ask.
      chmodSync(path, 0o600);
      resolve();
    });
  });
  return server;
}

export type SessionListingJson = Omit<SessionListing, 'seid' | 'cpSeid'> & { seid: string; cpSeid: string };

/** Asks a running node for its sessions. */
export function fetchSessions(socketPath: string): Promise<SessionListingJson[]> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path: '/sessions' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`${socketPath}: GET /sessions answered ${res.statusCode}`));
        else resolve(JSON.parse(body) as SessionListingJson[]);
      });
    });
    req.on('error', (e: NodeJS.ErrnoException) => reject(new Error(`${socketPath}: ${e.code ?? e.message} (is the UPF running with this config?)`)));
  });
}

/** One block per session: its SMF, each PDR with what it matches and where it goes, usage per URR. */
export function formatSessions(list: readonly SessionListingJson[]): string[] {
  const lines: string[] = [`${list.length} session${list.length === 1 ? '' : 's'}`];
  for (const s of list) {
    lines.push(`session ${s.seid} (SMF ${s.smf}, SEID ${s.cpSeid})`);
    for (const p of s.rules.pdrs) {
      const match = [
        p.pdi.sourceInterface,
        p.pdi.localFTeid ? `teid ${p.pdi.localFTeid.teid} ${p.pdi.localFTeid.ipv4 ?? ''}${p.pdi.localFTeid.ipv6 ?? ''}`.trim() : undefined,
        p.pdi.ueIpAddress ? `ue ${[p.pdi.ueIpAddress.ipv4, p.pdi.ueIpAddress.ipv6Prefix].filter(Boolean).join(' ')}` : undefined,
        p.pdi.qfi !== undefined ? `qfi ${p.pdi.qfi}` : undefined,
        p.pdi.sdfFilters?.length ? `${p.pdi.sdfFilters.length} sdf filter(s)` : undefined,
      ].filter(Boolean);
      lines.push(`  pdr ${p.pdrId} prec ${p.precedence}: ${match.join(', ')} -> far ${p.farId}${p.qerIds?.length ? ` qer ${p.qerIds.join(',')}` : ''}${p.urrIds?.length ? ` urr ${p.urrIds.join(',')}` : ''}`);
    }
    for (const f of s.rules.fars) {
      const actions = Object.entries(f.applyAction).filter(([, on]) => on).map(([a]) => a);
      const ohc = f.forwardingParameters?.outerHeaderCreation;
      lines.push(`  far ${f.farId}: ${actions.join('+')}${f.forwardingParameters ? ` to ${f.forwardingParameters.destinationInterface}` : ''}${ohc ? ` gtp-u teid ${ohc.teid} ${ohc.ipv4 ?? ohc.ipv6 ?? ''}` : ''}`);
    }
    for (const q of s.rules.qers ?? []) {
      lines.push(`  qer ${q.qerId}: gate ${q.gateStatus?.uplink ?? 'open'}/${q.gateStatus?.downlink ?? 'open'}${q.mbr ? ` mbr ${q.mbr.uplinkKbps}/${q.mbr.downlinkKbps} kbps` : ''}`);
    }
    for (const u of s.usage) {
      lines.push(`  urr ${u.urrId}: uplink ${u.uplink.packets} pkts ${u.uplink.bytes} B, downlink ${u.downlink.packets} pkts ${u.downlink.bytes} B${u.quotaExhausted ? ', quota used up' : ''}`);
    }
  }
  return lines;
}

interface SessionsArgs {
  config: string;
  json?: boolean;
}

/** `sessions <config> [--json]`; `socketOf` names the control socket of the UPF a config runs. */
export function sessionsCommand(socketOf: (configPath: string) => string): CommandModule<object, SessionsArgs> {
  return {
    command: 'sessions <config>',
    describe: 'List the sessions of the running UPF of a config, with their rules and usage',
    builder: (yargs: Argv) =>
      yargs
        .positional('config', { describe: 'UPF config file', type: 'string', demandOption: true })
        .option('json', { describe: 'print JSON', type: 'boolean', default: false }) as Argv<SessionsArgs>,
    handler: async (args) => {
      const list = await fetchSessions(socketOf(args.config));
      if (args.json) console.log(JSON.stringify(list, null, 2));
      else for (const line of formatSessions(list)) console.log(line);
    },
  };
}
