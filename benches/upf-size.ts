// The UPF's size, as the Fastlane paper reports its port (311 lines of GTP processing changed, 472
// of the slow path): lines of the fast path, of the slow path, and of the glue to Fastlane.
//
//   npx tsx benches/upf-size.ts [--write]
//
// Rule: every tracked file under apps/upf/ (git ls-files) that is Rust or TypeScript source,
// minus tests (test/, tests/, fuzz/, benches/ directories, *.test.ts, Rust `#[cfg(test)]` items)
// and generated files (generated/ directories, dist/); a line counts when it holds code, not when
// it is blank or only comment. Each file is put in the first category whose pattern matches its
// path (CATEGORIES below); a file no pattern matches is listed as unclassified, so that none goes
// uncounted unseen. `--write` replaces the upf-size section of benches/RESULTS.md.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ROOT, parseOptions, reportSection } from './forwarders';

/** First match wins. Glue: what ties the UPF to Fastlane's surfaces rather than doing UPF work. */
const CATEGORIES: Array<[category: string, pattern: RegExp]> = [
  ['glue to Fastlane', /^apps\/upf\/fastpath\/src\/lib\.rs$/],
  ['glue to Fastlane', /^apps\/upf\/src\/(cli|run|command|dataplane)[^/]*\.ts$/],
  ['fast path', /^apps\/upf\/fastpath\/src\/.*\.rs$/],
  ['slow path: PFCP node', /^apps\/upf\/src\/pfcp\/.*\.ts$/],
  ['slow path', /^apps\/upf\/src\/.*\.ts$/],
];

const EXCLUDED = /(^|\/)(test|tests|fuzz|benches|generated|dist|node_modules|target)\/|\.test\.ts$|\.d\.ts$/;

/** Lines of code in `text`: neither blank nor only comment; for Rust without `#[cfg(test)]` items. */
export function codeLines(text: string, rust: boolean): number {
  let count = 0;
  let inBlock = false;
  let skipDepth: number | undefined;
  let depth = 0;
  let pendingTestItem = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (rust && skipDepth === undefined && line === '#[cfg(test)]') {
      pendingTestItem = true;
      continue;
    }
    const opens = (line.match(/\{/g) ?? []).length;
    const closes = (line.match(/\}/g) ?? []).length;
    if (pendingTestItem && opens > 0) {
      // The item after #[cfg(test)] runs until its braces balance.
      skipDepth = depth;
      pendingTestItem = false;
    }
    depth += opens - closes;
    if (skipDepth !== undefined) {
      if (depth <= skipDepth) {
        skipDepth = undefined;
      }
      continue;
    }
    if (pendingTestItem && line.endsWith(';')) {
      // A one-line test-only item (`use`, `mod tests;`).
      pendingTestItem = false;
      continue;
    }
    if (inBlock) {
      if (line.includes('*/')) {
        inBlock = false;
        if (line.slice(line.indexOf('*/') + 2).trim() !== '') {
          count++;
        }
      }
      continue;
    }
    if (line === '' || line.startsWith('//')) {
      continue;
    }
    if (line.startsWith('/*')) {
      if (!line.includes('*/')) {
        inBlock = true;
      } else if (line.slice(line.indexOf('*/') + 2).trim() !== '') {
        count++;
      }
      continue;
    }
    count++;
  }
  return count;
}

export interface SizeRow {
  category: string;
  directory: string;
  files: number;
  lines: number;
}

export function upfSize(): { rows: SizeRow[]; unclassified: string[] } {
  const files = execFileSync('git', ['-C', ROOT, 'ls-files', 'apps/upf'], { encoding: 'utf8' })
    .split('\n')
    .filter((f) => /\.(rs|ts)$/.test(f) && !EXCLUDED.test(f));
  const rows = new Map<string, SizeRow>();
  const unclassified: string[] = [];
  for (const file of files) {
    const category = CATEGORIES.find(([, pattern]) => pattern.test(file))?.[0];
    if (category === undefined) {
      unclassified.push(file);
      continue;
    }
    const directory = path.dirname(file);
    const k = `${category}\0${directory}`;
    const row = rows.get(k) ?? { category, directory, files: 0, lines: 0 };
    row.files++;
    row.lines += codeLines(fs.readFileSync(path.join(ROOT, file), 'utf8'), file.endsWith('.rs'));
    rows.set(k, row);
  }
  const order = [...new Set(CATEGORIES.map(([c]) => c))];
  const sorted = [...rows.values()].sort(
    (a, b) => order.indexOf(a.category) - order.indexOf(b.category) || a.directory.localeCompare(b.directory),
  );
  return { rows: sorted, unclassified };
}

function main(): void {
  const options = parseOptions(process.argv.slice(2), { write: false });
  const { rows, unclassified } = upfSize();
  const totals = new Map<string, number>();
  for (const row of rows) {
    totals.set(row.category, (totals.get(row.category) ?? 0) + row.lines);
  }
  reportSection(
    'upf-size',
    `npx tsx benches/upf-size.ts${options.write ? ' --write' : ''}`,
    [
      '| category | directory | files | lines of code |',
      '|---|---|---|---|',
      ...rows.map((r) => `| ${r.category} | \`${r.directory}\` | ${r.files} | ${r.lines} |`),
      '',
      '| category | lines of code |',
      '|---|---|',
      ...[...totals].map(([category, lines]) => `| ${category} | ${lines} |`),
      ...(unclassified.length ? ['', `Unclassified (not counted): ${unclassified.map((f) => `\`${f}\``).join(', ')}.`] : []),
    ],
    options.write,
  );
}

if (require.main === module) {
  main();
}
