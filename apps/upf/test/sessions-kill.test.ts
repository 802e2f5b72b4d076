// The TypeScript writer killed with SIGKILL in the middle of a storm of changes, while a reader
// in another process (fastlane-upf-rules' storm_watch) looks every session up: the reader never
// sees a torn session and goes on finding them after the kill; a new writer finds every session
// whole and goes on changing them.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as path from 'node:path';
import { createInterface } from 'node:readline';

import { ShmUpfSessions } from '../src/sessions/index';
import { regionName, rulesExample, stormSession, unlink } from './sessions-helpers';

const ROOT = path.join(__dirname, '..', '..', '..');
const CAPS = { sessions: 64, pdrs: 256, fars: 128, qers: 64, urrs: 16, next_hops: 4, event_channels: 1, event_capacity: 16 };
const SESSIONS = 48;

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', resolve);
    child.once('exit', (code, signal) => reject(new Error(`exited (${code ?? signal}) before a line`)));
  });
}

test('a writer killed mid-storm leaves no torn session; forwarding goes on; a new writer takes over', async (t) => {
  const watchBin = rulesExample('storm_watch');
  const name = regionName('kill');
  ShmUpfSessions.create(name, CAPS).close();
  const writer = spawn(process.execPath, ['--import=tsx', path.join(__dirname, 'storm-writer.ts'), name, String(SESSIONS), JSON.stringify(CAPS)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let watcher: ChildProcess | undefined;
  try {
    t.is(await firstLine(writer), 'ready');
    const caps = Object.entries(CAPS).map(([k, v]) => `${k}=${v}`);
    watcher = spawn(watchBin, [name, String(SESSIONS), '3000', ...caps], { stdio: ['ignore', 'pipe', 'inherit'] });
    const output: string[] = [];
    createInterface({ input: watcher.stdout! }).on('line', (l) => output.push(l));
    const watcherExit = once(watcher, 'exit');
    // Let the storm and the reader run together, then kill the writer wherever it is.
    await new Promise((r) => setTimeout(r, 1000));
    writer.kill('SIGKILL');
    await once(writer, 'exit');
    const [code] = (await watcherExit) as [number | null];
    const report = JSON.parse(output[output.length - 1] ?? '{}') as { looks?: number; changes?: number; error?: string };
    t.is(code, 0, `storm_watch: ${output.join(' | ')}`);
    t.is(report.error, undefined);
    // It saw the sessions change (the storm ran) and went on looking after the kill (2 s of 3).
    t.true((report.changes ?? 0) > SESSIONS, JSON.stringify(report));
    t.true((report.looks ?? 0) > SESSIONS * 1000, JSON.stringify(report));

    // A new writer: every session, each of one shape or the other, whole.
    const sessions = ShmUpfSessions.open(name, CAPS);
    try {
      t.is(sessions.size, SESSIONS);
      let pdrs = 0;
      for (const [seid, rules] of sessions.entries()) {
        const i = Number(seid) - 1;
        const tag = rules.qers![0]!.mbr!.uplinkKbps;
        t.deepEqual(rules, stormSession(i, tag));
        pdrs += rules.pdrs.length;
      }
      // What the dead writer left of a next generation was removed: the tables hold only what
      // the sessions use.
      const region = sessions.region;
      t.is(region.table('pdrs').size, pdrs);
      t.is(region.table('sessions').size, SESSIONS);
      sessions.modify(1n, { updateQers: [{ qerId: 1, mbr: { uplinkKbps: 1001, downlinkKbps: 1001 } }] });
      t.is(sessions.get(1n)!.qers![0]!.mbr!.uplinkKbps, 1001);
    } finally {
      sessions.close();
    }
  } finally {
    writer.kill('SIGKILL');
    watcher?.kill('SIGKILL');
    unlink(name);
  }
});
