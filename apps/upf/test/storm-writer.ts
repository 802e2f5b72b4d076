// A writer for sessions-kill.test.ts: attaches to REGION, installs SESSIONS storm sessions (or
// takes over the ones there), prints "ready", and then changes every session's shape as fast as
// it can until it is killed.
import { ShmUpfSessions } from '../src/sessions/index';
import { stormSession } from './sessions-helpers';

const [region, count, caps] = process.argv.slice(2);
const sessions = ShmUpfSessions.open(region!, JSON.parse(caps!) as Record<string, number>);
const n = Number(count);
let tag = 0;
for (let i = 0; i < n; i++) {
  if (sessions.get(BigInt(i + 1)) === undefined) sessions.create(BigInt(i + 1), stormSession(i, tag));
}
process.stdout.write('ready\n');
for (;;) {
  tag++;
  for (let i = 0; i < n; i++) {
    // Each change swaps the session's PDRs, FAR tunnel and QER at once.
    sessions.modify(BigInt(i + 1), tag % 2 === 0 ? toEven(i, tag) : toOdd(i, tag));
  }
}

function toOdd(i: number, tag: number) {
  const next = stormSession(i, tag);
  return {
    removePdrs: [1, 2, 4],
    createPdrs: next.pdrs,
    updateFars: [{ farId: 2, updateForwardingParameters: next.fars[1]!.forwardingParameters! }],
    updateQers: [next.qers![0]!],
  };
}

function toEven(i: number, tag: number) {
  const next = stormSession(i, tag);
  return {
    removePdrs: [3, 5],
    createPdrs: next.pdrs,
    updateFars: [{ farId: 2, updateForwardingParameters: next.fars[1]!.forwardingParameters! }],
    updateQers: [next.qers![0]!],
  };
}
