// A PFCP node in a process of its own, for the tests that kill it: argv[2] is a JSON object
// {state, upf, port}: the node's state in SharedRegion `state`, the sessions in the UPF's
// shared-memory region `upf` (ShmUpfSessions, capacities CHILD_CAPACITIES). Prints {"port",
// "recoveryTimeStamp", "stateKept"} when up.
import { SharedRegion } from 'fastlane-dataplane';

import { pfcpStateLayout, startPfcpNode } from '../src/node/index';
import { jsonLogger } from '../src/node/log';
import { ShmUpfSessions } from '../src/sessions/index';

export const CHILD_CAPACITIES = { sessions: 1024, pdrs: 4096, fars: 4096, qers: 16, urrs: 4096 };

async function main(): Promise<void> {
  const o = JSON.parse(process.argv[2] as string) as { state: string; upf: string; port: number };
  const state = SharedRegion.create(o.state, pfcpStateLayout(CHILD_CAPACITIES.sessions), { reuse: true });
  const sessions = ShmUpfSessions.create(o.upf, CHILD_CAPACITIES, { reuse: true });
  const node = await startPfcpNode(
    {
      addresses: ['127.0.0.1'],
      port: o.port,
      nodeId: { kind: 'ipv4', value: '127.0.0.1' },
      fTeidAddresses: { ipv4: '198.51.100.1' },
      uePools: [{ prefix: '10.45.0.0/16' }],
      timers: { heartbeatIntervalMs: 60_000 },
      state,
      logger: jsonLogger(process.stderr, 'warn'),
    },
    sessions,
  );
  process.stdout.write(`${JSON.stringify({ port: node.ports()[0]?.port, recoveryTimeStamp: node.recoveryTimeStamp, stateKept: node.stateKept })}\n`);
}

if (require.main === module) void main();
