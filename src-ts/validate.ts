// Config validation: the JSON Schema first (shape, types, ranges), then, for a document that has
// the right shape, the native checks that need the machine or cross-references (cores that exist,
// powers of two, duplicate queues, l2fwd ports). Every error is named by its JSON Pointer.

import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv2020, { type AnySchema, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import ajvErrors from 'ajv-errors';

import type { FastlaneConfig } from './config';
import { native, type ConfigIssue } from './native';

export type { ConfigIssue };

/** Where the schema ships: `config/` at the package root, one level above src-ts/ and dist/. */
export const SCHEMA_PATH = path.join(__dirname, '..', 'config', 'fastlane.schema.json');

/** A config that failed validation; lists every error. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  /** The code the addon's config errors carry too. */
  readonly code = 'ERR_FASTLANE_CONFIG';

  constructor(
    readonly issues: ConfigIssue[],
    /** The file the config came from, when it came from one. */
    readonly source?: string,
  ) {
    super(
      `invalid config${source === undefined ? '' : ` ${source}`}:\n` +
        issues.map((i) => `  ${i.path || '/'}: ${i.message}`).join('\n'),
    );
  }
}

interface SchemaChecker {
  ajv: Ajv2020;
  /** The compiled validator of each schema file asked for. */
  validators: Map<string, ValidateFunction>;
  /**
   * `ID#POINTER` of every subschema object of every schema added, for looking a failed oneOf's
   * branches up by key and resolving a `$ref` against the document it is in.
   */
  pointers: WeakMap<object, string>;
}

let checker: SchemaChecker | undefined;

function schemaChecker(): SchemaChecker {
  if (checker === undefined) {
    // verbose: errors carry the failing value and schema, which the messages below quote.
    // discriminator: a processor object is checked against the one branch its `type` names, so
    // its errors are that branch's alone.
    // ajv-errors: the schema's `errorMessage`s replace ajv's wording where the schema has one.
    const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: true, discriminator: true });
    ajvErrors(ajv);
    checker = { ajv, validators: new Map(), pointers: new WeakMap() };
    // The framework's schema is always there: other schemas (an application's) refer into it.
    addSchema(checker, SCHEMA_PATH);
  }
  return checker;
}

/** Adds the schema in `file` (with `$id`) to the checker and compiles it, once. */
function addSchema(c: SchemaChecker, file: string): ValidateFunction {
  let validate = c.validators.get(file);
  if (validate === undefined) {
    const schema = JSON.parse(fs.readFileSync(file, 'utf8')) as { $id: string };
    const walk = (node: unknown, pointer: string): void => {
      if (typeof node === 'object' && node !== null) {
        c.pointers.set(node, `${schema.$id}#${pointer}`);
        for (const [key, child] of Object.entries(node)) {
          walk(child, `${pointer}/${escapePointer(key)}`);
        }
      }
    };
    walk(schema, '');
    c.ajv.addSchema(schema);
    validate = c.ajv.getSchema(schema.$id);
    if (validate === undefined) {
      throw new Error(`schema ${file} did not compile`);
    }
    c.validators.set(file, validate);
  }
  return validate;
}

/**
 * Every schema error in `config`, one clear message per path; empty when the shape is right.
 * `schemaFile` is the framework's schema unless given (an application's config schema that
 * refers into it, such as the UPF's).
 */
export function schemaIssues(config: unknown, schemaFile: string = SCHEMA_PATH): ConfigIssue[] {
  const c = schemaChecker();
  const validate = addSchema(c, schemaFile);
  return validate(config) ? [] : explain(validate.errors ?? [], '');
}

/** Every error in `config`: the schema's, or when the shape is right, the native checks'. */
export function validateConfig(config: unknown): ConfigIssue[] {
  const issues = schemaIssues(config);
  if (issues.length > 0) {
    return issues;
  }
  return native('checkConfig')(JSON.stringify(config));
}

