// The UPF throughput chart, in the shape of the Fastlane paper's UPF figure: one panel per
// direction, bars grouped by inner frame size, one bar per backend for the UPF with Fastlane
// macswap (paler) beside it for reference. Plain SVG, no dependencies.
//
//   npx tsx benches/upf/chart.ts [benches/upf-results.json] [benches/upf-throughput.svg]
//
// benches/upf.ts --write writes both files; this regenerates the chart from the JSON.

import * as fs from 'node:fs';
import * as path from 'node:path';

export interface UpfResultRow {
  backend: string;
  direction: 'uplink' | 'downlink';
  /** Inner frame, bytes with FCS. */
  size: number;
  upfMpps?: number;
  macswapMpps?: number;
}

export interface UpfResults {
  ues: number;
  /** Under the chart: how the figures were taken (the machine's load, say). */
  note?: string;
  rows: UpfResultRow[];
}

const COLORS: Record<string, string> = { af_xdp: '#1f77b4', dpdk: '#d62728', af_packet: '#2ca02c' };
const PANEL_W = 420;
const PANEL_H = 300;
const MARGIN = { left: 56, right: 16, top: 48, bottom: 44 };
const BAR_W = 22;
const GROUP_GAP = 36;

/** A step of 1, 2 or 5 times a power of ten that splits `max` into about five ticks. */
function tickStep(max: number): number {
  const raw = max / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
}

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export function throughputSvg(results: UpfResults): string {
  const backends = [...new Set(results.rows.map((r) => r.backend))];
  const sizes = [...new Set(results.rows.map((r) => r.size))].sort((a, b) => a - b);
  const directions = (['uplink', 'downlink'] as const).filter((d) => results.rows.some((r) => r.direction === d));
  const values = results.rows.flatMap((r) => [r.upfMpps ?? 0, r.macswapMpps ?? 0]);
  const step = tickStep(Math.max(0.1, ...values));
  const top = Math.ceil(Math.max(0.1, ...values) / step) * step;
  const plotH = PANEL_H - MARGIN.top - MARGIN.bottom;
  const groupW = backends.length * 2 * BAR_W + 2;
  const plotW = sizes.length * groupW + (sizes.length + 1) * GROUP_GAP;
  const panelW = Math.max(PANEL_W, MARGIN.left + plotW + MARGIN.right);
  const width = panelW * directions.length;
  const legendH = results.note === undefined ? 28 : 46;
  const height = PANEL_H + legendH;
  const y = (v: number) => MARGIN.top + plotH * (1 - v / top);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
  ];
  directions.forEach((direction, p) => {
    const x0 = p * panelW + MARGIN.left;
    out.push(
      `<text x="${x0 + plotW / 2}" y="20" text-anchor="middle" font-size="13" font-weight="bold">` +
        `${direction === 'uplink' ? 'Uplink (N3 → N6)' : 'Downlink (N6 → N3)'}, ${results.ues.toLocaleString('en')} UEs, 1 core</text>`,
    );
    for (let v = 0; v <= top + 1e-9; v += step) {
      out.push(`<line x1="${x0}" x2="${x0 + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
      out.push(`<text x="${x0 - 6}" y="${y(v) + 4}" text-anchor="end">${Number(v.toFixed(3))}</text>`);
    }
    out.push(`<line x1="${x0}" x2="${x0}" y1="${MARGIN.top}" y2="${y(0)}" stroke="black"/>`);
    out.push(`<line x1="${x0}" x2="${x0 + plotW}" y1="${y(0)}" y2="${y(0)}" stroke="black"/>`);
    out.push(`<text transform="translate(${x0 - 40} ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">Mpps</text>`);
    sizes.forEach((size, g) => {
      const gx = x0 + GROUP_GAP + g * (groupW + GROUP_GAP);
      out.push(`<text x="${gx + groupW / 2}" y="${y(0) + 16}" text-anchor="middle">${size} B</text>`);
      backends.forEach((backend, b) => {
        const row = results.rows.find((r) => r.backend === backend && r.direction === direction && r.size === size);
        const color = COLORS[backend] ?? '#777';
        const bars: Array<[number | undefined, boolean]> = [
          [row?.upfMpps, true],
          [row?.macswapMpps, false],
        ];
        bars.forEach(([value, solid], i) => {
          if (value === undefined) {
            return;
          }
          const bx = gx + (2 * b + i) * BAR_W;
          const fill = solid ? `fill="${color}"` : `fill="${color}" fill-opacity="0.3" stroke="${color}"`;
          out.push(`<rect x="${bx + 1}" y="${y(value)}" width="${BAR_W - 2}" height="${y(0) - y(value)}" ${fill}/>`);
          out.push(`<text x="${bx + BAR_W / 2}" y="${y(value) - 3}" text-anchor="middle" font-size="9">${value.toFixed(2)}</text>`);
        });
      });
    });
    out.push(`<text x="${x0 + plotW / 2}" y="${y(0) + 32}" text-anchor="middle">inner frame size</text>`);
  });
  let lx = MARGIN.left;
  const ly = PANEL_H + 8;
  for (const backend of backends) {
    const color = COLORS[backend] ?? '#777';
    out.push(`<rect x="${lx}" y="${ly}" width="12" height="12" fill="${color}"/>`);
    out.push(`<text x="${lx + 16}" y="${ly + 10}">UPF ${escape(backend)}</text>`);
    lx += 100;
    out.push(`<rect x="${lx}" y="${ly}" width="12" height="12" fill="${color}" fill-opacity="0.3" stroke="${color}"/>`);
    out.push(`<text x="${lx + 16}" y="${ly + 10}">macswap ${escape(backend)}</text>`);
    lx += 130;
  }
  if (results.note !== undefined) {
    out.push(`<text x="${MARGIN.left}" y="${ly + 30}" fill="#555">${escape(results.note)}</text>`);
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

export function writeChart(results: UpfResults, file: string): void {
  fs.writeFileSync(file, throughputSvg(results));
}

if (require.main === module) {
  const benches = path.join(__dirname, '..');
  const input = process.argv[2] ?? path.join(benches, 'upf-results.json');
  const output = process.argv[3] ?? path.join(benches, 'upf-throughput.svg');
  writeChart(JSON.parse(fs.readFileSync(input, 'utf8')) as UpfResults, output);
  console.log(`wrote ${output}`);
}
