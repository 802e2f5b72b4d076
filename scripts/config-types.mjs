// Writes the TypeScript config types from the config's JSON Schema: node scripts/config-types.mjs
// SCHEMA OUT. Run by scripts/generate.
import * as fs from 'node:fs';
import { compile } from 'json-schema-to-typescript';

const [schemaFile, outFile] = process.argv.slice(2);
const schema = JSON.parse(fs.readFileSync(schemaFile, 'utf8'));

// A non-empty array stays an array in TypeScript (a builder fills it after creating it); only
// fixed-length arrays, such as an l2fwd pair, become tuples. A default beside a `$ref` (which the
// types do not show) goes, so that a definition referenced with and without one (FilterConfig:
// the top-level filter and a port's) stays one type.
(function loosen(node) {
  if (Array.isArray(node)) {
    node.forEach(loosen);
  } else if (typeof node === 'object' && node !== null) {
    if (node.type === 'array' && node.minItems !== undefined && node.maxItems !== node.minItems) {
      delete node.minItems;
    }
    if (node.$ref !== undefined) {
      delete node.default;
    }
    Object.values(node).forEach(loosen);
  }
})(schema);

const ts = await compile(schema, 'FastlaneConfig', {
  bannerComment: `// Generated from ${schemaFile} by \`npm run generate\`; do not edit.`,
  unknownAny: true,
  additionalProperties: false,
  style: { singleQuote: true, printWidth: 100 },
});
fs.writeFileSync(outFile, ts);