/** Throws a ConfigError listing every error unless `config` is valid. */
export function assertValidConfig(config: unknown, source?: string): asserts config is FastlaneConfig {
  const issues = validateConfig(config);
  if (issues.length > 0) {
    throw new ConfigError(issues, source);
  }
}

/** Parses and validates a config document; throws ConfigError (invalid JSON included). */
export function parseConfig(text: string, source?: string): FastlaneConfig {
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (e) {
    throw new ConfigError([{ path: '', message: `invalid JSON: ${(e as Error).message}` }], source);
  }
  assertValidConfig(config, source);
  return config;
}

/** Reads, parses and validates a config file; throws ConfigError, or the read error. */
export function loadConfigFile(file: string): FastlaneConfig {
  return parseConfig(fs.readFileSync(file, 'utf8'), file);
}

interface Placed {
  /** Index of the first ajv error behind this issue: keeps the document's order. */
  order: number;
  issue: ConfigIssue;
}

/** Keywords whose failure reports every branch's errors besides its own (`anyOf`: a Rust untagged enum). */
const ALTERNATIVES = new Set(['anyOf', 'oneOf']);

/** Turns ajv errors (paths relative to `base`) into issues, collapsing anyOf noise. */
function explain(errors: ErrorObject[], base: string): ConfigIssue[] {
  const placed: Placed[] = [];
  // A failed anyOf also reports every branch's errors at and below its path; the schema's anyOfs
  // (PortMatch, ProcessorSpec) are the whole definition at their location, so everything there
  // belongs to the anyOf and is replaced by one explanation.
  const alternativePaths: string[] = [];
  for (const e of errors) {
    if (ALTERNATIVES.has(e.keyword) && !alternativePaths.some((p) => within(e.instancePath, p))) {
      alternativePaths.push(e.instancePath);
      const order = errors.findIndex((o) => within(o.instancePath, e.instancePath));
      for (const issue of explainAlternatives(e, base)) {
        placed.push({ order, issue });
      }
    }
  }
  errors.forEach((e, order) => {
    if (alternativePaths.some((p) => within(e.instancePath, p))) {
      return;
    }
    placed.push({ order, issue: describe(e, base) });
  });
  placed.sort((a, b) => a.order - b.order);
  const seen = new Set<string>();
  return placed
    .map((p) => p.issue)
    .filter((i) => {
      const key = `${i.path}\0${i.message}`;
      return seen.has(key) ? false : (seen.add(key), true);
    });
}

/**
 * Explains a failed anyOf (or oneOf): a branch the value has the right kind for (its errors are
 * not a type or enum mismatch of the value itself) is the one the author meant, so its errors are
 * reported; when no branch fits, one message lists what the value may be.
 */
function explainAlternatives(e: ErrorObject, base: string): ConfigIssue[] {
  const { ajv, pointers } = schemaChecker();
  const branches = e.schema as AnySchema[];
  const at = base + e.instancePath;
  // ajv's schemaPath is relative to the $defs entry it compiled separately; the parent schema is
  // the very object from the document, so its pointer names each branch absolutely.
  const parent = e.parentSchema === undefined ? undefined : pointers.get(e.parentSchema);
  let best: ErrorObject[] | undefined;
  let passing = 0;
  branches.forEach((_, i) => {
    const branch =
      parent === undefined ? undefined : ajv.getSchema(`${parent}/${e.keyword}/${i}`);
    if (branch === undefined) {
      return;
    }
    if (branch(e.data)) {
      passing += 1;
      return;
    }
    const errs = branch.errors ?? [];
    const wrongKind = errs.some(
      (b) => b.instancePath === '' && ['type', 'enum', 'const'].includes(b.keyword),
    );
    if (!wrongKind && (best === undefined || errs.length < best.length)) {
      best = errs;
    }
  });
  if (passing > 1) {
    return [{ path: at, message: `matches ${passing} alternatives where exactly one is allowed` }];
  }
  if (best !== undefined) {
    return explain(best, at);
  }
  const kinds = branches.map((b) => kindOf(b));
  return [{ path: at, message: `expected ${alternatives(kinds)}, got ${show(e.data)}` }];
}

