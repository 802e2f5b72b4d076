// Writes the TypeScript types of a config's JSON Schema: node scripts/config-types.mjs SCHEMA OUT
// [ROOT_TYPE [IMPORT_FROM]]. Run by scripts/generate: the framework's config
// (config/fastlane.schema.json), and the UPF's (config/upf.schema.json), whose references into
// the framework's schema become the framework's own exported types, imported from IMPORT_FROM,
// so each type has one definition.
import * as fs from 'node:fs';
import { compile } from 'json-schema-to-typescript';

const [schemaFile, outFile, rootType = 'FastlaneConfig', importFrom = 'fastlane-dataplane'] = process.argv.slice(2);
const schema = JSON.parse(fs.readFileSync(schemaFile, 'utf8'));

/** `fastlane.schema.json#/$defs/A/properties/b` → `A['b']`; `#/properties/b` of the root → FastlaneConfig's. */
const FRAMEWORK_REF = /^fastlane\.schema\.json#\/(?:\$defs\/(\w+)|properties\/(\w+))(?:\/properties\/(\w+))?$/;
const imported = new Set();

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
      const framework = FRAMEWORK_REF.exec(node.$ref);
      if (framework !== null) {
        const [, definition, rootProperty, property] = framework;
        const owner = definition ?? 'FastlaneConfig';
        imported.add(owner);
        const key = rootProperty ?? property;
        node.tsType = key === undefined ? owner : `NonNullable<${owner}['${key}']>`;
        delete node.$ref;
      }
    }
    Object.values(node).forEach(loosen);
  }
})(schema);

const importLine =
  imported.size === 0 ? '' : `\nimport type { ${[...imported].sort().join(', ')} } from '${importFrom}';\n`;
const ts = await compile(schema, rootType, {
  bannerComment: `// Generated from ${schemaFile} by \`npm run generate\`; do not edit.${importLine}`,
  unknownAny: true,
  additionalProperties: false,
  style: { singleQuote: true, printWidth: 100 },
});
fs.writeFileSync(outFile, ts);
