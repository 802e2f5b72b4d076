// Writes the `js` stage's arena constants for TypeScript from the built addon's arenaLayout()
// (crates/fastlane-node/src/batch.rs defines them): node scripts/arena-constants.mjs OUT. Run by
// scripts/generate, after `npm run build:native`. Plain constants, so that the per-packet reads of
// src-ts/batch.ts compile to what hand-written literals would.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';

const addon = createRequire(import.meta.url)('../index.js');
const [outFile] = process.argv.slice(2);
const constName = (key) => key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();

const lines = [
  '// Generated from the addon\'s arenaLayout() (crates/fastlane-node/src/batch.rs) by `npm run generate`;',
  '// do not edit.',
  '',
];
for (const [key, value] of Object.entries(addon.arenaLayout())) {
  lines.push(`export const ${constName(key)} = ${value};`);
}
fs.writeFileSync(outFile, `${lines.join('\n')}\n`);
