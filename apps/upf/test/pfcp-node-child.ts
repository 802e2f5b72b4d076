// A PFCP node in a process of its own, for the tests that kill it: argv[2] is a JSON object
// {region, sessionsDir, port}. Its state is in SharedRegion `region`, its sessions in the
// file-backed UpfSessions test double. Prints {"port", "recoveryTimeStamp", "stateKept"} when up.
import { SharedRegion } from '../../../src-ts/shm';
import { pfcpStateLayout, startPfcpNode } from '../src/node/index';
import { jsonLogger } from '../src/node/log';
import { UpfSessionsFileTestDouble } from './upf-sessions-file-double';

async function main(): Promise<void> {
  const o = JSON.parse(process.argv[2] as string) as { region: string; sessionsDir: string; port: number };
  const region = SharedRegion.create(o.region, pfcpStateLayout(4096), { reuse: true });
  const sessions = new UpfSessionsFileTestDouble(o.sessionsDir);
  const node = await startPfcpNode(
    {
      addresses: ['127.0.0.1'],
      port: o.port,
      nodeId: { kind: 'ipv4', value: '127.0.0.1' },
      fTeidAddresses: { ipv4: '198.51.100.1' },
      uePools: [{ prefix: '10.45.0.0/16' }],
      timers: { heartbeatIntervalMs: 60_000 },
      state: region,
      logger: jsonLogger(process.stderr, 'warn'),
    },
    sessions,
  );
  process.stdout.write(`${JSON.stringify({ port: node.ports()[0]?.port, recoveryTimeStamp: node.recoveryTimeStamp, stateKept: node.stateKept })}\n`);
}

void main();
