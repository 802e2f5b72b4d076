// Structured logs: one JSON object per line ({"time", "level", "msg", ...fields}), so that an
// operator's collector can index peer, SEID and cause without parsing prose.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, string | number | boolean | bigint | undefined>;

export interface Logger {
  log(level: LogLevel, msg: string, fields?: LogFields): void;
}

/** Writes JSON lines of `level` and above to `out` (default stderr); bigints as decimal text. */
export function jsonLogger(out: { write(line: string): unknown } = process.stderr, level: LogLevel = 'info'): Logger {
  const min = rank[level];
  return {
    log(l, msg, fields = {}) {
      if (rank[l] < min) return;
      const entry: Record<string, unknown> = { time: new Date().toISOString(), level: l, msg };
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) entry[k] = typeof v === 'bigint' ? v.toString() : v;
      out.write(`${JSON.stringify(entry)}\n`);
    },
  };
}
