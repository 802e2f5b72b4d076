// TEST DOUBLE of UpfSessions that survives SIGKILL: the in-memory double, with every session also
// written to a file of its own by an atomic rename after each change (so a killed process leaves
// each session in its old or its new form). For the restart tests of the PFCP node until they
// run over the shared-memory implementation. Usage counters are not kept.
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { SessionModification, SessionRules, Usage } from '../src/sessions/types';
import { UpfSessionsTestDouble } from './upf-sessions-double';

const toJson = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? { $big: x.toString() } : x));
const fromJson = <T>(s: string): T => JSON.parse(s, (_k, x: unknown) => (x !== null && typeof x === 'object' && '$big' in x ? BigInt((x as { $big: string }).$big) : x)) as T;

export class UpfSessionsFileTestDouble extends UpfSessionsTestDouble {
  constructor(readonly dir: string) {
    super();
    mkdirSync(dir, { recursive: true });
    for (const f of readdirSync(dir)) {
      if (!f.endsWith('.json')) continue;
      super.create(BigInt(f.slice(0, -5)), fromJson<SessionRules>(readFileSync(join(dir, f), 'utf8')));
    }
  }

  #write(seid: bigint): void {
    const rules = this.get(seid);
    const file = join(this.dir, `${seid}.json`);
    if (!rules) {
      rmSync(file, { force: true });
      return;
    }
    writeFileSync(`${file}.tmp`, toJson(rules));
    renameSync(`${file}.tmp`, file);
  }

  override create(seid: bigint, rules: SessionRules): void {
    super.create(seid, rules);
    this.#write(seid);
  }

  override modify(seid: bigint, change: SessionModification): void {
    super.modify(seid, change);
    this.#write(seid);
  }

  override delete(seid: bigint): Usage[] {
    const usage = super.delete(seid);
    this.#write(seid);
    return usage;
  }
}

/** What a killed process left: every session's rules as last written. */
export function readSessionFiles(dir: string): Map<bigint, SessionRules> {
  const out = new Map<bigint, SessionRules>();
  for (const f of readdirSync(dir)) if (f.endsWith('.json')) out.set(BigInt(f.slice(0, -5)), fromJson<SessionRules>(readFileSync(join(dir, f), 'utf8')));
  return out;
}
