// The UPF's size, as the Fastlane paper reports its port (311 lines of GTP processing changed, 472
// of the slow path): lines of the fast path, of the slow path, and of the glue to Fastlane.
//
//   npx tsx benches/upf-size.ts [--write]
//
// Rule: every tracked file under apps/upf/ (git ls-files) that is Rust or TypeScript source,
// minus tests (test/, tests/, fuzz/, benches/, examples/ directories, *.test.ts, Rust `#[cfg(test)]`
// items) and generated files (generated/ directories, dist/); a line counts when it holds code,
// not when it is blank or only comment. Each file is put in the first category whose pattern
// matches its path (CATEGORIES below), except that in Rust the items that plug the UPF into
// Fastlane — `impl Plugin for …` / `impl Processor for …` blocks and `export!` — count as glue
// wherever they are. A file no pattern matches is listed as unclassified, so that none goes
// uncounted unseen. The framework code written for the UPF but usable by any application
// (per-port filters, prefix matches, punt TAPs, the neighbour watcher, processors' own frames)
// lives outside apps/upf and is not counted. `--write` replaces the upf-size section of
// benches/RESULTS.md.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ROOT, parseOptions, reportSection } from './forwarders';

const GLUE = 'glue to Fastlane';

/**
 * First match wins. Glue: what ties the UPF to Fastlane's surfaces (the application that derives
 * the Fastlane config, starts the data plane with the plugin and wires the next hops; the CLI
 * command) rather than doing UPF work.
 */
const CATEGORIES: Array<[category: string, pattern: RegExp]> = [
  [GLUE, /^apps\/upf\/src\/(app|cli|config|wiring)\.ts$/],
  ['fast path (GTP-U plugin)', /^apps\/upf\/fastpath\/src\/.*\.rs$/],
  ['session tables in shared memory (records, reader, writer)', /^apps\/upf\/rules\/src\//],
  ['slow path: PFCP (codec and node)', /^apps\/upf\/src\/(pfcp|node)\/.*\.ts$/],
  ['slow path: sessions, next hops', /^apps\/upf\/src\/.*\.ts$/],
];

const EXCLUDED = /(^|\/)(test|tests|fuzz|benches|examples|generated|dist|node_modules|target)\/|\.test\.ts$|\.d\.ts$/;
/** Rust items that plug into Fastlane: their lines are glue (the item runs until its braces balance). */
const GLUE_ITEM = /^(impl(<[^>]*>)? (fastlane_plugin::|fastlane_core::)?(Plugin|Processor) for |(fastlane_plugin::)?export!\()/;

/**
 * Lines of code in `text` (neither blank nor only comment), and how many of them are glue items;
 * for Rust without `#[cfg(test)]` items. Items are delimited by counting braces, which string
 * literals holding unbalanced braces would upset (none do here).
 */
export function codeLines(text: string, rust: boolean): { code: number; glue: number } {
  let code = 0;
  let glue = 0;
  let inBlock = false;
  let depth = 0;
  /** While inside an item: what it is, and the depth it ends at. */
  let item: { kind: 'test' | 'glue'; depth: number } | undefined;
  let pendingTest = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (rust && item === undefined && line === '#[cfg(test)]') {
      pendingTest = true;
      continue;
    }
    let counted = false;
    if (inBlock) {
      if (line.includes('*/')) {
        inBlock = false;
        counted = line.slice(line.indexOf('*/') + 2).trim() !== '';
      }
    } else if (line === '' || line.startsWith('//')) {
      counted = false;
    } else if (line.startsWith('/*')) {
      inBlock = !line.includes('*/');
      counted = !inBlock && line.slice(line.indexOf('*/') + 2).trim() !== '';
    } else {
      counted = true;
    }
    const code_ = inBlock || line.startsWith('//') ? '' : line;
    const opens = (code_.match(/\{/g) ?? []).length;
    const closes = (code_.match(/\}/g) ?? []).length;
    if (rust && item === undefined && (pendingTest || GLUE_ITEM.test(line))) {
      const kind = pendingTest ? 'test' : 'glue';
      pendingTest = false;
      if (opens > closes) {
        item = { kind, depth };
      } else if (kind === 'glue' && counted) {
        // A one-line glue item (export!(…);).
        glue++;
        code++;
        continue;
      } else if (kind === 'test') {
        // A one-line test-only item (`use …;`, `mod tests;`).
        depth += opens - closes;
        continue;
      }
    }
    depth += opens - closes;
    if (item?.kind === 'test') {
      if (depth <= item.depth) {
        item = undefined;
      }
      continue;
    }
    if (counted) {
      code++;
      if (item?.kind === 'glue') {
        glue++;
      }
    }
    if (item !== undefined && depth <= item.depth) {
      item = undefined;
    }
  }
  return { code, glue };
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
    const { code, glue } = codeLines(fs.readFileSync(path.join(ROOT, file), 'utf8'), file.endsWith('.rs'));
    row.files++;
    row.lines += code - glue;
    rows.set(k, row);
    if (glue > 0) {
      const g = `${GLUE}\0${directory}`;
      const glueRow = rows.get(g) ?? { category: GLUE, directory, files: 0, lines: 0 };
      glueRow.files++;
      glueRow.lines += glue;
      rows.set(g, glueRow);
    }
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