/** What a schema accepts, in words: `one of "a", "b"`, `an integer`. */
function kindOf(schema: AnySchema): string {
  if (typeof schema !== 'object') {
    return schema ? 'anything' : 'nothing';
  }
  if (typeof schema.$ref === 'string') {
    const { ajv, pointers } = schemaChecker();
    // A reference is relative to the document it is written in.
    const base = pointers.get(schema) ?? '';
    const target = ajv.getSchema(new URL(schema.$ref, base).href);
    return target === undefined ? 'a valid value' : kindOf(target.schema as AnySchema);
  }
  if (Array.isArray(schema.enum)) {
    return `one of ${(schema.enum as unknown[]).map(show).join(', ')}`;
  }
  if ('const' in schema) {
    return show(schema.const);
  }
  if (typeof schema.type === 'string') {
    return article(schema.type);
  }
  return 'a valid value';
}

function alternatives(kinds: string[]): string {
  return kinds.length <= 1 ? (kinds[0] ?? 'nothing') : `${kinds.slice(0, -1).join(', ')} or ${kinds.at(-1)}`;
}

function describe(e: ErrorObject, base: string): ConfigIssue {
  const at = base + e.instancePath;
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(p.additionalProperty);
      const known = Object.keys((e.parentSchema?.properties as object | undefined) ?? {});
      return {
        path: `${at}/${escapePointer(key)}`,
        message: `unknown key ${show(key)}` + (known.length > 0 ? ` (known: ${known.join(', ')})` : ''),
      };
    }
    case 'discriminator': {
      // ajv found no branch for the value's tag (`type`): missing, not a string, or unknown.
      const tag = String(p.tag);
      if (p.tagValue === undefined) {
        return { path: at, message: `missing required key ${show(tag)}` };
      }
      const branches = (e.parentSchema?.oneOf as { properties?: Record<string, { const?: unknown }> }[]) ?? [];
      const tags = branches.map((b) => show(b.properties?.[tag]?.const));
      return { path: `${at}/${escapePointer(tag)}`, message: `expected ${alternatives(tags)}, got ${show(p.tagValue)}` };
    }
    case 'required':
      return { path: at, message: `missing required key ${show(p.missingProperty)}` };
    case 'type':
      return { path: at, message: `expected ${article(String(p.type))}, got ${show(e.data)}` };
    case 'enum': {
      const allowed = (p.allowedValues as unknown[]).map(show);
      const expected = allowed.length === 1 ? allowed[0] : `one of ${allowed.join(', ')}`;
      return { path: at, message: `expected ${expected}, got ${show(e.data)}` };
    }
    case 'const':
      return { path: at, message: `expected ${show(p.allowedValue)}, got ${show(e.data)}` };
    case 'minimum':
      return { path: at, message: `${show(e.data)} is below the minimum ${String(p.limit)}` };
    case 'maximum':
      return { path: at, message: `${show(e.data)} is above the maximum ${String(p.limit)}` };
    case 'minItems':
      return { path: at, message: `needs at least ${String(p.limit)} item(s)` };
    case 'maxItems':
      return { path: at, message: `takes at most ${String(p.limit)} item(s)` };
    case 'minLength':
      return { path: at, message: `needs at least ${String(p.limit)} character(s)` };
    case 'maxLength':
      return { path: at, message: `${show(e.data)} is longer than ${String(p.limit)} characters` };
    default:
      return { path: at, message: e.message ?? `fails ${e.keyword}` };
  }
}

/** True when pointer `p` is `parent` or lies below it. */
function within(p: string, parent: string): boolean {
  return p === parent || p.startsWith(`${parent}/`);
}

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function show(value: unknown): string {
  if (value === null) {
    return 'null';
  }
  if (Array.isArray(value)) {
    return 'an array';
  }
  if (typeof value === 'object') {
    return 'an object';
  }
  return JSON.stringify(value) ?? String(value);
}
